#!/bin/bash
# Commit latency while a snapshot is written (issue 16: p99.9 within 2x of without): one longrund
# (snapshots only on demand) holding NOPS operations, then the unary lifecycle at 16 callers for
# DUR seconds, RUNS times each: "idle" runs, and "snapshot" runs in which `longrun snapshot` is
# asked for SNAP_AT seconds in. Runs interleaved, each gated by the disk probe.
# usage: NOPS=200000 RUNS="1 2 3" DUR=12 Benchmarks/Scripts/snapshot-stall.sh
set -u
source "$(dirname "$0")/compare/lib.sh"; ensure_client
LONGRUN=${LONGRUN:-$(dirname "$LONGRUND")/longrun}
[ -x "$LONGRUN" ] || { echo "longrun not found next to $LONGRUND (swift build -c release --product longrun)" >&2; exit 1; }
DUR=${DUR:-12}; RUNS=${RUNS:-1 2 3}; NOPS=${NOPS:-200000}; SNAP_AT=${SNAP_AT:-3}
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg)"
start_longrund snap --snapshot-log-ratio 0 --snapshot-every 0 --snapshot-interval 0s --scrub-interval 0s
$LG --target unix:$LR_SOCK --mode lr-create --id-prefix fill- --value-size 200 --concurrency 64 --duration 600 --warmup 0 \
    --max-requests $NOPS --label populate | sed 's/^/# /'
for r in $RUNS; do for kind in idle snapshot; do
  d=$(disk_ok 120)
  asker=
  if [ $kind = snapshot ]; then (sleep $SNAP_AT; "$LONGRUN" snapshot --socket $LR_SOCK > $CMP/snap-$r.txt 2>&1) & asker=$!; fi
  echo "$($LG --target unix:$LR_SOCK --mode lr-lifecycle --updates 3 --value-size 200 --concurrency 16 --duration $DUR --warmup 1 \
      --id-prefix $kind$r- --server-pid $LR_PID --label "$kind run=$r") $d"
  if [ -n "$asker" ]; then wait $asker; sed 's/^/#   /' $CMP/snap-$r.txt | head -3; fi
done; done
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) end"
