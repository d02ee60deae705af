#!/bin/bash
# Restart after a crash (issue 16): one longrund per run takes the unary lifecycle at C callers
# and is stopped at a random instant between LOAD_S/2 and LOAD_S seconds in; then it is started
# again on the same directory and timed from launch to its socket accepting and to the first
# GetOperation answered. Kinds (KINDS), interleaved:
#   clean    SIGTERM: a clean stop (a checkpoint, the journal removed), the baseline
#   process  kill -9: the process died, the machine did not; the start applies what LMDB had not
#            committed (none or one batch) and checks the chain of the log since the last check
#   machine  kill -9, then crash_restart.py rewrites the journal's boot id and the page cache is
#            dropped: the start takes the machine-crash path (the checkpoint's meta pages written
#            back, every journal entry after it applied) from a cold cache, the binary included
#   machine-warm  the same without dropping the cache
# Dropping the page cache needs root; without it "machine" reads a warm cache (the line says).
# SETTLE=S waits S seconds (after a sync) before the restart, so that the dead daemon's dirty pages
# are not being written back while the new one starts (a machine takes longer than that to boot).
# usage: RUNS="1 2 3" LOAD_S=10 C=64 KINDS="clean process machine" SETTLE=0 Benchmarks/Scripts/crash-restart.sh
set -u
source "$(dirname "$0")/compare/lib.sh"; ensure_client
HERE=$(cd "$(dirname "$0")" && pwd)
RUNS=${RUNS:-1 2 3}; LOAD_S=${LOAD_S:-10}; C=${C:-64}; KINDS=${KINDS:-clean process machine}; SETTLE=${SETTLE:-0}
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) longrund=$LONGRUND"
for r in $RUNS; do for kind in $KINDS; do
  n=crash-$kind-$r
  start_longrund $n
  d=$(disk_ok 120)
  $LG --target unix:$LR_SOCK --mode lr-lifecycle --updates 3 --value-size 200 --concurrency $C --duration $((LOAD_S + 5)) \
      --warmup 0 --id-prefix r$r- --label load > $CMP/$n.load 2>&1 &
  loader=$!
  sleep "$(awk -v s=$RANDOM -v l=$LOAD_S 'BEGIN { printf "%.2f", 1.5 + l / 2 + (s / 32767) * l / 2 }')"
  if [ $kind = clean ]; then stop_pid $LR_PID; else kill -9 $LR_PID; fi
  wait $loader 2>/dev/null
  cache="warm"
  case $kind in machine*) "$PY" "$HERE/crash_restart.py" reboot "$LR_DATA" > /dev/null || exit 1;; esac
  if [ $kind = machine ]; then
    sync; if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cache="cold"; fi
  fi
  if [ "$SETTLE" != 0 ]; then sync; sleep "$SETTLE"; fi
  rm -f $CMP/$n.ready
  "$PY" "$HERE/crash_restart.py" first-get "$LR_SOCK" 600 $CMP/$n.ready > $CMP/$n.first & poller=$!
  while [ ! -f $CMP/$n.ready ]; do sleep 0.01; done
  t0=$(date +%s.%N)
  timeout 1800 "$LONGRUND" --data-dir "$LR_DATA" --socket "$LR_SOCK" --log-level notice > $CMP/$n.restart.log 2>&1 &
  wait $poller
  LR_PID=$(child_of $!); PIDS+=("$LR_PID")
  read -r listening answered < $CMP/$n.first
  ms=$(awk -v a="$t0" -v l="$listening" -v b="$answered" 'BEGIN { printf "listening_ms=%.1f first_get_ms=%.1f", (l - a) * 1000, (b - a) * 1000 }')
  data_mb=$(( $(stat -c %s $LR_DATA/data.mdb) >> 20 ))
  stop_pid $LR_PID
  # Read once stopped: the journal's entries may be applied after the first answer.
  applied=$(grep 'applying the journal' $CMP/$n.restart.log | grep -o 'from=[0-9]*\|through=[0-9]*' | tr '\n' ' ')
  echo "$kind run=$r $ms cache=$cache data_mb=$data_mb journal: ${applied:-nothing applied} $d"
done; done
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) end"
