#!/usr/bin/env python3
"""Draws a soak run (`longrun-load --workload soak --soak-csv soak.csv`) as one PNG: throughput and
latency, the daemon's memory, and its disk, against time.

    python3 -m pip install matplotlib   # once
    Benchmarks/Scripts/plot-soak.py soak.csv soak.png
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source, target):
    with open(source) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{source}: no rows")
    t = [float(r["elapsed_s"]) / 60 for r in rows]
    mib = lambda key: [int(r[key]) / 2**20 for r in rows]  # noqa: E731
    fig, (speed, memory, disk) = plt.subplots(3, 1, figsize=(9, 10), sharex=True)

    speed.plot(t, [float(r["transitions_per_s"]) for r in rows], label="transitions/s", color="tab:blue")
    speed.set_ylabel("transitions/s")
    latency = speed.twinx()
    latency.plot(t, [int(r["p99_us"]) / 1000 for r in rows], label="p99 ms", color="tab:orange")
    latency.plot(t, [int(r["max_us"]) / 1000 for r in rows], label="max ms", color="tab:red", alpha=0.5)
    latency.set_ylabel("latency (ms)")
    latency.legend(loc="upper right")
    speed.set_title("longrund under a soak: unary create → 3 progress → complete")

    memory.plot(t, mib("anon_rss_bytes"), label="anonymous RSS")
    memory.plot(t, mib("file_rss_bytes"), label="file-backed RSS")
    memory.set_ylabel("MiB")
    memory.legend(loc="upper left")

    disk.plot(t, mib("data_mdb_bytes"), label="data.mdb")
    disk.plot(t, mib("snapshot_bytes"), label="snapshots kept")
    disk.set_ylabel("MiB on disk")
    disk.set_xlabel("minutes")
    disk.legend(loc="upper left")
    written = disk.twinx()
    written.plot(t, [int(r["bytes_written"]) / 2**30 for r in rows], label="bytes written (write calls, /proc/PID/io wchar)", color="tab:green")
    written.set_ylabel("GiB written")
    written.legend(loc="lower right")

    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
