#!/usr/bin/env python3
"""Where one thread of a running process spends its time: on a CPU, or waiting, and in which kernel
path it waits.

Samples the thread's state (/proc/PID/task/TID/stat) and, when it is not running, its kernel stack
(/proc/PID/task/TID/stack, root only) every --interval seconds for --seconds, then prints the share
of samples running and of each wait's innermost frames, overall and per --bucket seconds. This is
how the W6 writer's time was split between its own work and the disk cache's flush
(BENCHMARKS.md, "W6 on a new store and on one past its growth").

  Benchmarks/Scripts/thread-waits.py PID [--thread TID] [--seconds 4] [--bucket 0.5]

Without --thread it samples the thread that used the most CPU over the first 0.3 s.
"""
import argparse
import collections
import os
import sys
import time

SKIPPED = ("__schedule", "schedule", "io_schedule", "entry_SYSCALL", "do_syscall", "x64_sys", "srso_")


def cpu_ticks(pid, tid):
    fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def busiest_thread(pid):
    tids = os.listdir(f"/proc/{pid}/task")
    before = {tid: cpu_ticks(pid, tid) for tid in tids}
    time.sleep(0.3)
    after = {tid: cpu_ticks(pid, tid) for tid in tids if os.path.exists(f"/proc/{pid}/task/{tid}")}
    return max(after, key=lambda tid: after[tid] - before[tid])


def sample(pid, tid, depth):
    state = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0]
    if state == "R":
        return "running (or runnable)"
    frames = [line.split(" ", 1)[1].split("+")[0] for line in open(f"/proc/{pid}/task/{tid}/stack").read().splitlines()]
    frames = [frame for frame in frames if not frame.startswith(SKIPPED)]
    return f"{state} " + (" < ".join(frames[:depth]) or "(no kernel stack)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pid", type=int)
    parser.add_argument("--thread", type=int, help="the thread's id (default: the busiest)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--interval", type=float, default=0.0005)
    parser.add_argument("--bucket", type=float, default=0.5, help="seconds per line of the timeline")
    parser.add_argument("--depth", type=int, default=5, help="kernel frames named per wait")
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("thread-waits.py reads /proc/PID/task/TID/stack, which needs root")
    tid = options.thread or busiest_thread(options.pid)
    comm = open(f"/proc/{options.pid}/task/{tid}/comm").read().strip()
    print(f"thread {tid} ({comm}) of process {options.pid}, {options.seconds} s")
    total = collections.Counter()
    buckets = collections.defaultdict(collections.Counter)
    start = time.monotonic()
    end = start + options.seconds
    try:
        while (now := time.monotonic()) < end:
            key = sample(options.pid, tid, options.depth)
            total[key] += 1
            buckets[int((now - start) / options.bucket)][key] += 1
            time.sleep(options.interval)
    except (FileNotFoundError, ProcessLookupError):
        print("(the thread ended)")
    count = sum(total.values())
    if count == 0:
        sys.exit("no samples")
    print(f"{count} samples")
    for key, n in total.most_common(12):
        print(f"{100 * n / count:5.1f}%  {key}")
    print(f"timeline ({options.bucket} s a line): share running, then the two largest waits")
    for index in sorted(buckets):
        bucket = buckets[index]
        size = sum(bucket.values())
        waits = [(key, n) for key, n in bucket.most_common() if not key.startswith("running")][:2]
        line = "; ".join(f"{100 * n / size:.0f}% {key[:90]}" for key, n in waits)
        print(f"{index * options.bucket:6.1f} s  running {100 * bucket['running (or runnable)'] / size:3.0f}%  {line}")


if __name__ == "__main__":
    main()
