"""Two longrund "hosts" (two processes, two sockets) sharing one PostgreSQL store.

Needs a PostgreSQL server: LONGRUN_TEST_POSTGRES (Tools/test starts one). Without it these tests
are skipped with the reason, unless LONGRUN_REQUIRE_POSTGRES=1 (CI), where they fail.
"""

import os
import threading
import time

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import wrappers_pb2

import support

POSTGRES = os.environ.get("LONGRUN_TEST_POSTGRES")
if not POSTGRES and os.environ.get("LONGRUN_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("LONGRUN_REQUIRE_POSTGRES=1 but LONGRUN_TEST_POSTGRES is not set: run `eval \"$(Tools/postgres start)\"`")
pytestmark = pytest.mark.skipif(not POSTGRES, reason="no PostgreSQL test server (LONGRUN_TEST_POSTGRES); Tools/test starts one")


@pytest.fixture
def two_hosts(make_daemon):
    store = support.postgres_schema_url(POSTGRES)
    a = make_daemon(store=store, args=["--host-name", "host-a"]).start().wait_ready()
    b = make_daemon(store=store, args=["--host-name", "host-b"]).start().wait_ready()
    with grpc.insecure_channel(a.target) as ca, grpc.insecure_channel(b.target) as cb:
        yield (a, support.stubs(ca)), (b, support.stubs(cb))


def test_an_operation_created_on_one_host_is_served_by_the_other(two_hosts):
    (_, (producers_a, _, _, _)), (_, (_, _, _, operations_b)) = two_hosts
    name = support.create(producers_a, metadata=wrappers_pb2.StringValue(value="from a")).name
    op = operations_b.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)
    assert op.name == name and not op.done
    listed = operations_b.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
    assert [o.name for o in listed.operations] == [name]


def test_each_event_records_the_host_that_committed_it(two_hosts):
    from longrun.v1 import history_pb2

    (_, (producers_a, history_a, _, _)), (_, (producers_b, _, _, _)) = two_hosts
    name = support.create(producers_a).name
    support.complete(producers_b, name, response=wrappers_pb2.StringValue(value="done"))
    events = history_a.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), timeout=10).events
    assert [(e.WhichOneof("kind"), e.actor.host) for e in events] == [("created", "host-a"), ("completed", "host-b")]
    assert all(e.actor.uid == os.getuid() for e in events)


def test_a_wait_on_one_host_returns_when_the_other_completes(two_hosts):
    (_, (producers_a, _, _, _)), (_, (_, _, _, operations_b)) = two_hosts
    latencies = []
    for _ in range(5):
        name = support.create(producers_a).name
        request = operations_pb2.WaitOperationRequest(name=name)
        request.timeout.seconds = 30
        future = operations_b.WaitOperation.future(request, timeout=60)
        time.sleep(0.2)
        assert not future.done(), "the wait returned before the operation was done"
        started = time.monotonic()
        support.complete(producers_a, name, response=wrappers_pb2.StringValue(value="done"))
        op = future.result(timeout=30)
        latencies.append(time.monotonic() - started)
        assert op.done, "the wait on host B ended at its timeout, not at host A's completion"
    # Woken by host A's NOTIFY (or at worst by B's 500 ms poll), never by the 30 s timeout.
    assert max(latencies) < 5, f"cross-host wake-ups took {latencies}"


def test_a_watch_resumes_on_the_other_host_from_a_cursor_without_gaps(two_hosts):
    from longrun.v1 import history_pb2

    (_, (producers_a, history_a, _, _)), (_, (producers_b, history_b, _, _)) = two_hosts
    for index in range(6):
        support.create(producers_a if index % 2 == 0 else producers_b, operation_id=f"w-{index}")
    first = list(history_a.ListOperationEvents(history_pb2.ListOperationEventsRequest(name="operations/w-0"), timeout=10).events)
    assert len(first) == 1
    stream = history_a.WatchOperations(history_pb2.WatchOperationsRequest(name="operations"), timeout=10)
    seen = [next(stream) for _ in range(3)]
    stream.cancel()
    cursor = seen[-1].sequence
    resumed = history_b.WatchOperations(history_pb2.WatchOperationsRequest(name="operations", after_sequence=cursor), timeout=10)
    rest = [next(resumed) for _ in range(3)]
    resumed.cancel()
    assert [e.sequence for e in seen + rest] == list(range(1, 7))


