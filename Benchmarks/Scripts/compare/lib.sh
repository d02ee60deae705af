# Sourced by the comparison scripts in this directory. Sets up what they need on first use (a
# Python venv with the gRPC client, the stubs, the disk probe, etcd from Debian's etcd-server) and
# starts servers on loopback or private Unix sockets. Every process started here is stopped by its
# pid when the script exits (and by `timeout 1800` at the latest): nothing else is touched.
#
# The disk of the machines these figures come from has two states: normal (4 KiB write+fdatasync
# p50 ~70-120 µs) and throttled (p50 pinned at ~4 ms for minutes after heavy writing). Write runs
# call disk_ok first, which waits (bounded) for the normal state and prints the probe.
COMPARE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${REPO:-$(cd "$COMPARE/../../.." && pwd)}
P=${LONGRUN_BENCH_TMP:-/tmp/longrun-bench}; mkdir -p "$P"
PY=${PY:-$P/venv/bin/python}; GEN=$P/gen
LONGRUND=${LONGRUND:-$REPO/.build/release/longrund}
LOADTOOL=${LOADTOOL:-$REPO/Benchmarks/.build/release/longrun-load}
LG="$PY $COMPARE/loadgen.py --gen-dir $GEN"

# The client: a venv with grpcio (the same client drives every server), and stubs for etcd's KV
# subset (etcd_kv.proto) and Longrun's own API (Protos/longrun/v1). google.longrunning comes with
# googleapis-common-protos.
ensure_client() {
  if [ ! -x "$PY" ]; then
    python3 -m venv "$P/venv"
    "$P/venv/bin/pip" install -q --disable-pip-version-check grpcio grpcio-tools googleapis-common-protos
  fi
  if [ ! -f "$GEN/etcd_kv_pb2.py" ] || [ ! -d "$GEN/longrun/longrun/v1" ]; then
    local wkt; wkt=$("$PY" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
    mkdir -p "$GEN/longrun"
    "$PY" -m grpc_tools.protoc -I"$COMPARE" --python_out="$GEN" --grpc_python_out="$GEN" "$COMPARE/etcd_kv.proto"
    "$PY" -m grpc_tools.protoc -I"$REPO/Protos" -I"$wkt" --python_out="$GEN/longrun" --grpc_python_out="$GEN/longrun" \
        $(cd "$REPO/Protos" && ls longrun/v1/*.proto)
  fi
  [ -x "$P/fsync_lat" ] || cc -O2 -o "$P/fsync_lat" "$COMPARE/fsync_lat.c"
}

# etcd 3.4 from Debian's etcd-server, installed if missing (as root; otherwise say how).
ensure_etcd() {
  command -v etcd >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "etcd is not installed: sudo apt-get install -y etcd-server (or run this script as root)" >&2; exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; }
}

disk_probe() { "$P/fsync_lat" "$P/probe.dat" "${1:-200}" overwrite | sed 's/.*p50_us=\([0-9.]*\).*p99_us=\([0-9.]*\).*/\1 \2/'; }
# usage: disk_ok [MAX_WAIT_S=300]; prints "disk_p50_us=.. disk_p99_us=.." of the last probe
disk_ok() {
  local deadline=$(( $(date +%s) + ${1:-300} )) r p50 good=0
  sync
  while :; do
    r=$(disk_probe 200); p50=${r%% *}
    if [ "${p50%.*}" -lt 1000 ]; then good=$((good + 1)); else good=0; fi
    if [ $good -ge 2 ] || [ "$(date +%s)" -ge $deadline ]; then break; fi   # 2 good probes in a row
    if [ $good -eq 0 ]; then echo "  [disk throttled: probe p50=${p50}us, waiting]" >&2; sleep 10; else sleep 2; fi
  done
  echo "disk_p50_us=${r%% *} disk_p99_us=${r##* }"
}

CMP=$P/cmp; mkdir -p "$CMP"; chmod 755 "$CMP"
PIDS=()
# Waits (up to 30 s each) for what it stopped to exit: a script run again at once reuses the same
# directories, and a daemon still stopping there holds the directory's lock.
cleanup() {
  local p i
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for i in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
}
trap cleanup EXIT
child_of() { local t=$1 i c; for i in $(seq 1 100); do c=$(cat /proc/$t/task/$t/children 2>/dev/null | awk '{print $1}'); [ -n "$c" ] && { echo "$c"; return; }; sleep 0.05; done; }

# start_etcd NAME CLIENT_PORT PEER_PORT -> ETCD_PID, ETCD_EP (one member, fresh data directory)
start_etcd() {
  local d=$CMP/etcd-$1; rm -rf "$d"
  timeout 1800 etcd --name "$1" --data-dir "$d" --logger zap --log-level warn \
    --listen-client-urls "http://127.0.0.1:$2" --advertise-client-urls "http://127.0.0.1:$2" \
    --listen-peer-urls "http://127.0.0.1:$3" --initial-advertise-peer-urls "http://127.0.0.1:$3" \
    --initial-cluster "$1=http://127.0.0.1:$3" --initial-cluster-state new --initial-cluster-token "cmp-$$" \
    > "$CMP/etcd-$1.log" 2>&1 &
  ETCD_PID=$(child_of $!); [ -n "$ETCD_PID" ] || { echo "etcd did not start: $CMP/etcd-$1.log" >&2; exit 1; }
  PIDS+=("$ETCD_PID"); ETCD_EP=127.0.0.1:$2
  local i
  for i in $(seq 1 60); do
    "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$2" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "etcd is not listening on 127.0.0.1:$2: $CMP/etcd-$1.log" >&2; exit 1
}

# start_longrund NAME [extra args] -> LR_PID, LR_SOCK, LR_DATA (a fresh data directory, unless
# LR_KEEP=1: the one a previous start of NAME left). LR_ARGS (split on spaces) is added to
# every start, e.g. LR_ARGS="--durability relaxed --sync-interval 1s".
start_longrund() {
  local n=$1; shift; LR_DATA=$CMP/lr-$n/data; LR_SOCK=$CMP/lr-$n/s.sock
  local extra; read -ra extra <<< "${LR_ARGS:-}"
  [ "${LR_KEEP:-0}" = 1 ] || rm -rf "$CMP/lr-$n"
  mkdir -p "$CMP/lr-$n"; chmod 755 "$CMP/lr-$n"
  timeout 1800 "$LONGRUND" --data-dir "$LR_DATA" --socket "$LR_SOCK" --log-level warning "${extra[@]}" "$@" > "$CMP/lr-$n.log" 2>&1 &
  LR_PID=$(child_of $!); [ -n "$LR_PID" ] || { echo "longrund did not start: $CMP/lr-$n.log" >&2; exit 1; }
  PIDS+=("$LR_PID")
  wait_for_socket "$LR_SOCK" || { echo "longrund is not listening:" >&2; cat "$CMP/lr-$n.log" >&2; exit 1; }
}

# start_unix_server NAME SOCK cmd... -> SRV_PID
start_unix_server() {
  local n=$1 s=$2; shift 2; rm -f "$s"
  timeout 1800 "$@" > "$CMP/$n.log" 2>&1 &
  SRV_PID=$(child_of $!); [ -n "$SRV_PID" ] || { echo "$n did not start: $CMP/$n.log" >&2; exit 1; }
  PIDS+=("$SRV_PID")
  wait_for_socket "$s" || { echo "$n is not listening: $CMP/$n.log" >&2; exit 1; }
}

wait_for_socket() {
  local i
  for i in $(seq 1 300); do
    [ -S "$1" ] && "$PY" -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
stop_pid() { kill "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; }
stamp() { echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg) $*"; }
