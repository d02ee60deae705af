"""A full disk: writes fail with RESOURCE_EXHAUSTED (reason STORE_FULL) and a message that says
what to do, reads keep working, nothing acknowledged is lost, and writes resume by themselves once
space is freed. Health says NOT_SERVING while writes are refused, and SERVING again once one commits.

The data directory lives on a small tmpfs mounted for the test (root only; skipped where mount is
not permitted). LMDB writes pages with pwrite (longrund does not use MDB_WRITEMAP), so a full file
system surfaces as a failed commit, not as SIGBUS.
"""

import os
import subprocess
import tempfile

import grpc
import pytest
from google.protobuf import wrappers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

import support

TMPFS_SIZE = 8 << 20
BALLAST = 2 << 20
PAYLOAD = 200 << 10  # under the daemon's payload limit; the disk fills within ~40 creates


@pytest.fixture
def small_disk():
    mountpoint = tempfile.mkdtemp(prefix="lr-disk-", dir="/tmp")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", mountpoint],
                            capture_output=True, text=True)
    if result.returncode != 0:
        os.rmdir(mountpoint)
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", mountpoint], check=False)
        os.rmdir(mountpoint)


def test_a_full_disk_refuses_writes_serves_reads_and_recovers(make_daemon, small_disk):
    from google.longrunning import operations_pb2

    ballast = os.path.join(small_disk, "ballast")
    with open(ballast, "wb") as f:
        f.write(b"\0" * BALLAST)
        os.fsync(f.fileno())
    daemon = make_daemon(data_dir=os.path.join(small_disk, "data"),
                         args=["--snapshot-log-ratio", "0", "--snapshot-every", "0", "--snapshot-interval", "0s"]).start().wait_ready()
    pid = daemon.proc.pid
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, operations = support.stubs(channel)
        acknowledged = []
        failure = None
        for index in range(200):
            try:
                created = support.create(producers, metadata=wrappers_pb2.BytesValue(value=os.urandom(PAYLOAD)))
                acknowledged.append(created)
            except grpc.RpcError as error:
                failure = error
                break
        assert failure is not None, f"the {TMPFS_SIZE >> 20} MiB disk never filled"
        assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, failure
        info = support.error_info(failure)
        assert info.reason == "STORE_FULL", info
        assert "disk" in failure.details() and "Free space" in failure.details(), failure.details()
        assert len(acknowledged) >= 5, f"only {len(acknowledged)} creates fit"

        # Probes see it: the whole server and the services that write are NOT_SERVING; the
        # read-only History is still SERVING.
        health = health_pb2_grpc.HealthStub(channel)

        def status(service):
            return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status

        for service in ("", "longrun.v1.Producers", "google.longrunning.Operations"):
            assert status(service) == health_pb2.HealthCheckResponse.NOT_SERVING, service
        assert status("longrun.v1.History") == health_pb2.HealthCheckResponse.SERVING

        # Still full: small writes fail the same way, and the daemon keeps answering.
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as again:
                support.create(producers, metadata=wrappers_pb2.BytesValue(value=os.urandom(PAYLOAD)))
            assert again.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, again.value

        # Reads keep working and return exactly what was acknowledged.
        for created in acknowledged:
            got = operations.GetOperation(operations_pb2.GetOperationRequest(name=created.name), timeout=10)
            assert got == created
        listed = operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations", page_size=1000), timeout=10)
        assert [op.name for op in listed.operations] == [op.name for op in acknowledged]

        # Space returns: writes resume without a restart.
        os.unlink(ballast)
        resumed = support.create(producers, metadata=wrappers_pb2.BytesValue(value=os.urandom(PAYLOAD)))
        done = support.complete(producers, resumed.name, response=wrappers_pb2.StringValue(value="ok"))
        assert done.done
        assert status("") == health_pb2.HealthCheckResponse.SERVING
        for created in acknowledged:
            assert operations.GetOperation(operations_pb2.GetOperationRequest(name=created.name), timeout=10) == created

    assert daemon.running() and daemon.proc.pid == pid, daemon.output()
    verified = subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), "verify", "--data-dir", daemon.data_dir],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, f"verify failed\n{verified.stdout}\n{verified.stderr}"
    daemon.stop_and_check()

    # After a restart everything acknowledged is still there.
    again = make_daemon(data_dir=daemon.data_dir, args=["--snapshot-log-ratio", "0", "--snapshot-every", "0", "--snapshot-interval", "0s"]).start().wait_ready()
    with grpc.insecure_channel(again.target) as channel:
        _, _, _, operations = support.stubs(channel)
        for created in acknowledged:
            assert operations.GetOperation(operations_pb2.GetOperationRequest(name=created.name), timeout=10) == created
        assert operations.GetOperation(operations_pb2.GetOperationRequest(name=resumed.name), timeout=10).done