def test_two_hosts_racing_on_one_version_get_one_winner(two_hosts):
    (_, (producers_a, _, _, _)), (_, (producers_b, _, _, _)) = two_hosts
    name = support.create(producers_a).name
    results = []

    def update(producers, label):
        try:
            support.update(producers, name, metadata=wrappers_pb2.StringValue(value=label), expected_version=1)
            results.append("ok")
        except grpc.RpcError as error:
            results.append(error.code())

    threads = [threading.Thread(target=update, args=(p, l)) for p, l in ((producers_a, "a"), (producers_b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(map(str, results)) == sorted(["ok", str(grpc.StatusCode.ABORTED)]), results


def test_a_killed_host_loses_nothing_it_acknowledged_and_the_other_keeps_serving(two_hosts):
    (a, (producers_a, _, _, _)), (_, (producers_b, _, _, operations_b)) = two_hosts
    acknowledged = []
    stop = threading.Event()

    def produce():
        index = 0
        while not stop.is_set():
            try:
                acknowledged.append(support.create(producers_a, operation_id=f"k-{index}").name)
            except grpc.RpcError:
                return
            index += 1

    threads = [threading.Thread(target=produce) for _ in range(1)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    a.kill()
    stop.set()
    for thread in threads:
        thread.join(30)
    assert acknowledged, "host A acknowledged nothing before it was killed"
    for name in acknowledged:
        assert operations_b.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10).name == name
    # Host B still writes.
    assert support.create(producers_b).name


def test_the_replay_tool_reads_the_shared_store_in_place(two_hosts):
    """history, dump and state --at NAME read the PostgreSQL store directly, while both hosts serve."""
    import json
    import subprocess

    from longrun.v1 import history_pb2

    (a, (producers_a, history_a, _, _)), (_, (producers_b, _, _, _)) = two_hosts
    name = support.create(producers_a).name
    support.complete(producers_b, name, response=wrappers_pb2.StringValue(value="done"))
    served = history_a.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), timeout=10).events

    def replay(*args):
        result = subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), *args, "--store", a.store],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    history = replay("history", "--json", name)
    assert [e["sequence"] for e in history] == [e.sequence for e in served]
    assert [e["actor"]["host"] for e in history] == ["host-a", "host-b"]
    assert replay("dump", "--name", name) == history
    created, completed = (e["sequence"] for e in history)
    before, after = replay("state", "--json", "--at", str(created), name), replay("state", "--json", "--at", str(completed), name)
    assert before[0]["exists"] and not before[0]["operation"]["done"]
    assert after[0]["operation"]["done"] and after[0]["operation"]["response"]["value"] == "done"


def test_an_outage_of_postgresql_is_unavailable_and_the_daemon_resumes_by_itself(make_daemon, tmp_path):
    """A PostgreSQL server of this test's own, stopped and started again under a serving daemon."""
    import socket as sockets
    import subprocess

    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tools = os.path.join(os.path.dirname(__file__), "..", "..", "Tools", "postgres")
    directory = f"/tmp/lr-pg-outage-{port}"
    env = dict(os.environ, LONGRUN_POSTGRES_PORT=str(port))
    started = subprocess.run([tools, "start", directory], env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    url = started.stdout.split("'")[1]
    try:
        daemon = make_daemon(store=url).start().wait_ready()
        with grpc.insecure_channel(daemon.target) as channel:
            producers, _, _, operations = support.stubs(channel)
            before = support.create(producers).name
            subprocess.run([tools, "down", directory], env=env, check=True)
            with pytest.raises(grpc.RpcError) as refused:
                support.create(producers)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value
            assert support.error_info(refused.value).reason == "STORE_UNAVAILABLE"
            assert "check that the server runs" in refused.value.details()
            # Reads too answer UNAVAILABLE promptly, not at the client's deadline.
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as unreadable:
                operations.GetOperation(operations_pb2.GetOperationRequest(name=before), timeout=30)
            assert unreadable.value.code() == grpc.StatusCode.UNAVAILABLE, unreadable.value
            assert time.monotonic() - started < 15, f"a read took {time.monotonic() - started:.1f} s to fail"
            subprocess.run([tools, "up", directory], env=env, check=True)
            deadline = time.monotonic() + 30
            while True:
                try:
                    after = support.create(producers).name
                    break
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                    assert time.monotonic() < deadline, "writes did not resume within 30 s of the server's return"
                    time.sleep(0.2)
            names = {o.name for o in operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10).operations}
            assert {before, after} <= names
    finally:
        subprocess.run([tools, "stop", directory], env=env)
