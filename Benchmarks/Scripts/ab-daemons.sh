#!/bin/bash
# A/B of two longrund builds: W1 (unary lifecycle) and W2 (GetOperation), baseline BASE against
# candidate CAND, driven by
# the same Python client (compare/loadgen.py), runs interleaved, server CPU per request
# from /proc, write runs gated by the disk probe; then the candidate's background scrub share of a core.
# usage: BASE=old/longrund CAND=new/longrund Benchmarks/Scripts/ab-daemons.sh > ab.txt
# (the venv and stubs are made on first use by compare/lib.sh; CAND_ARGS adds flags to the candidate)
set -eu
BASE=${BASE:?}; CAND=${CAND:?}; OUT=${OUT:-/tmp/cs-out}; mkdir -p $OUT
source "$(dirname "$0")/compare/lib.sh"; ensure_client
DUR=${DUR:-10}; RUNS=${RUNS:-1 2 3}; NOPS=${NOPS:-50000}
PIDS=(); cleanup() { for p in "${PIDS[@]:-}"; do kill $p 2>/dev/null || true; done; }; trap cleanup EXIT
start() { # name binary extra... -> sets PID_<name>, SOCK_<name>
  local n=$1 b=$2; shift 2; rm -rf $P/cs-$n; mkdir -p $P/cs-$n
  $b --data-dir $P/cs-$n/data --socket $P/cs-$n/s.sock --log-level warning --snapshot-every 0 --snapshot-interval 0s "$@" > $P/cs-$n.log 2>&1 &
  local pid=$!; PIDS+=($pid); eval "PID_$n=$pid"; eval "SOCK_$n=$P/cs-$n/s.sock"
  for i in $(seq 1 200); do [ -S $P/cs-$n/s.sock ] && return 0; sleep 0.1; done; echo "$n did not start" >&2; cat $P/cs-$n.log; exit 1
}
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg)"
start base $BASE; start cand $CAND ${CAND_ARGS:---scrub-interval 0s}
for n in base cand; do eval "s=\$SOCK_$n"; $LG --target unix:$s --mode lr-lifecycle --concurrency 16 --duration 3 --warmup 0 --label warm >/dev/null; done
for c in ${CONCS:-1 16}; do for r in $RUNS; do for n in base cand; do
  eval "s=\$SOCK_$n; p=\$PID_$n"; d=$(disk_ok 120)
  echo "$($LG --target unix:$s --mode lr-lifecycle --updates 3 --value-size 200 --concurrency $c --duration $DUR --server-pid $p --label "w1-$n c=$c run=$r") $d"
done; done; done
for n in base cand; do eval "s=\$SOCK_$n"
  $LG --target unix:$s --mode lr-create --id-prefix g- --value-size 200 --concurrency 64 --duration 300 --warmup 0 --max-requests $NOPS --names-out $OUT/names-$n.txt --label populate | sed 's/^/# /'
done
for r in $RUNS; do for n in base cand; do
  eval "s=\$SOCK_$n; p=\$PID_$n"
  $LG --target unix:$s --mode ops-get --names-file $OUT/names-$n.txt --concurrency 64 --duration $DUR --server-pid $p --label "w2-$n c=64 run=$r"
done; done
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) end"
# Phase 3: the background scrub's share of a core on the candidate's store, idle otherwise.
kill $PID_base $PID_cand 2>/dev/null || true; sleep 1
$CAND --data-dir $P/cs-cand/data --socket $P/cs-cand/s2.sock --log-level info --snapshot-every 0 --snapshot-interval 0s --scrub-interval 1s > $P/cs-scrub.log 2>&1 &
SP=$!; PIDS+=($SP); sleep 2
t0=$(awk '{print $14+$15}' /proc/$SP/stat); s0=$(date +%s.%N); sleep ${SCRUB_SECONDS:-150}
t1=$(awk '{print $14+$15}' /proc/$SP/stat); s1=$(date +%s.%N)
echo "scrub: cpu_share=$(echo "($t1-$t0)/$(getconf CLK_TCK)/($s1-$s0)" | bc -l | cut -c1-6) over $(echo "$s1-$s0" | bc | cut -c1-5) s; passes: $(grep -c 'integrity scrub pass finished' $P/cs-scrub.log) $(grep 'integrity scrub pass finished' $P/cs-scrub.log | tail -1 | grep -o 'records=[0-9]*')"
kill $SP
