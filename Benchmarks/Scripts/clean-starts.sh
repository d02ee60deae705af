#!/bin/bash
# Clean starts of two longrund builds on a copy of one data directory, alternated: from launch to
# the socket accepting and to the first GetOperation answered (the Python poller of
# crash-restart.sh), N starts each. The directory must have been stopped cleanly (no journal left).
# usage: A=/path/longrund B=/path/longrund DATA=/path/to/data N=8 Benchmarks/Scripts/clean-starts.sh
set -u
source "$(dirname "$0")/compare/lib.sh"; ensure_client
HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-8}; D=$(mktemp -d /tmp/longrun-starts-XXXXXX)
cp -a "$DATA" "$D/data"; sync
for r in $(seq 1 "$N"); do for label in A B; do
  if [ $label = A ]; then binary=$A; else binary=$B; fi
  rm -f "$D/ready" "$D/s.sock"
  "$PY" "$HERE/crash_restart.py" first-get "$D/s.sock" 60 "$D/ready" > "$D/first" & poller=$!
  while [ ! -f "$D/ready" ]; do sleep 0.01; done
  t0=$(date +%s.%N)
  "$binary" --data-dir "$D/data" --socket "$D/s.sock" --log-level warning > /dev/null 2>&1 & daemon=$!
  wait $poller
  read -r listening answered < "$D/first"
  awk -v b=$label -v t="$t0" -v l="$listening" -v a="$answered" 'BEGIN { printf "%s listening_ms=%.1f first_get_ms=%.1f\n", b, (l - t) * 1000, (a - t) * 1000 }'
  kill -TERM $daemon; wait $daemon
done; done
rm -rf "$D"
