#!/usr/bin/env python3
"""Checks a `perf script -F comm,pid,tid,time,event,trace` trace of longrund (checkpoint-flushes.sh):
every journal checkpoint that wrote back only its state's pages (`sync_file_range` on data.mdb, then
an `fdatasync` of the journal on the same thread) must have had a cache flush issued to the device
after its write-back's last write completed, and completed, before that `fdatasync` returned; the
checkpoint's slot is written after it returns. Whole-file checkpoints (an `fdatasync` of data.mdb)
are counted, not checked. Exit 0 if every state-page checkpoint had its flush, 1 if one did not,
2 if none was traced.
usage: checkpoint_flushes.py TRACE PID MAJ,MIN DATA_DIR   (PID still running: its fds are read)"""
import os
import re
import sys

trace, pid, dev, data_dir = sys.argv[1], sys.argv[2], sys.argv[3], os.path.realpath(sys.argv[4])


def fds_to(name):
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == os.path.join(data_dir, name):
                found.add(int(fd))
        except OSError:
            pass
    return found


data_fds, journal_fds = fds_to("data.mdb"), fds_to("journal")
if not data_fds or not journal_fds:
    sys.exit(f"no open data.mdb or journal under {data_dir} in process {pid}")

# (time, tid, kind, detail): the daemon's calls, and the device's flush requests.
events = []
line_re = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)$")
for line in open(trace):
    m = line_re.match(line)
    if not m:
        continue
    _, p, tid, t, event, rest = m.groups()
    t = float(t)
    if event.startswith("block:"):
        if rest.startswith(dev + " ") and rest.split()[1].startswith("F"):
            events.append((t, None, "flush-issue" if event == "block:block_rq_issue" else "flush-complete", None))
        continue
    if p != pid:
        continue
    fd = re.search(r"fd: (0x[0-9a-f]+)", rest)
    fd = int(fd.group(1), 16) if fd else None
    kind = event.split(":")[1]
    if kind in ("sys_exit_sync_file_range", "sys_exit_fdatasync"):
        events.append((t, tid, kind, None))
    elif kind in ("sys_enter_sync_file_range", "sys_enter_fdatasync", "sys_enter_pwrite64"):
        events.append((t, tid, kind, fd))
events.sort(key=lambda e: e[0])

checked = flushed = whole = 0
open_runs = {}   # tid -> time the last sync_file_range of its current run returned
waiting = {}     # tid -> (time the write-back ended, time the fdatasync began)
for i, (t, tid, kind, fd) in enumerate(events):
    if kind == "sys_enter_sync_file_range" and fd in data_fds:
        open_runs.setdefault(tid, None)
    elif kind == "sys_exit_sync_file_range" and tid in open_runs:
        open_runs[tid] = t
    elif kind == "sys_enter_fdatasync" and tid in open_runs and open_runs[tid] is not None:
        ended = open_runs.pop(tid)
        if fd in data_fds:
            whole += 1
        elif fd in journal_fds:
            waiting[tid] = (ended, t)
    elif kind == "sys_exit_fdatasync" and tid in waiting:
        ended, began = waiting.pop(tid)
        window = [e for e in events if ended <= e[0] <= t]
        issued = [e[0] for e in window if e[2] == "flush-issue"]
        ok = bool(issued) and any(e[2] == "flush-complete" and e[0] >= issued[0] for e in window)
        checked += 1
        flushed += ok
        if not ok:
            print(f"NO FLUSH: write-back ended {ended:.6f}, journal fdatasync {began:.6f}-{t:.6f}")
print(f"state-page checkpoints: {checked}, with a cache flush issued after their write-back and completed "
      f"before the journal's fdatasync returned: {flushed}; whole-file checkpoints: {whole}")
sys.exit(2 if checked == 0 else (0 if flushed == checked else 1))
