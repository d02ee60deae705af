#!/bin/bash
# PostgreSQL backend (issue 11): W1 on two hosts sharing one store, against pgbench running the
# same transaction shape on the same server, and against one longrund on LMDB; then the cross-host
# wake-up latency (WaitOperation on B, CompleteOperation on A); optionally List pages on 1M stored.
#
# usage (from the repository's root, after `swift build -c release --product longrund`):
#   Benchmarks/Scripts/postgres-hosts.sh                 # results: $OUT/results.txt, summary on stdout
#   RUNS="1 2 3 4" DUR=20 Benchmarks/Scripts/postgres-hosts.sh
#   LIST_OPS=1000000 Benchmarks/Scripts/postgres-hosts.sh   # also fill to 1M and time List pages
#
# What it does, every process started by it stopped by its pid on exit:
#   1. starts its own PostgreSQL (Tools/postgres, directory $WORK/pg, port $PG_PORT: never the
#      default 54329 a teammate's tests may use), creates schema `pgb` for pgbench
#      (postgres/pgbench-setup.sql, 100k operations stored);
#   2. starts longrund A and B on that store (schema `lr`, each its own socket) and longrund L on
#      its own LMDB data directory, all release builds with --snapshot-every 0 --scrub-interval 0s;
#   3. per round (RUNS), interleaved, each write run gated by the disk probe (compare/lib.sh):
#        W1 two hosts: loadgen.py lr-lifecycle (create, 3 updates, complete; 200-byte Any), 64
#          producers = 2 client processes x 32, one per host, DUR seconds;
#        pgbench same shape: postgres/pgbench-same-shape.sql, -c 64 -j 2 -M extended, one transition
#          per transaction (head row locked, one log row, one operation upsert, head update, notify);
#        pgbench batched: postgres/pgbench-batched.sql, the same statements carrying the two-host
#          run's measured transitions per commit (rounded), -c 2 (one writer per host);
#        W1 single host on LMDB: the same loadgen run against L;
#        pgbench without the head lock: postgres/pgbench-no-head-lock.sql (what global order costs);
#   4. cross-host wake-up: cross_host_wait.py (WAKE_SAMPLES samples) idle, then under W1 load
#      (16 producers a host);
#   5. if LIST_OPS > 0: fills the PostgreSQL store to LIST_OPS operations (lr-create, 128 callers
#      over both hosts) and times List pages of 100 (loadgen.py ops-list, 1 caller, walking pages).
#
# Needs: PostgreSQL 15 (Debian postgresql; pgbench in /usr/lib/postgresql/*/bin), curl (the daemons'
# metrics); the Python venv and stubs are made on first use in $LONGRUN_BENCH_TMP (default
# /tmp/longrun-bench) by compare/lib.sh.
# Environment: LONGRUND, LONGRUN_BENCH_TMP (venv, stubs, disk probe), WORK (scratch),
# OUT (results), PG_PORT, DUR, RUNS, WAKE_SAMPLES, LIST_OPS, NOLOCK=0 to skip the no-lock pgbench.
set -eu
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LONGRUND=${LONGRUND:-$REPO/.build/release/longrund}
export LONGRUN_BENCH_TMP=${LONGRUN_BENCH_TMP:-/tmp/longrun-bench}
source "$REPO/Benchmarks/Scripts/compare/lib.sh"; ensure_client   # $P, $PY, $LG, disk_ok
WORK=${WORK:-/tmp/bench-pg-run}; OUT=${OUT:-/tmp/bench-pg-out}; PG_PORT=${PG_PORT:-55432}
DUR=${DUR:-20}; RUNS=${RUNS:-1 2 3}; WAKE_SAMPLES=${WAKE_SAMPLES:-300}; LIST_OPS=${LIST_OPS:-0}; NOLOCK=${NOLOCK:-1}
SQL=$REPO/Benchmarks/Scripts/postgres
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DB=longrun_test
STORE="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable&schema=lr"
[ -x "$LONGRUND" ] || { echo "no release longrund at $LONGRUND (swift build -c release --product longrund)" >&2; exit 1; }
[ "$PG_PORT" != 54329 ] || { echo "PG_PORT 54329 is the tests' default; pick another" >&2; exit 1; }
mkdir -p $OUT; RES=$OUT/results.txt; : > $RES
rm -rf $WORK; mkdir -p $WORK

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill $p 2>/dev/null || true; done
  sleep 1
  LONGRUN_POSTGRES_PORT=$PG_PORT $REPO/Tools/postgres stop $WORK/pg >/dev/null 2>&1 || true
}
trap cleanup EXIT
log() { echo "$@" | tee -a $RES; }
psql_q() { $PGBIN/psql -X -q -At -h 127.0.0.1 -p $PG_PORT -U postgres $DB "$@"; }

# 1. PostgreSQL (fsync on, synchronous_commit on: the server's defaults) and pgbench's schema.
LONGRUN_POSTGRES_PORT=$PG_PORT $REPO/Tools/postgres start $WORK/pg >/dev/null
psql_q -f $SQL/pgbench-setup.sql >/dev/null 2>&1

