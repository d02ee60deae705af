#!/bin/bash
# A/B of one longrund build against itself with --no-event-loop-answers (grpc-swift's task per
# call): two daemons side by side, the unary lifecycle (create -> 3 updates -> complete, 200 B
# payloads, `full` durability) at each concurrency in CONCS, runs interleaved, server CPU per write
# from /proc, every run gated by the disk probe.
# usage: CONCS="1 64" RUNS="1 2 3" DUR=8 Benchmarks/Scripts/compare/answers-ab.sh
set -eu
source "$(dirname "$0")/lib.sh"; ensure_client
DUR=${DUR:-8}; RUNS=${RUNS:-1 2 3}
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) longrund=$LONGRUND"
start_longrund fast; FAST_SOCK=$LR_SOCK FAST_PID=$LR_PID
start_longrund grpc --no-event-loop-answers; GRPC_SOCK=$LR_SOCK GRPC_PID=$LR_PID
for r in $RUNS; do for c in ${CONCS:-1 64}; do for n in fast grpc; do
  if [ $n = fast ]; then s=$FAST_SOCK p=$FAST_PID; else s=$GRPC_SOCK p=$GRPC_PID; fi
  d=$(disk_ok 120)
  echo "$($LG --target unix:$s --mode lr-lifecycle --updates 3 --value-size 200 --concurrency $c --duration $DUR --warmup 1 \
      --id-prefix r$r-c$c- --server-pid $p --label "$n c=$c run=$r") $d"
done; done; done
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) end"
