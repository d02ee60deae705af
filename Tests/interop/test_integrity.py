"""No silent wrong answer (docs/FORMAT.md, "Checksums"): a record damaged on disk is never served,
the rest of the store is, the scrub finds the damage by itself and on demand, and repair rebuilds
damaged views from the log, online (`longrun repair`) and offline (`longrun-replay repair`).

The damage is made as a disk would make it: one bit of one stored value flipped while the daemon is
stopped (with Python's `lmdb`, so the test knows which record it hit).
"""

import json
import os
import subprocess
import time

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import wrappers_pb2

import support

lmdb = pytest.importorskip("lmdb")


def longrun(daemon, *args, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}
    return subprocess.run([support.binary("LONGRUN", "longrun"), args[0], "--socket", daemon.socket, *args[1:]],
                          capture_output=True, text=True, timeout=timeout, env=env)


def replay(*args, timeout=120):
    return subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), *args],
                          capture_output=True, text=True, timeout=timeout)


def flip(data_dir, database, key, offset=-3):
    """Flips one bit of the value stored under `key` in `database`; the daemon must be stopped."""
    env = lmdb.open(data_dir, max_dbs=32, map_size=1 << 34, subdir=True)
    try:
        db = env.open_db(database.encode(), create=False)
        with env.begin(write=True, db=db) as txn:
            value = bytearray(txn.get(key))
            assert value, f"no {database} record under {key!r}"
            value[offset] ^= 0x08
            txn.put(key, bytes(value))
    finally:
        env.close()


def first_key(data_dir, database):
    env = lmdb.open(data_dir, max_dbs=32, map_size=1 << 34, subdir=True, readonly=True, lock=False)
    try:
        db = env.open_db(database.encode(), create=False)
        with env.begin(db=db) as txn:
            return next(iter(txn.cursor().iternext(values=False)))
    finally:
        env.close()


def populate(daemon, count=6):
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        names = [support.create(producers, operation_id=f"op-{i}",
                                metadata=wrappers_pb2.StringValue(value=f"step {i}")).name for i in range(count)]
        support.update(producers, names[2], metadata=wrappers_pb2.StringValue(value="halfway"))
    return names


def get(daemon, name):
    with grpc.insecure_channel(daemon.target) as channel:
        _, _, _, operations = support.stubs(channel)
        return operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)


