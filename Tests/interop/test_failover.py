"""Failover of a PostgreSQL store: a primary with two synchronous replicas (quorum ANY 1), the
primary killed with SIGKILL under load, the most advanced replica promoted, the daemon pointed at
it: every transition the daemon acknowledged is there, and the store verifies.

Needs Debian's postgresql (Tools/postgres-cluster starts its own cluster on loopback). Skipped,
saying so, when it is not installed, unless LONGRUN_REQUIRE_POSTGRES=1 (CI), where it fails.
"""

import glob
import os
import socket
import subprocess
import threading
import time

import grpc
import pytest
from google.longrunning import operations_pb2

import support

CLUSTER = os.path.join(os.path.dirname(__file__), "..", "..", "Tools", "postgres-cluster")
INSTALLED = bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
if not INSTALLED and os.environ.get("LONGRUN_REQUIRE_POSTGRES") == "1":
    raise RuntimeError("LONGRUN_REQUIRE_POSTGRES=1 but PostgreSQL is not installed (apt-get install -y postgresql)")
pytestmark = pytest.mark.skipif(not INSTALLED, reason="PostgreSQL is not installed (apt-get install -y postgresql)")


def free_port_block(size=3):
    """A base port with `size` free ports after it (checked, not guaranteed: the test is alone)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size >= 65535:
            continue
        try:
            for offset in range(1, size):
                with socket.socket() as other:
                    other.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no block of free ports")


@pytest.fixture
def cluster():
    base = free_port_block()
    directory = f"/tmp/lr-pgc-{base}"
    env = dict(os.environ, LONGRUN_POSTGRES_PORT=str(base))

    def run(*args):
        done = subprocess.run([CLUSTER, *args, directory], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"Tools/postgres-cluster {' '.join(args)}: {done.stderr}"
        return done.stdout.strip()

    exports = run("start")
    urls = dict(part.split("=", 1) for part in exports.removeprefix("export ").split(" "))
    urls = {key: value.strip("'") for key, value in urls.items()}
    try:
        yield run, urls
    finally:
        subprocess.run([CLUSTER, "stop", directory], env=env, capture_output=True, timeout=120)


def test_a_promoted_synchronous_replica_has_every_acknowledged_transition(cluster, make_daemon):
    run, urls = cluster
    daemon = make_daemon(store=urls["LONGRUN_CLUSTER_PRIMARY"]).start().wait_ready()
    acknowledged = []
    failures = []
    lock = threading.Lock()
    stop = threading.Event()

    def produce(worker):
        with grpc.insecure_channel(daemon.target) as channel:
            producers, _, _, _ = support.stubs(channel)
            index = 0
            while not stop.is_set():
                try:
                    name = support.create(producers, operation_id=f"p{worker}-{index}").name
                    with lock:
                        acknowledged.append(name)
                except grpc.RpcError as error:
                    with lock:
                        failures.append(error.code())
                    time.sleep(0.05)
                index += 1

    threads = [threading.Thread(target=produce, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    run("kill-primary")
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) > 20, f"too little was acknowledged before the kill: {len(acknowledged)}"
    # Every failure after the kill is UNAVAILABLE: the daemon never claims a commit it did not get.
    assert set(failures) <= {grpc.StatusCode.UNAVAILABLE}, set(failures)

    promoted = run("promote")
    print(f"failover: {len(acknowledged)} creates acknowledged, {len(failures)} refused after the kill; promoted {promoted}")
    daemon.stop_and_check()
    survivor = make_daemon(store=urls[f"LONGRUN_CLUSTER_{promoted.upper()}"]).start().wait_ready()
    with grpc.insecure_channel(survivor.target) as channel:
        _, _, _, operations = support.stubs(channel)
        missing = []
        for name in acknowledged:
            try:
                operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND, error
                missing.append(name)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged creates are missing after failover: {missing[:5]}"
        producers, _, _, _ = support.stubs(channel)
        assert support.create(producers).name  # the promoted replica takes writes
    verified = subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), "verify", "--store", urls[f"LONGRUN_CLUSTER_{promoted.upper()}"]],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