# 2. The daemons. start NAME ARGS... -> PID_NAME, SOCK_NAME, MET_NAME (metrics socket)
start() {
  local n=$1; shift
  $LONGRUND --socket $WORK/$n.sock --metrics-listen $WORK/$n.metrics --log-level warning \
    --snapshot-every 0 --snapshot-interval 0s --scrub-interval 0s "$@" > $WORK/$n.log 2>&1 &
  local pid=$!; PIDS+=($pid); eval "PID_$n=$pid SOCK_$n=$WORK/$n.sock MET_$n=$WORK/$n.metrics"
  for i in $(seq 1 300); do [ -S $WORK/$n.sock ] && return 0; sleep 0.1; done
  echo "longrund $n did not start" >&2; cat $WORK/$n.log >&2; exit 1
}
start A --store "$STORE"
start B --store "$STORE"
start L --data-dir $WORK/lmdb

# metrics NAME... -> "transitions commits commit_seconds_sum" summed over the daemons
metrics() {
  for n in "$@"; do eval "curl -s --unix-socket \$MET_$n http://localhost/metrics"; done | awk '
    /^longrun_transitions_committed_total /{t+=$2} /^longrun_commits_total /{c+=$2}
    /^longrun_commit_duration_seconds_sum /{s+=$2} END{printf "%d %d %.6f\n", t, c, s}'
}
# commit_figures "BEFORE" "AFTER" -> per-commit and mean commit time
commit_figures() {
  echo "$1 $2" | awk '{dt=$4-$1; dc=$5-$2; ds=$6-$3; if (dc>0) printf "per_commit=%.1f commit_ms=%.2f", dt/dc, ds/dc*1000; else printf "per_commit=NA"}'
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load=$(cut -d' ' -f1-3 /proc/loadavg), longrund $(git -C $REPO rev-parse --short HEAD), $($PGBIN/postgres --version)" | tee -a $RES

# Warm-up (unmeasured): every daemon, then the sizes pgbench's rows mirror.
$LG --target unix:$SOCK_A,unix:$SOCK_B --procs 2 --mode lr-lifecycle --concurrency 32 --duration 4 --warmup 0 --label warm >/dev/null
$LG --target unix:$SOCK_L --mode lr-lifecycle --concurrency 32 --duration 4 --warmup 0 --label warm >/dev/null
EB=$(psql_q -c "SELECT avg(octet_length(entry))::int FROM lr.longrun_log")
RB=$(psql_q -c "SELECT avg(octet_length(record))::int FROM lr.longrun_operations")
log "# pgbench rows mirror longrund's: log entry $EB bytes, operation record $RB bytes (averages after the warm-up)"

w1() { # label daemons...
  local label=$1; shift; local targets="" pids=""
  for n in "$@"; do eval "targets=\$targets\${targets:+,}unix:\$SOCK_$n; pids=\"\$pids --server-pid \$PID_$n\""; done
  local d; d=$(disk_ok 120); local m0; m0=$(metrics "$@")
  local line; line=$($LG --target $targets --procs 2 --mode lr-lifecycle --updates 3 --value-size 200 --concurrency 64 --duration $DUR $pids --label "$label")
  local m1; m1=$(metrics "$@"); echo "$label metrics before: $m0 after: $m1" >> $WORK/metrics.txt
  log "$line $(commit_figures "$m0" "$m1") $d"
}
pgb() { # label script [clients=64] [batch=1]: transitions/s = tps x batch
  local clients=${3:-64} batch=${4:-1}
  local d; d=$(disk_ok 120)
  psql_q -c "UPDATE pgb.longrun_head SET sequence = (SELECT coalesce(max(sequence), 0) FROM pgb.longrun_log);
             SELECT setval('pgb.log_sequence', (SELECT coalesce(max(sequence), 1) FROM pgb.longrun_log))" >/dev/null
  local b0; b0=$(head -1 /proc/stat | awk '{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}')
  local o; o=$($PGBIN/pgbench -h 127.0.0.1 -p $PG_PORT -U postgres -n -M extended -c $clients -j 2 -T $DUR \
      -D entry_bytes=$EB -D record_bytes=$RB -D batch=$batch -f $2 $DB 2>&1)
  local b1; b1=$(head -1 /proc/stat | awk '{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}')
  local tps lat fail busy
  tps=$(echo "$o" | sed -n 's/^tps = \([0-9.]*\).*/\1/p'); lat=$(echo "$o" | sed -n 's/^latency average = \([0-9.]*\).*/\1/p')
  fail=$(echo "$o" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
  busy=$(echo "$b0 $b1" | awk -v n=$(nproc) '{printf "%.2f", ($3-$1)/($4-$2)*n}')
  [ -n "$tps" ] || { echo "$o" >&2; tps=0; }
  log "$1 ops/s=$(echo "$tps * $batch" | bc | xargs printf %.0f) tps=$(printf %.0f $tps) clients=$clients lat_avg_ms=$lat failed=${fail:-?} machine_busy_cores=$busy/$(nproc) per_commit=$batch $d"
}

# 3. Interleaved rounds.
for r in $RUNS; do
  w1 "w1-pg-2hosts run=$r" A B
  pgb "pgbench-same-shape run=$r" $SQL/pgbench-same-shape.sql
  # the same statements with the two-host run's batch size, one writer a host
  B=$(grep "^w1-pg-2hosts run=$r " $RES | sed -n 's/.*per_commit=\([0-9.]*\).*/\1/p' | xargs printf %.0f); [ "${B:-0}" -ge 1 ] || B=1
  pgb "pgbench-batched run=$r" $SQL/pgbench-batched.sql 2 $B
  w1 "w1-lmdb-1host run=$r" L
  [ "$NOLOCK" = 0 ] || pgb "pgbench-no-head-lock run=$r" $SQL/pgbench-no-head-lock.sql
done

# 4. Cross-host wake-up: Wait on B, Complete on A; idle, then under load.
log "$($PY $REPO/Benchmarks/Scripts/cross_host_wait.py --a unix:$SOCK_A --b unix:$SOCK_B --samples $WAKE_SAMPLES --label 'wake-idle')"
$LG --target unix:$SOCK_A,unix:$SOCK_B --procs 2 --mode lr-lifecycle --concurrency 32 --duration $(( WAKE_SAMPLES / 5 + 20 )) --warmup 0 \
  --label "wake-background-load" > $WORK/wake-load.txt 2>&1 &
LGP=$!; PIDS+=($LGP); sleep 4
log "$($PY $REPO/Benchmarks/Scripts/cross_host_wait.py --a unix:$SOCK_A --b unix:$SOCK_B --samples $WAKE_SAMPLES --label 'wake-under-load(16/host)')"
wait $LGP || true; log "# $(cat $WORK/wake-load.txt | head -1)"

# 5. List pages of 100 on LIST_OPS operations (PostgreSQL).
if [ "$LIST_OPS" -gt 0 ]; then
  have=$(psql_q -c "SELECT count(*) FROM lr.longrun_operations")
  need=$(( LIST_OPS - have ))
  if [ $need -gt 0 ]; then
    t0=$(date +%s)
    $LG --target unix:$SOCK_A,unix:$SOCK_B --procs 2 --mode lr-create --id-prefix f- --value-size 200 --concurrency 128 \
      --duration 600 --warmup 0 --max-requests $need --label fill > $WORK/fill.txt 2>&1 || true
    log "# fill: $(head -1 $WORK/fill.txt) wall_s=$(( $(date +%s) - t0 )) stored=$(psql_q -c 'SELECT count(*) FROM lr.longrun_operations')"
  fi
  log "$($LG --target unix:$SOCK_A --mode ops-list --page-size 100 --concurrency 1 --duration $DUR --server-pid $PID_A --label "list-100-pg stored=$(psql_q -c 'SELECT count(*) FROM lr.longrun_operations')")"
  log "$($LG --target unix:$SOCK_A --mode ops-list --page-size 100 --list-filter 'done = false' --concurrency 1 --duration $DUR --server-pid $PID_A --label "list-100-pg-running")"
fi
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) end" | tee -a $RES

# Summary: per label the mean and min-max of ops/s, and the ratios of means.
echo
awk '
  /^#/ {next}
  { label=$1; v=""; for (i=2;i<=NF;i++) if ($i ~ /^ops\/s=/) { v=substr($i,7) }
    if (v=="") next; n[label]++; s[label]+=v; if (!(label in mn) || v<mn[label]) mn[label]=v; if (v>mx[label]) mx[label]=v
    vals[label]=vals[label] (vals[label]?", ":"") v
    for (i=2;i<=NF;i++) if ($i ~ /^p50_ms=/) p50[label]=p50[label] (p50[label]?", ":"") substr($i,8)
    for (i=2;i<=NF;i++) if ($i ~ /^per_commit=/) pc[label]=pc[label] (pc[label]?", ":"") substr($i,12) }
  END {
    printf "| run | transitions/s, each round | mean | min-max | p50 ms | transitions per commit |\n|---|---|---|---|---|---|\n"
    for (l in n) printf "| %s | %s | %.0f | %s-%s | %s | %s |\n", l, vals[l], s[l]/n[l], mn[l], mx[l], p50[l], pc[l]
    a="w1-pg-2hosts"; b="pgbench-same-shape"; c="w1-lmdb-1host"; d="pgbench-no-head-lock"
    if (n[a] && n[b]) printf "\nW1 two hosts / pgbench same shape (ratio of means): %.2f\n", (s[a]/n[a])/(s[b]/n[b])
    if (n[a] && n[c]) printf "W1 two hosts on PostgreSQL / W1 one host on LMDB: %.2f\n", (s[a]/n[a])/(s[c]/n[c])
    e="pgbench-batched"; if (n[a] && n[e]) printf "W1 two hosts / pgbench same statements and batch size, 2 writers: %.2f\n", (s[a]/n[a])/(s[e]/n[e])
    if (n[a] && n[d]) printf "W1 two hosts / pgbench without the head lock: %.2f\n", (s[a]/n[a])/(s[d]/n[d])
  }' $RES
grep -h '^wake\|^list' $RES || true
