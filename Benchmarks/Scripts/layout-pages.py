#!/usr/bin/env python3
"""How many LMDB pages a commit writes under the store's views, and under other layouts: a
model for deciding whether a format change is worth making, not a measurement of the engine.

Each layout writes, per transition, the keys docs/FORMAT.md gives the views (format 2), with
values of the engine's sizes, into a fresh LMDB environment without flushes; a read transaction
held across --pin commits stands for the journal checkpoint's pinned state (no page freed after
it is reused until the next). Pages written per commit are the bytes the process wrote at the
commit (/proc/self/io, `wchar`; LMDB writes each dirty page once, with the meta page) over 4 KiB.

  format2   the views before `history_by_creation`: `operations` by name, `history` by name and
            sequence, both written at every transition; `by_creation`, `running`,
            `expiry_candidates`, `log`, `meta`
  bycreation  format2 with history keyed by the operation's create sequence and the event's
            (`history_by_creation`): the views before records were keyed by creation
  records   the views as they are: bycreation with the live records keyed by their create
            sequence (`operations_by_creation`), found through a `names` index written once, at
            the create
  history   `history`'s keys beside the record in `operations` (name, 0x00, sequence)
  creation  records keyed by creation sequence (parent, 0x00, sequence), their history beside them,
            and an index from name to creation sequence written once, at the create

Workload: --tasks producers, each creating an operation, updating it --updates times and completing
it, one transition at a time; --batch transitions of distinct producers per commit (W6: 64 tasks,
0 updates, batches of ~40; unary lifecycle over the socket: 3 updates, ~10 at 64 callers, 1 alone).

  Benchmarks/Scripts/layout-pages.py [--batch 40] [--updates 0] [--commits 3000] [format2 bycreation records history creation]

Needs py-lmdb (`pip install lmdb`, or Debian's python3-lmdb). Writes under --scratch (default
/var/tmp) and removes what it wrote.
"""
import argparse
import os
import random
import re
import shutil
import struct

PAGE = 4096
LAYOUTS = ("format2", "bycreation", "records", "history", "creation")


def written_bytes():
    return int(re.search(r"wchar: (\d+)", open("/proc/self/io").read()).group(1))


def run(layout, options):
    import lmdb

    path = os.path.join(options.scratch, f"layout-pages-{os.getpid()}-{layout}")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    env = lmdb.open(path, map_size=16 << 30, max_dbs=12, sync=False, metasync=False)
    names = ["log", "operations", "by_creation", "running", "history", "expiry_candidates", "meta", "names"]
    db = {name: env.open_db(name.encode()) for name in names}
    rnd = random.Random(options.seed)
    record = os.urandom(options.record_size)
    entry = os.urandom(options.entry_size)
    sequence = 0
    created = [0] * options.tasks
    current = [None] * options.tasks  # (name, create sequence, transitions so far)

    def be64(value):
        return struct.pack(">Q", value)

    def transition(txn, task):
        nonlocal sequence
        sequence += 1
        txn.put(be64(sequence), entry, db=db["log"], append=True)
        if current[task] is None:
            name, first = f"operations/w{task}-{created[task]}".encode(), sequence
            created[task] += 1
            current[task] = (name, first, 0)
            creation = b"\0" + be64(first)
            if layout == "creation":
                txn.put(name, be64(sequence), db=db["by_creation"])  # the name index
                txn.put(creation, record, db=db["operations"])
            elif layout == "records":
                txn.put(name, be64(sequence), db=db["names"])
                txn.put(be64(first), record, db=db["operations"])
                txn.put(creation, name, db=db["by_creation"])
            else:
                txn.put(name, record, db=db["operations"])
                txn.put(creation, name, db=db["by_creation"])
            txn.put(creation, name, db=db["running"])
        else:
            name, first, steps = current[task]
            creation = b"\0" + be64(first)
            key = {"creation": creation, "records": be64(first)}.get(layout, name)
            txn.put(key, record, db=db["operations"])
            if steps < options.updates:
                current[task] = (name, first, steps + 1)
            else:
                current[task] = None
                txn.delete(creation, db=db["running"])
                txn.put(b"\0" + be64(sequence) + name, b"", db=db["expiry_candidates"])
        if layout == "format2":
            txn.put(name + b"\0" + be64(sequence), b"", db=db["history"])
        elif layout in ("bycreation", "records"):
            txn.put(be64(first) + be64(sequence), b"", db=db["history"])
        elif layout == "history":
            txn.put(name + b"\0" + be64(sequence), b"", db=db["operations"])
        else:
            txn.put(b"\0" + be64(first) + b"\1" + be64(sequence), b"", db=db["operations"])

    pages = []
    pin = env.begin()
    for commit in range(options.commits):
        if commit % options.pin == 0:
            pin.abort()
            pin = env.begin()
        before = written_bytes()
        with env.begin(write=True) as txn:
            for task in rnd.sample(range(options.tasks), options.batch):
                transition(txn, task)
            txn.put(b"applied_sequence", be64(sequence), db=db["meta"])
        pages.append((written_bytes() - before) / PAGE)
    pin.abort()
    env.close()
    shutil.rmtree(path)
    steady = pages[len(pages) // 2:]
    mean = sum(steady) / len(steady)
    return mean, mean / options.batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layouts", nargs="*", default=list(LAYOUTS), help=f"any of {', '.join(LAYOUTS)}")
    parser.add_argument("--batch", type=int, default=40, help="transitions per commit")
    parser.add_argument("--tasks", type=int, default=64, help="producers (at least --batch)")
    parser.add_argument("--updates", type=int, default=0, help="updates between create and complete")
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--pin", type=int, default=230, help="commits between checkpoints (W6: ~460 commits/s, 500 ms)")
    parser.add_argument("--record-size", type=int, default=120, help="bytes of an operation's record")
    parser.add_argument("--entry-size", type=int, default=103, help="bytes of a log entry: chain hash and record (W6's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scratch", default="/var/tmp")
    options = parser.parse_args()
    unknown = [layout for layout in options.layouts if layout not in LAYOUTS]
    if unknown:
        parser.error(f"unknown layout {', '.join(unknown)}: choose from {', '.join(LAYOUTS)}")
    if options.tasks < options.batch:
        parser.error("--tasks must be at least --batch: a commit holds one transition per producer")
    print(f"batch {options.batch}, {options.tasks} producers, {options.updates} updates, {options.commits} commits; "
          "pages written per commit over the second half")
    baseline = None
    for layout in options.layouts:
        per_commit, per_transition = run(layout, options)
        baseline = baseline or per_transition
        print(f"  {layout:10} {per_commit:7.1f} per commit, {per_transition:5.2f} per transition ({per_transition / baseline:.2f}x)")


if __name__ == "__main__":
    main()
