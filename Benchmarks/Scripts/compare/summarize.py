#!/usr/bin/env python3
"""Summarize loadgen.py result lines (etcd.sh's writes.txt / reads.txt): per label (without run=N),
the mean and min-max of ops/s, p50, p99, server cores, server CPU µs per request and, where the
run measured them, the bytes the server's write calls wrote and the disk wrote per request; then the
ratios the comparison is about, from the means of runs interleaved in the same window:
longrun/etcd for writes at each concurrency and for reads, and for reads longrun/no-op and the
event-loop answer against grpc-swift's task per call (longrun-get-tasks); for the ceiling run,
the HTTP/2 floor's writes against etcd's and longrund's.
usage: summarize.py FILE..."""
import collections
import re
import statistics
import sys

rows = collections.OrderedDict()
for fn in sys.argv[1:]:
    for line in open(fn):
        if " mode=" not in line or line.startswith("#") or line.startswith(" "):
            continue
        label = re.sub(r"\s*run=\d+", "", line.split(" mode=")[0]).strip()
        kv = dict(re.findall(r"(\S+?)=(\S+)", line))
        srv = [float(v) for k, v in kv.items() if k.startswith("server[") and k.endswith("_cpu_cores")]
        rows.setdefault(label, []).append({
            "ops": float(kv["ops/s"]), "p50": float(kv["p50_ms"]), "p99": float(kv["p99_ms"]),
            "srv": sum(srv), "us": float(kv.get("server_cpu_us_per_op", "nan")),
            "cli": float(kv["client_cpu_cores"]), "busy": float(kv["machine_busy_cores"].split("/")[0]),
            "wrote": float(kv.get("server_write_bytes_per_op", "nan")), "disk": float(kv.get("disk_write_bytes_per_op", "nan"))})


def f(xs, fmt):
    m = statistics.mean(xs)
    return (fmt % m) + (f" ({fmt % min(xs)}-{fmt % max(xs)})" if len(xs) > 1 else "")


def mean(label, key):
    return statistics.mean(r[key] for r in rows[label])


print(f"{'label':28} n  {'ops/s mean (min-max)':24} {'p50 ms':20} {'p99 ms':20} {'srv cores':18} {'srv µs/req':22} cli  busy"
      f"  {'srv wrote B/req':24} disk B/req")
for label, rs in rows.items():
    print(f"{label:28} {len(rs)}  {f([r['ops'] for r in rs], '%.0f'):24} {f([r['p50'] for r in rs], '%.2f'):20} "
          f"{f([r['p99'] for r in rs], '%.1f'):20} {f([r['srv'] for r in rs], '%.2f'):18} {f([r['us'] for r in rs], '%.0f'):22} "
          f"{statistics.mean(r['cli'] for r in rs):.2f} {statistics.mean(r['busy'] for r in rs):.2f}"
          f"  {f([r['wrote'] for r in rs], '%.0f'):24} {f([r['disk'] for r in rs], '%.0f')}")

print()
print(f"{'ratio (means)':40} {'ops/s':>8} {'p50':>8} {'srv µs/req':>11} {'disk B/req':>11}")
pairs = []
for label in rows:
    m = re.match(r"longrun-unary-write (c=\d+(?: procs=\d+)?)$", label)
    if m and f"etcd-put {m.group(1)}" in rows:
        pairs.append((label, f"etcd-put {m.group(1)}"))
    m = re.match(r"h2-floor-write (c=\d+(?: procs=\d+)?)$", label)
    if m:
        for base in (f"etcd-put {m.group(1)}", f"longrun-unary-write {m.group(1)}"):
            if base in rows:
                pairs.append((label, base))
    m = re.match(r"longrun-get (c=\d+)$", label)
    if m:
        for base in (f"etcd-range {m.group(1)}", f"noop-get {m.group(1)}", f"noop-grpcswift-get {m.group(1)}", f"longrun-get-tasks {m.group(1)}", f"h2-floor-get {m.group(1)}"):
            if base in rows:
                pairs.append((label, base))
for a, b in pairs:
    print(f"{a + ' / ' + b:40} {mean(a, 'ops') / mean(b, 'ops'):8.2f} {mean(a, 'p50') / mean(b, 'p50'):8.2f} "
          f"{mean(a, 'us') / mean(b, 'us'):11.2f} {mean(a, 'disk') / mean(b, 'disk'):11.2f}")
