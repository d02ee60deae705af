"""Leases with the real daemon (docs/API.md#leases): a producer process that dies leaves no
operation running forever, one that stays alive keeps its operation, and the CLI's lease commands.

Producers run as separate processes so that SIGKILL is a real crash: no stream is closed politely,
no completion is sent.
"""

import json
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2

import support

# A producer process: creates an operation with a 1 s lease, prints its name, then, as told,
# sleeps (a hung or dead producer), heartbeats every 300 ms, or keeps a StreamTransitions stream
# open (which the server renews).
PRODUCER = r"""
import sys, time, grpc
from google.protobuf import duration_pb2
from longrun.v1 import producers_pb2, producers_pb2_grpc

target, mode, op_id = sys.argv[1], sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(target)
producers = producers_pb2_grpc.ProducersStub(channel)
create = producers_pb2.CreateOperationRequest(operation_id=op_id, lease=duration_pb2.Duration(seconds=1))
if mode == "stream":
    import queue
    requests = queue.Queue()
    requests.put(producers_pb2.TransitionRequest(tag=1, create=create))
    def messages():
        while True:
            yield requests.get()
    responses = producers.StreamTransitions(messages())
    first = next(responses)
    assert first.WhichOneof("result") == "operation", first
    print(first.operation.name, flush=True)
    time.sleep(3600)
op = producers.CreateOperation(create, timeout=10)
print(op.name, flush=True)
while True:
    time.sleep(0.3)
    if mode == "heartbeat":
        producers.Heartbeat(producers_pb2.HeartbeatRequest(name=op.name), timeout=10)
"""


def start_producer(daemon, mode):
    from longrun.v1 import producers_pb2

    stubs_dir = os.path.dirname(os.path.dirname(os.path.dirname(producers_pb2.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([stubs_dir, env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER, daemon.target, mode, support.unique_id(mode)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    name = proc.stdout.readline().strip()
    assert name, f"the producer printed no name: {proc.stderr.read() if proc.poll() is not None else ''}"
    return proc, name


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def wait_done(operations, name, timeout=20):
    """WaitOperation until the operation is done (the daemon checks leases at least every second)."""
    from google.longrunning import operations_pb2
    from google.protobuf import duration_pb2

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        op = operations.WaitOperation(operations_pb2.WaitOperationRequest(
            name=name, timeout=duration_pb2.Duration(seconds=2)), timeout=10)
        if op.done:
            return op
    raise AssertionError(f"{name} still running after {timeout} s")


def lease_error_info(op):
    assert op.WhichOneof("result") == "error", op
    assert op.error.code == code_pb2.ABORTED, op.error
    infos = []
    for detail in op.error.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            infos.append(info)
    assert len(infos) == 1, op.error.details
    return infos[0]


@pytest.mark.parametrize("mode", ["sleep", "stream"])
def test_a_killed_producers_operation_ends_aborted_with_the_lease_expired(fresh_daemon, mode):
    channel = grpc.insecure_channel(fresh_daemon.target)
    _, _, _, operations = support.stubs(channel)
    proc, name = start_producer(fresh_daemon, mode)
    pid = proc.pid
    kill(proc)
    op = wait_done(operations, name)
    info = lease_error_info(op)
    assert info.reason == "PRODUCER_LEASE_EXPIRED"
    assert info.domain == "longrun.dev"
    assert info.metadata["pid"] == str(pid)
    assert info.metadata["uid"] == str(os.getuid())
    assert "host" in info.metadata
    assert "producer stopped" in op.error.message and "expired at" in op.error.message
    channel.close()


@pytest.mark.parametrize("mode", ["heartbeat", "stream"])
def test_a_living_producer_keeps_its_operation_until_it_dies(fresh_daemon, mode):
    from longrun.v1 import history_pb2

    channel = grpc.insecure_channel(fresh_daemon.target)
    _, history, _, operations = support.stubs(channel)
    proc, name = start_producer(fresh_daemon, mode)
    try:
        # Several TTLs and sweeps go by while it lives; it keeps renewing, so it is still running.
        for _ in range(4):
            time.sleep(1)
            assert proc.poll() is None, proc.stderr.read()
            details = history.GetOperationDetails(history_pb2.GetOperationDetailsRequest(name=name), timeout=10)
            assert not details.operation.done, details.operation
            assert details.HasField("lease") and details.lease.ttl.seconds == 1
            assert details.version == 1, "heartbeats are not transitions"
        events = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), timeout=10).events
        assert [e.WhichOneof("kind") for e in events][:2] == ["created", "lease_renewed"]
    finally:
        kill(proc)
    assert lease_error_info(wait_done(operations, name)).reason == "PRODUCER_LEASE_EXPIRED"
    channel.close()


def test_heartbeat_and_adoption_errors(fresh_daemon):
    from google.protobuf import duration_pb2
    from longrun.v1 import producers_pb2

    channel = grpc.insecure_channel(fresh_daemon.target)
    producers, _, _, _ = support.stubs(channel)
    plain = support.create(producers).name
    with pytest.raises(grpc.RpcError) as caught:
        producers.Heartbeat(producers_pb2.HeartbeatRequest(name=plain), timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert support.error_info(caught.value).reason == "NO_LEASE"
    with pytest.raises(grpc.RpcError) as caught:
        producers.CreateOperation(producers_pb2.CreateOperationRequest(lease=duration_pb2.Duration(nanos=1000)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert support.error_info(caught.value).reason == "INVALID_LEASE"
    with pytest.raises(grpc.RpcError) as caught:
        producers.AdoptOperation(producers_pb2.AdoptOperationRequest(name=plain, expected_version=9), timeout=10)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert support.error_info(caught.value).reason == "VERSION_MISMATCH"
    channel.close()


def test_cli_create_with_a_lease_heartbeat_adopt_and_get(fresh_daemon):
    longrun = support.binary("LONGRUN", "longrun")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}

    def cli(*args):
        result = subprocess.run([longrun, args[0], "--socket", fresh_daemon.socket, *args[1:]],
                                capture_output=True, text=True, timeout=30, env=env)
        assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        return result.stdout

    name = cli("create", "--lease", "30s").strip()
    beat = cli("heartbeat", name)
    assert beat.startswith("lease_expire_time=") and "version=1 cancel_requested=false" in beat
    beat_json = json.loads(cli("heartbeat", name, "--json"))
    assert beat_json["version"] == 1 and beat_json["cancelRequested"] is False and beat_json["leaseExpireTime"]
    assert cli("adopt", name, "--expected-version", "1", "--lease", "1m").strip() == "version=2 cancel_requested=false"
    text = cli("get", name)
    lease_line = [line for line in text.splitlines() if line.startswith("lease:")]
    assert lease_line and "ttl=1m" in lease_line[0] and "expires=" in lease_line[0] and "holder=" in lease_line[0], text
    details = json.loads(cli("get", name, "--json"))
    assert details["lease"]["ttl"] == "60s" and details["lease"]["holder"]["pid"] > 0, details
    history = cli("history", name)
    assert "lease_renewed" in history and "adopted" in history and "lease=1m" in history, history
    plain = cli("create").strip()
    assert json.loads(cli("get", plain, "--json"))["lease"] is None
