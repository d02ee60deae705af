#!/bin/bash
# Log compaction while writing: each longrund build named in WHO ($BIN_DIR/longrund.<name>) serves
# the unary lifecycle (16 callers, 200 B payloads) for DUR seconds with retention on, a snapshot
# every 150,000 events and the log compacted 20 s after; prints the load line (max_ms is the
# longest stall) and the daemon's snapshot and compaction lines. Builds run one after the other.
# usage: BIN_DIR=DIR WHO="old new" DUR=150 Benchmarks/Scripts/compaction-stall.sh
set -u
source "$(dirname "$0")/compare/lib.sh"; ensure_client
BIN_DIR=${BIN_DIR:?BIN_DIR holds longrund.<name> for each name in WHO}
for who in ${WHO:?}; do
  dir=$P/compaction-$who; rm -rf "$dir"; mkdir -p "$dir"
  "$BIN_DIR/longrund.$who" --data-dir "$dir/data" --socket "$dir/s.sock" --http-socket none --log-level notice \
     --retain-succeeded 5s --compact-log-after 20s --snapshot-every 150000 --snapshot-log-ratio 0 > "$dir/log" 2>&1 &
  pid=$!; PIDS+=($pid)
  wait_for_socket "$dir/s.sock" || { cat "$dir/log"; exit 1; }
  echo "$who $($LG --target unix:$dir/s.sock --mode lr-lifecycle --updates 3 --value-size 200 --concurrency 16 \
      --duration ${DUR:-150} --warmup 1 --server-pid $pid 2>&1 | tail -1)"
  grep -E "compacted|snapshot written" "$dir/log" | sed 's/^/   /'
  kill $pid; wait $pid 2>/dev/null
done
