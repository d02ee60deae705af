#!/bin/bash
# Longrun against etcd, in the same window, with the same Python grpc.aio client (loadgen.py).
#
#   writes: etcd KV.Put (200 B values) against longrund's unary producer lifecycle (create -> 3
#           updates -> complete over longrun.v1.Producers, 200 B metadata; every RPC one durable
#           transition, `full` durability), at each concurrency in CONCS, interleaved etcd,
#           longrund, etcd, ... RUNS times; every run waits for the disk probe first.
#   reads:  etcd serializable KV.Range of one of 10k keys against longrund's GetOperation of one of
#           NOPS stored operations (answered on the event loop, and a second longrund on a copy of
#           the store with --no-event-loop-answers: through grpc-swift's task per call), against a
#           no-op Operations server on longrund's transport (longrun-load noop-server) and against
#           the same answer on bare swift-nio-http2 (longrun-load h2-floor-server: the transport's
#           floor), C callers, interleaved RUNS times.
#   ceiling: what the client leaves room for at C callers: etcd KV.Put, longrund's unary lifecycle
#           and the same lifecycle answered by the HTTP/2 floor (an empty message per call: no gRPC
#           library, no store, no flush), interleaved RUNS times, with the client in one process
#           and in each of PROCS processes (default "1 2").
#
# Server CPU per request is read from /proc for each server's pid. etcd is Debian's etcd-server
# (installed if missing), one member on loopback with a fresh data directory; every process this
# script starts is stopped when it exits, and nothing else.
#
# usage: Benchmarks/Scripts/compare/etcd.sh [writes|reads|ceiling|all] [OUTDIR]   (all: writes and reads)
#   then Benchmarks/Scripts/compare/summarize.py OUTDIR/*.txt
# needs: swift build -c release --product longrund; (cd Benchmarks && swift build -c release --product longrun-load)
# env:   RUNS="1 2 3" DUR=10 (seconds a run) CONCS="1 16 64" C=64 NOPS=100000 LONGRUND=... LOADTOOL=...
#        LR_ARGS="..." (flags for every longrund started, e.g. "--durability relaxed
#        --sync-interval 1s": the same runs without a flush on the commit's path)
#        WARM=3 (seconds each server is written, 16 callers, before the runs of writes and ceiling:
#        a new store's first seconds are its growth; 30 measures stores past it)
#        LONGRUN_BENCH_TMP (scratch; default /tmp/longrun-bench)
set -eu
source "$(dirname "$0")/lib.sh"
WHAT=${1:-all}; OUT=${2:-$P/out}; mkdir -p "$OUT"
case "$WHAT" in writes|reads|ceiling|all) ;; *) echo "usage: $0 [writes|reads|ceiling|all] [OUTDIR]" >&2; exit 64;; esac
for b in "$LONGRUND" "$LOADTOOL"; do
  [ -x "$b" ] || { echo "missing $b: build it first (see the usage at the top of $0)" >&2; exit 1; }
done
ensure_etcd; ensure_client
CONCS=${CONCS:-1 16 64}; C=${C:-64}; NOPS=${NOPS:-100000}; DUR=${DUR:-10}; RUNS=${RUNS:-1 2 3}; PROCS=${PROCS:-1 2}; WARM=${WARM:-3}

writes() {
  stamp "writes: $(etcd --version | head -1); longrund $LONGRUND"
  start_etcd w 23890 23900; local ep=$ETCD_EP epid=$ETCD_PID
  start_longrund w; local ls=$LR_SOCK lpid=$LR_PID
  echo "# etcd pid=$epid; longrund pid=$lpid socket=$ls (settings: ${LR_ARGS:-the defaults, durability full})"
  $LG --target "$ep" --mode etcd-put --concurrency 16 --duration "$WARM" --warmup 0 --label warm >/dev/null
  $LG --target "unix:$ls" --mode lr-lifecycle --concurrency 16 --duration "$WARM" --warmup 0 --label warm >/dev/null
  local c r d
  for c in $CONCS; do for r in $RUNS; do
    d=$(disk_ok); echo "$($LG --target "$ep" --mode etcd-put --value-size 200 --concurrency "$c" --duration "$DUR" \
        --server-pid "$epid" --disk-dir "$CMP/etcd-w" --label "etcd-put c=$c run=$r") $d"
    d=$(disk_ok); echo "$($LG --target "unix:$ls" --mode lr-lifecycle --updates 3 --value-size 200 --concurrency "$c" \
        --duration "$DUR" --server-pid "$lpid" --disk-dir "$LR_DATA" --label "longrun-unary-write c=$c run=$r") $d"
  done; done
  echo "# data: longrund $(du -sh "$LR_DATA" | cut -f1), etcd $(du -sh "$CMP/etcd-w" | cut -f1)"
  stop_pid "$lpid"; stop_pid "$epid"
  stamp "writes end"
}