def test_a_damaged_view_is_refused_found_and_repaired_online(make_daemon):
    first = make_daemon().start().wait_ready()
    names = populate(first)
    before = get(first, names[2])
    first.stop_and_check()
    env = lmdb.open(first.data_dir, max_dbs=32, map_size=1 << 34, subdir=True, readonly=True, lock=False)
    try:
        key = support.live_record_key(env, names[2])
    finally:
        env.close()
    flip(first.data_dir, "operations_by_creation", key)

    # Damage in a view does not stop the daemon: the log is intact.
    daemon = make_daemon(data_dir=first.data_dir).start().wait_ready()
    with pytest.raises(grpc.RpcError) as refused:
        get(daemon, names[2])
    assert refused.value.code() == grpc.StatusCode.DATA_LOSS
    info = support.error_info(refused.value)
    assert info.reason == "RECORD_DAMAGED"
    assert info.metadata["database"] == "operations_by_creation"
    assert info.metadata["operation"] == names[2]
    assert info.metadata["repair"] == f"longrun repair {names[2]}"
    # Every other operation is served as before.
    for name in names[:2] + names[3:]:
        assert get(daemon, name).name == name

    # Health: the damage shows on its own name; the daemon as a whole still serves.
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    def health(service):
        with grpc.insecure_channel(daemon.target) as channel:
            return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status

    assert health("longrun.integrity") == health_pb2.HealthCheckResponse.NOT_SERVING
    assert health("") == health_pb2.HealthCheckResponse.SERVING

    # The refused read is counted and listed.
    shown = longrun(daemon, "info", "--json")
    assert shown.returncode == 0, shown.stderr
    integrity = json.loads(shown.stdout)["integrity"]
    assert integrity["damagedReads"] in ("1", 1), integrity
    assert any(f["operation"] == names[2] for f in integrity["findings"]), integrity

    scrubbed = longrun(daemon, "scrub")
    assert scrubbed.returncode == 5, scrubbed.stdout + scrubbed.stderr
    assert "damaged_record: operations_by_creation" in scrubbed.stdout and names[2] in scrubbed.stdout, scrubbed.stdout

    repaired = longrun(daemon, "repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"repaired {names[2]}" in repaired.stdout, repaired.stdout
    assert get(daemon, names[2]) == before
    assert health("longrun.integrity") == health_pb2.HealthCheckResponse.SERVING

    history = longrun(daemon, "history", names[2])
    assert history.returncode == 0, history.stderr
    last = history.stdout.strip().splitlines()[-1]
    assert "repaired" in last and "damaged_record in operations" in last, history.stdout
    assert longrun(daemon, "scrub").returncode == 0
    daemon.stop_and_check()
    verified = replay("verify", "--data-dir", daemon.data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_damaged_event_before_the_snapshot_is_served_around_and_reported(make_daemon):
    first = make_daemon().start().wait_ready()
    names = populate(first)
    snapshot = longrun(first, "snapshot")
    assert snapshot.returncode == 0, snapshot.stderr
    with grpc.insecure_channel(first.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        support.create(producers, operation_id="after-snapshot")
    first.stop_and_check()
    flip(first.data_dir, "log", (1).to_bytes(8, "big"))

    # Before the newest snapshot, nothing needs the event: the daemon starts and serves the views.
    daemon = make_daemon(data_dir=first.data_dir).start().wait_ready()
    assert get(daemon, names[0]).name == names[0]
    history = longrun(daemon, "history", names[0])
    assert history.returncode == 1
    assert "DATA_LOSS" in history.stderr and "log event 1" in history.stderr, history.stderr

    scrubbed = longrun(daemon, "scrub")
    assert scrubbed.returncode == 5, scrubbed.stdout + scrubbed.stderr
    assert "broken_chain: log event 1" in scrubbed.stdout, scrubbed.stdout
    assert "before the newest snapshot" in scrubbed.stdout and "backup" in scrubbed.stdout, scrubbed.stdout
    assert "[repairable" not in scrubbed.stdout
    # Nothing to rebuild from a damaged log: repair says so and changes nothing.
    repaired = longrun(daemon, "repair")
    assert repaired.returncode == 5, repaired.stdout + repaired.stderr
    assert "cannot repair: broken_chain" in repaired.stdout, repaired.stdout


def test_the_background_scrub_finds_damage_by_itself(make_daemon):
    first = make_daemon().start().wait_ready()
    populate(first)
    first.stop_and_check()
    key = first_key(first.data_dir, "running")
    flip(first.data_dir, "running", key, offset=0)

    daemon = make_daemon(data_dir=first.data_dir, args=["--scrub-interval", "1s"]).start().wait_ready()
    deadline = time.monotonic() + 60
    while True:
        shown = longrun(daemon, "info", "--json")
        assert shown.returncode == 0, shown.stderr
        integrity = json.loads(shown.stdout)["integrity"]
        if integrity.get("findings"):
            break
        assert time.monotonic() < deadline, f"no scrub finding within 60 s: {integrity}\n{daemon.output()}"
        time.sleep(0.2)
    assert any(f["kind"] == "damaged_record" and f["database"] == "running" for f in integrity["findings"]), integrity
    assert "the integrity scrub found damage" in daemon.stderr() or "the integrity scrub found damage" in open(daemon.stdout_path).read()


def test_offline_repair_needs_the_daemon_stopped_and_rebuilds_the_views(make_daemon):
    first = make_daemon().start().wait_ready()
    names = populate(first)
    running = replay("repair", "--data-dir", first.data_dir)
    assert running.returncode == 1
    assert "longrun repair" in running.stderr, running.stderr
    first.stop_and_check()
    flip(first.data_dir, "by_creation", first_key(first.data_dir, "by_creation"))

    repaired = replay("repair", "--data-dir", first.data_dir)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "found: damaged_record: by_creation" in repaired.stdout, repaired.stdout
    assert "repaired operations/op-0" in repaired.stdout, repaired.stdout
    verified = replay("verify", "--data-dir", first.data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    daemon = make_daemon(data_dir=first.data_dir).start().wait_ready()
    with grpc.insecure_channel(daemon.target) as channel:
        _, _, _, operations = support.stubs(channel)
        listed = operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
    assert sorted(op.name for op in listed.operations) == sorted(names)
