#!/usr/bin/env python3
"""Bounded closed-loop gRPC load generator (grpc.aio, optional multi-process).

Targets:
  etcd-put    etcd KV.Put   (key = PREFIX<i % keys>, workers stride through the key space, so a run of
              >= --keys requests fills PREFIX0..PREFIX<keys-1>; value = --value-size random bytes)
  etcd-range  etcd KV.Range of one random key PREFIX<0..keys-1> (serializable unless --linearizable)
  ops-get     google.longrunning.Operations.GetOperation, names from --names-file,
              or collected first via ListOperations (--collect N)
  ops-list    google.longrunning.Operations.ListOperations, walks pages of --page-size
              following next_page_token, restarts at the end
  lr-lifecycle  Longrun producer API (longrun.v1.Producers), unary: each worker loops
              CreateOperation -> --updates x UpdateOperation -> CompleteOperation; every RPC is one
              durable transition (metadata/response Any of --value-size bytes). ops/s = transitions/s
  lr-create   Longrun CreateOperation only (unique ids --id-prefix<n>); with --names-out, writes the
              created names (to populate a store for ops-get)

Target: 'unix:/path/to.sock' or 'host:port' (comma-separated list => channels round-robin).
Bounded: stops at --duration seconds (<= 600) or --max-requests total, whichever first.

Prints ops/s, p50/p90/p99/p99.9/max latency, errors, and the CPU (in cores) the client
processes used during the run, so you can tell a client-bound run (client_cpu close to
--procs, or client+server close to the machine's core count).
Stubs: lib.sh's ensure_client writes them (etcd_kv.proto, Protos/longrun/v1) into
$LONGRUN_BENCH_TMP/gen (default /tmp/longrun-bench/gen); --gen-dir to change. --server-pid also gives server CPU us per request (server_cpu_us_per_op) and,
with --server-threads, the CPU (cores) of each of the server's threads grouped by thread name;
and the bytes its write calls wrote per request (server_write_bytes_per_op, page cache included).
--disk-dir DIR gives the bytes the block device holding DIR wrote per request
(disk_write_bytes_per_op: what reached the disk, write-back and journals included, from any process).
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from array import array

MAX_DURATION = 600.0


def cpu_seconds_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu_seconds(pid):
    """utime+stime of another process (e.g. the server) from /proc, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def thread_cpu(pid):
    """{tid: (comm, cpu_seconds)} for every thread of pid."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[tid] = (comm, (int(fields[11]) + int(fields[12])) / tck)
    return out


def thread_groups(before, after, secs):
    """CPU cores per thread over the window, grouped by thread name (digits collapsed to #)."""
    import re as _re
    groups = {}
    for tid, (comm, c1) in after.items():
        c0 = before.get(tid, (comm, 0.0))[1]
        key = _re.sub(r"[0-9]+", "#", comm)
        g = groups.setdefault(key, {"threads": 0, "busy_threads": 0, "cores": 0.0, "max_thread_cores": 0.0})
        d = (c1 - c0) / secs
        g["threads"] += 1
        g["busy_threads"] += 1 if d >= 0.02 else 0
        g["cores"] = round(g["cores"] + d, 3)
        g["max_thread_cores"] = round(max(g["max_thread_cores"], d), 3)
    return groups


def proc_write_bytes(pid):
    """Bytes the process's write calls wrote (wchar of /proc/PID/io), page cache included."""
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def disk_stat_path(directory):
    """/sys path of the stat file of the block device that holds directory, or None."""
    dev = os.stat(directory).st_dev
    path = f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat"
    return path if os.path.exists(path) else None


def disk_written_bytes(path):
    """Bytes the device has written since boot (sectors written, field 7, are 512 bytes each)."""
    with open(path) as f:
        return int(f.read().split()[6]) * 512


def machine_cpu():
    """(busy_ticks, total_ticks) over all CPUs from /proc/stat (busy = all but idle+iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    return total - v[3] - v[4], total


def import_stubs(gen_dir):
    sys.path.insert(0, gen_dir)
    mods = {}
    try:
        import etcd_kv_pb2, etcd_kv_pb2_grpc  # noqa: E401
        mods["etcd"] = (etcd_kv_pb2, etcd_kv_pb2_grpc)
    except ImportError:
        pass
    try:  # bundled with googleapis-common-protos
        from google.longrunning import operations_proto_pb2 as lro_pb2
        from google.longrunning import operations_pb2_grpc as lro_grpc
    except ImportError:
        raise SystemExit("google.longrunning stubs missing: pip install googleapis-common-protos")
    mods["lro"] = (lro_pb2, lro_grpc)
    try:  # longrun.v1 producer stubs (lib.sh's ensure_client -> gen/longrun)
        sys.path.insert(0, os.path.join(gen_dir, "longrun"))
        from longrun.v1 import producers_pb2, producers_pb2_grpc  # noqa: E401
        mods["longrun"] = (producers_pb2, producers_pb2_grpc)
    except ImportError:
        pass
    return mods


async def collect_names(stub, pb2, list_name, list_filter, n, page_size):
    names, token = [], ""
    while len(names) < n:
        resp = await stub.ListOperations(pb2.ListOperationsRequest(
            name=list_name, filter=list_filter, page_size=page_size, page_token=token), timeout=30)
        names.extend(op.name for op in resp.operations)
        token = resp.next_page_token
        if not token:
            break
    return names[:n]


async def run_proc(a, idx, conc, start_at, q, wbase):
    import grpc
    mods = import_stubs(a.gen_dir)
    targets = a.target.split(",")
    chans = [grpc.aio.insecure_channel(targets[(idx * a.channels + c) % len(targets)],
                                       options=[("grpc.use_local_subchannel_pool", 1)])
             for c in range(a.channels)]
    rnd = random.Random(1000 + idx)
    names = []
    if a.mode.startswith("etcd"):
        pb2, pgrpc = mods["etcd"]
        stubs = [pgrpc.KVStub(c) for c in chans]
    elif a.mode.startswith("lr-"):
        if "longrun" not in mods:
            raise SystemExit("lr-* modes: no longrun.v1 stubs under --gen-dir/longrun (lib.sh ensure_client makes them)")
        pb2, pgrpc = mods["longrun"]
        stubs = [pgrpc.ProducersStub(c) for c in chans]
        from google.protobuf import any_pb2
        lr_meta = any_pb2.Any(type_url="type.googleapis.com/load.v1.Progress", value=os.urandom(a.value_size))
        lr_result = any_pb2.Any(type_url="type.googleapis.com/load.v1.Result", value=os.urandom(a.value_size))
    else:
        pb2, pgrpc = mods["lro"]
        stubs = [pgrpc.OperationsStub(c) for c in chans]
        if a.mode == "ops-get":
            if a.names_file:
                with open(a.names_file) as f:
                    names = [l.strip() for l in f if l.strip()]
            else:
                names = await collect_names(stubs[0], pb2, a.list_name, a.list_filter, a.collect, 1000)
            if not names:
                raise SystemExit("ops-get: no operation names")
    value = os.urandom(a.value_size)
    per_worker_max = max(1, a.max_requests // max(1, a.concurrency))
    m_start = start_at + a.warmup
    deadline = m_start + a.duration
    lat = array("d")
    stats = {"ok": 0, "err": 0, "errors": {}}
    created = []

    async def worker(w):
        stub = stubs[w % len(stubs)]
        n = 0
        token = ""
        gw = wbase + w          # global worker index: puts cover keys gw, gw+C, gw+2C, ...
        key_i = gw
        step, lr_name = 0, ""   # lr-lifecycle: 0 = create, 1..updates = update, updates+1 = complete
        while n < per_worker_max:
            t = time.time()
            if t >= deadline:
                break
            if a.mode == "etcd-put":
                call = stub.Put(pb2.PutRequest(key=f"{a.prefix}{key_i % a.keys}".encode(), value=value),
                                timeout=a.timeout)
            elif a.mode == "etcd-range":
                key_i = rnd.randrange(a.keys)
                call = stub.Range(pb2.RangeRequest(key=f"{a.prefix}{key_i}".encode(),
                                                   serializable=not a.linearizable), timeout=a.timeout)
            elif a.mode == "lr-create" or (a.mode == "lr-lifecycle" and step == 0):
                oid = f"{a.id_prefix}{key_i}"
                lr_name = f"operations/{oid}"
                call = stub.CreateOperation(pb2.CreateOperationRequest(operation_id=oid, metadata=lr_meta),
                                            timeout=a.timeout)
            elif a.mode == "lr-lifecycle" and step <= a.updates:
                call = stub.UpdateOperation(pb2.UpdateOperationRequest(name=lr_name, metadata=lr_meta),
                                            timeout=a.timeout)
            elif a.mode == "lr-lifecycle":
                call = stub.CompleteOperation(pb2.CompleteOperationRequest(name=lr_name, response=lr_result),
                                              timeout=a.timeout)
            elif a.mode == "ops-get":
                call = stub.GetOperation(pb2.GetOperationRequest(name=rnd.choice(names)), timeout=a.timeout)
            else:
                call = stub.ListOperations(pb2.ListOperationsRequest(
                    name=a.list_name, filter=a.list_filter, page_size=a.page_size, page_token=token),
                    timeout=a.timeout)
            t0 = time.perf_counter()
            try:
                resp = await call
                ok = True
            except grpc.aio.AioRpcError as e:
                ok = False
                stats["errors"][e.code().name] = stats["errors"].get(e.code().name, 0) + 1
            dt = time.perf_counter() - t0
            n += 1
            if a.mode == "lr-lifecycle":
                if step == 0 and not ok:       # create failed: next id, start over
                    key_i += a.concurrency
                else:
                    step = (step + 1) % (a.updates + 2)
                    if step == 0:
                        key_i += a.concurrency
            else:
                key_i += a.concurrency
            if ok and a.mode == "lr-create" and a.names_out:
                created.append(resp.name)
            if ok and a.mode == "ops-list":
                token = resp.next_page_token
            end = time.time()
            if m_start <= t and end <= deadline:
                if ok:
                    stats["ok"] += 1
                    lat.append(dt)
                else:
                    stats["err"] += 1
            if not ok and a.err_sleep:
                await asyncio.sleep(a.err_sleep)

    # wait for the common start
    await asyncio.sleep(max(0.0, start_at - time.time()))
    c0 = cpu_seconds_self()
    ws = [asyncio.create_task(worker(w)) for w in range(conc)]
    await asyncio.sleep(max(0.0, m_start - time.time()))
    cm = cpu_seconds_self()
    await asyncio.gather(*ws)
    c1 = cpu_seconds_self()
    for c in chans:
        await c.close()
    q.put({"idx": idx, "ok": stats["ok"], "err": stats["err"], "errors": stats["errors"],
           "lat": lat.tobytes(), "cpu_meas": c1 - cm, "cpu_total": c1 - c0, "created": created})


def proc_main(a, idx, conc, start_at, q, wbase):
    try:
        asyncio.run(run_proc(a, idx, conc, start_at, q, wbase))
    except BaseException as e:  # report, never hang the parent
        q.put({"idx": idx, "fatal": repr(e)})


def pct(sorted_lat, p):
    if not sorted_lat:
        return float("nan")
    return sorted_lat[min(len(sorted_lat) - 1, int(len(sorted_lat) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", required=True, help="unix:/path.sock or host:port[,host:port...]")
    ap.add_argument("--mode", required=True, choices=["etcd-put", "etcd-range", "ops-get", "ops-list", "lr-lifecycle", "lr-create"])
    ap.add_argument("--concurrency", type=int, default=1, help="total in-flight requests (split over procs)")
    ap.add_argument("--procs", type=int, default=1, help="client processes")
    ap.add_argument("--channels", type=int, default=1, help="gRPC channels per process")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds (max 600)")
    ap.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before the window")
    ap.add_argument("--max-requests", type=int, default=5_000_000, help="hard cap on total requests")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-RPC deadline, s")
    ap.add_argument("--err-sleep", type=float, default=0.01, help="sleep after an error, s")
    ap.add_argument("--value-size", type=int, default=200)
    ap.add_argument("--keys", type=int, default=100_000, help="key space for etcd-put/range")
    ap.add_argument("--prefix", default="bench/k", help="etcd key prefix")
    ap.add_argument("--linearizable", action="store_true", help="etcd-range: linearizable instead of serializable")
    ap.add_argument("--names-file", help="ops-get: file with one operation name per line")
    ap.add_argument("--updates", type=int, default=3, help="lr-lifecycle: UpdateOperation calls per operation")
    ap.add_argument("--id-prefix", default=None,
                    help="lr-*: operation id prefix (lowercase; default: a unique one per run)")
    ap.add_argument("--names-out", help="lr-create: write the created operation names here")
    ap.add_argument("--server-threads", action="store_true",
                    help="with --server-pid: report per-thread server CPU grouped by thread name")
    ap.add_argument("--collect", type=int, default=10_000, help="ops-get: names to collect via ListOperations")
    ap.add_argument("--list-name", default="operations", help="ListOperationsRequest.name")
    ap.add_argument("--list-filter", default="", help="ListOperationsRequest.filter")
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--server-pid", type=int, action="append", default=[],
                    help="report this process's CPU use and its write calls' bytes over the run (repeatable)")
    ap.add_argument("--disk-dir", default=None,
                    help="report the bytes written by the block device holding this directory (the server's data "
                         "directory), per request: what reached the disk, from every process on the machine")
    ap.add_argument("--gen-dir", default=os.path.join(os.environ.get("LONGRUN_BENCH_TMP", "/tmp/longrun-bench"), "gen"))
    ap.add_argument("--json", action="store_true", help="also print one JSON line")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    a.duration = min(a.duration, MAX_DURATION)
    a.procs = max(1, min(a.procs, a.concurrency))
    if a.id_prefix is None:   # unique per run: ids must match ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$
        a.id_prefix = "l%x-" % (int(time.time() * 1000) % (1 << 40))

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 1.5 + 0.3 * a.procs   # time for spawned children to import grpc
    concs = [a.concurrency // a.procs + (1 if i < a.concurrency % a.procs else 0) for i in range(a.procs)]
    ps = [ctx.Process(target=proc_main, args=(a, i, concs[i], start_at, q, sum(concs[:i])), daemon=True) for i in range(a.procs)]
    for p in ps:
        p.start()
    s_cpu0 = {}
    wait_until = start_at + a.warmup
    while time.time() < wait_until:
        time.sleep(min(0.05, max(0.0, wait_until - time.time())))
    for pid in a.server_pid:
        s_cpu0[pid] = proc_cpu_seconds(pid)
    s_w0 = {pid: proc_write_bytes(pid) for pid in a.server_pid}
    disk = disk_stat_path(a.disk_dir) if a.disk_dir else None
    disk0 = disk_written_bytes(disk) if disk else None
    th0 = {pid: thread_cpu(pid) for pid in a.server_pid} if a.server_threads else {}
    m0 = machine_cpu()
    t_m0 = time.time()
    res = []
    t_end = t_m0 + max(0.0, a.duration - 0.05)
    while time.time() < t_end and len(res) < a.procs:   # children that hit --max-requests end early
        try:
            res.append(q.get(timeout=max(0.01, min(0.2, t_end - time.time()))))
        except Exception:
            pass
    eff_dur = a.duration if len(res) < a.procs else max(0.001, time.time() - t_m0)
    s_secs = time.time() - t_m0
    s_cpu = {pid: (proc_cpu_seconds(pid) - s_cpu0[pid]) / s_secs for pid in a.server_pid}
    s_written = sum(proc_write_bytes(pid) - s_w0[pid] for pid in a.server_pid)
    if disk:
        os.sync()   # what the run left dirty in the page cache is the run's too
    disk_written = disk_written_bytes(disk) - disk0 if disk else None
    th1 = {pid: thread_cpu(pid) for pid in th0}
    th = {str(pid): thread_groups(th0[pid], th1[pid], s_secs) for pid in th0}
    th_detail = {str(pid): sorted(([tid, comm, round((c1 - th0[pid].get(tid, (comm, 0.0))[1]) / s_secs, 3)]
                                   for tid, (comm, c1) in th1[pid].items()), key=lambda x: -x[2])
                 for pid in th0}
    m1 = machine_cpu()
    busy = (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * os.cpu_count()
    hard_deadline = time.time() + a.timeout + 60
    while len(res) < a.procs and time.time() < hard_deadline:
        try:
            res.append(q.get(timeout=1.0))
        except Exception:
            if not any(p.is_alive() for p in ps) and q.empty():
                break
    for p in ps:
        p.join(timeout=5)
        if p.is_alive():
            p.terminate()
    fatal = [r for r in res if "fatal" in r]
    if fatal or len(res) < a.procs:
        print("client process failure:", fatal or f"{len(res)}/{a.procs} reported", file=sys.stderr)
        sys.exit(1)
    lat = array("d")
    errors = {}
    for r in res:
        lat.frombytes(r["lat"])
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    lat = sorted(lat)
    ok = sum(r["ok"] for r in res)
    err = sum(r["err"] for r in res)
    cpu = sum(r["cpu_meas"] for r in res) / eff_dur
    out = {"label": a.label, "mode": a.mode, "target": a.target, "concurrency": a.concurrency, "procs": a.procs,
           "channels": a.channels, "duration_s": round(eff_dur, 3), "ok": ok, "errors": err, "error_codes": errors,
           "ops_per_s": round(ok / eff_dur, 1),
           "p50_ms": round(pct(lat, 0.50) * 1e3, 3), "p90_ms": round(pct(lat, 0.90) * 1e3, 3),
           "p99_ms": round(pct(lat, 0.99) * 1e3, 3), "p999_ms": round(pct(lat, 0.999) * 1e3, 3), "max_ms": round((lat[-1] if lat else float("nan")) * 1e3, 3),
           "client_cpu_cores": round(cpu, 2),
           "server_cpu_cores": {str(k): round(v, 2) for k, v in s_cpu.items()},
           "machine_busy_cores": round(busy, 2), "machine_cores": os.cpu_count()}
    if s_cpu and ok:
        out["server_cpu_us_per_op"] = round(sum(s_cpu.values()) / (ok / eff_dur) * 1e6, 1)
        # Over the same window as the CPU (the requests answered in it: ok / eff_dur * s_secs).
        out["server_write_bytes_per_op"] = round(s_written / (ok / eff_dur * s_secs))
    if disk_written is not None and ok:
        out["disk_write_bytes_per_op"] = round(disk_written / (ok / eff_dur * s_secs))
    if th:
        out["server_threads"] = th
        out["server_threads_detail"] = th_detail
    if a.mode == "lr-create" and a.names_out:
        with open(a.names_out, "w") as f:
            for r in res:
                f.writelines(nm + "\n" for nm in r["created"])
    print(f"{a.label + ' ' if a.label else ''}mode={a.mode} conc={a.concurrency} procs={a.procs} "
          f"ops/s={out['ops_per_s']:.0f} p50_ms={out['p50_ms']:.3f} p90_ms={out['p90_ms']:.3f} "
          f"p99_ms={out['p99_ms']:.3f} p999_ms={out['p999_ms']:.3f} max_ms={out['max_ms']:.3f} errors={err} {errors if errors else ''}"
          f"client_cpu_cores={out['client_cpu_cores']}"
          + "".join(f" server[{k}]_cpu_cores={v}" for k, v in out["server_cpu_cores"].items())
          + f" machine_busy_cores={out['machine_busy_cores']}/{out['machine_cores']}"
          + (f" server_cpu_us_per_op={out['server_cpu_us_per_op']}" if "server_cpu_us_per_op" in out else "")
          + (f" server_write_bytes_per_op={out['server_write_bytes_per_op']}" if "server_write_bytes_per_op" in out else "")
          + (f" disk_write_bytes_per_op={out['disk_write_bytes_per_op']}" if "disk_write_bytes_per_op" in out else ""))
    for pid, groups in out.get("server_threads", {}).items():
        print(f"  server[{pid}] threads: " + "; ".join(
            f"{k} n={g['threads']} busy={g['busy_threads']} cores={g['cores']} max1={g['max_thread_cores']}"
            for k, g in sorted(groups.items(), key=lambda kv: -kv[1]["cores"])))
        print(f"  server[{pid}] per thread (tid comm cores): " + ", ".join(
            f"{t} {c} {v}" for t, c, v in out["server_threads_detail"][pid] if v >= 0.01))
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