reads() {
  stamp "reads: $(etcd --version | head -1); longrund $LONGRUND"
  start_etcd r 23891 23901; local ep=$ETCD_EP epid=$ETCD_PID
  $LG --target "$ep" --mode etcd-put --keys 10000 --value-size 200 --concurrency 64 --duration 60 --max-requests 12000 \
      --warmup 0 --label fill >/dev/null
  start_longrund r; local ls=$LR_SOCK lpid=$LR_PID
  stamp "populating longrund with $NOPS operations $(disk_ok)"
  $LG --target "unix:$ls" --mode lr-create --id-prefix p- --value-size 200 --concurrency 64 --duration 300 --warmup 0 \
      --max-requests "$NOPS" --names-out "$CMP/lr-names.txt" --label populate | sed 's/^/# /'
  # The same store under a second daemon that serves every call through grpc-swift's tasks.
  stop_pid "$lpid"; rm -rf "$CMP/lr-t"; cp -a "$CMP/lr-r" "$CMP/lr-t"; rm -f "$CMP/lr-t/s.sock"
  LR_KEEP=1 start_longrund r; ls=$LR_SOCK; lpid=$LR_PID
  LR_KEEP=1 start_longrund t --no-event-loop-answers; local ts=$LR_SOCK tpid=$LR_PID
  local noop=$CMP/noop/s.sock; mkdir -p "$CMP/noop"; chmod 755 "$CMP/noop"
  start_unix_server noop "$noop" "$LOADTOOL" noop-server --socket "$noop"; local npid=$SRV_PID
  local gnoop=$CMP/gnoop/s.sock; mkdir -p "$CMP/gnoop"; chmod 755 "$CMP/gnoop"
  start_unix_server gnoop "$gnoop" "$LOADTOOL" noop-server --socket "$gnoop" --grpc-swift-transport; local gpid=$SRV_PID
  # The floor: the same answer straight on swift-nio-http2 (a child channel per stream), no gRPC library.
  local floor=$CMP/floor/s.sock; mkdir -p "$CMP/floor"; chmod 755 "$CMP/floor"
  start_unix_server floor "$floor" "$LOADTOOL" h2-floor-server --socket "$floor" --per-stream-channels; local fpid=$SRV_PID
  echo "# etcd pid=$epid; longrund pid=$lpid ($(wc -l < "$CMP/lr-names.txt") operations), with --no-event-loop-answers pid=$tpid; no-op pid=$npid, on grpc-swift's transport pid=$gpid; HTTP/2 floor pid=$fpid"
  $LG --target "$ep" --mode etcd-range --keys 10000 --concurrency "$C" --duration 2 --warmup 0 >/dev/null
  $LG --target "unix:$ls" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration 2 --warmup 0 >/dev/null
  $LG --target "unix:$ts" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration 2 --warmup 0 >/dev/null
  local r
  for r in $RUNS; do
    $LG --target "$ep" --mode etcd-range --keys 10000 --concurrency "$C" --duration "$DUR" --server-pid "$epid" --label "etcd-range c=$C run=$r"
    $LG --target "unix:$ls" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration "$DUR" --server-pid "$lpid" --label "longrun-get c=$C run=$r"
    $LG --target "unix:$ts" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration "$DUR" --server-pid "$tpid" --label "longrun-get-tasks c=$C run=$r"
    $LG --target "unix:$noop" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration "$DUR" --server-pid "$npid" --label "noop-get c=$C run=$r"
    $LG --target "unix:$gnoop" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration "$DUR" --server-pid "$gpid" --label "noop-grpcswift-get c=$C run=$r"
    $LG --target "unix:$floor" --mode ops-get --names-file "$CMP/lr-names.txt" --concurrency "$C" --duration "$DUR" --server-pid "$fpid" --label "h2-floor-get c=$C run=$r"
  done
  stop_pid "$fpid"; stop_pid "$gpid"; stop_pid "$npid"; stop_pid "$tpid"; stop_pid "$lpid"; stop_pid "$epid"
  stamp "reads end"
}

# The client's ceiling: how fast the same client drives a server that costs next to nothing, in the
# same window as etcd and longrund, so that a ratio target can be checked against what the machine
# leaves for the server (the client shares its cores).
ceiling() {
  stamp "ceiling: $(etcd --version | head -1); longrund $LONGRUND"
  start_etcd c 23892 23902; local ep=$ETCD_EP epid=$ETCD_PID
  start_longrund c; local ls=$LR_SOCK lpid=$LR_PID
  local floor=$CMP/floor/s.sock; mkdir -p "$CMP/floor"; chmod 755 "$CMP/floor"
  start_unix_server floor "$floor" "$LOADTOOL" h2-floor-server --socket "$floor" --per-stream-channels; local fpid=$SRV_PID
  echo "# etcd pid=$epid; longrund pid=$lpid socket=$ls; HTTP/2 floor pid=$fpid"
  $LG --target "$ep" --mode etcd-put --concurrency 16 --duration "$WARM" --warmup 0 --label warm >/dev/null
  $LG --target "unix:$ls" --mode lr-lifecycle --concurrency 16 --duration "$WARM" --warmup 0 --label warm >/dev/null
  local r p d
  for r in $RUNS; do for p in $PROCS; do
    d=$(disk_ok); echo "$($LG --target "$ep" --mode etcd-put --value-size 200 --concurrency "$C" --procs "$p" --duration "$DUR" \
        --server-pid "$epid" --label "etcd-put c=$C procs=$p run=$r") $d"
    d=$(disk_ok); echo "$($LG --target "unix:$ls" --mode lr-lifecycle --updates 3 --value-size 200 --concurrency "$C" --procs "$p" \
        --duration "$DUR" --server-pid "$lpid" --label "longrun-unary-write c=$C procs=$p run=$r") $d"
    echo "$($LG --target "unix:$floor" --mode lr-lifecycle --updates 3 --value-size 200 --concurrency "$C" --procs "$p" \
        --duration "$DUR" --server-pid "$fpid" --label "h2-floor-write c=$C procs=$p run=$r")"
  done; done
  stop_pid "$fpid"; stop_pid "$lpid"; stop_pid "$epid"
  stamp "ceiling end"
}

case "$WHAT" in
  ceiling) ceiling | tee "$OUT/ceiling.txt" ;;
  writes) writes | tee "$OUT/writes.txt" ;;
  reads) reads | tee "$OUT/reads.txt" ;;
  all) writes | tee "$OUT/writes.txt"; reads | tee "$OUT/reads.txt" ;;
esac
echo
"$PY" "$COMPARE/summarize.py" "$OUT"/*.txt
