"""Crash recovery and damage detection with the real daemon.

- SIGKILL longrund at random moments while producers create, update and complete operations, many
  times over (LONGRUN_CRASH_CYCLES, at least 20 in CI). After each restart every transition a client
  saw acknowledged is present, `longrun-replay verify` passes on the live data directory, and the
  daemon serves new work. With six producers the writer's thread commits most batches; with one,
  every write is committed by the event loop that read it and answered once its journal record is
  flushed, before LMDB's commit, so some kills land between the answer and that commit.
- A flipped byte in a logged event: the daemon refuses to start and names the command to run;
  `longrun-replay verify` reports DATA_LOSS with the event's sequence.
"""

import os
import random
import subprocess
import threading
import time

import grpc
import pytest
from google.protobuf import wrappers_pb2

import support

CYCLES = int(os.environ.get("LONGRUN_CRASH_CYCLES", "20"))


def replay(*args):
    return subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), *args],
                          capture_output=True, text=True, timeout=120)


class Ledger:
    """What clients saw acknowledged, per operation: its version and whether it completed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.versions = {}
        self.completed = {}

    def ack(self, name, version, response=None):
        with self.lock:
            self.versions[name] = max(self.versions.get(name, 0), version)
            if response is not None:
                self.completed[name] = response


def produce(target, ledger, prefix, stop):
    """Loops create → 3 updates → complete until stopped or the daemon dies."""
    channel = grpc.insecure_channel(target)
    producers, _, _, _ = support.stubs(channel)
    count = 0
    try:
        while not stop.is_set():
            name = support.create(producers, operation_id=f"{prefix}-{count}").name
            ledger.ack(name, 1)
            for step in range(3):
                reply = support.update(producers, name, metadata=wrappers_pb2.StringValue(value=f"step {step}"))
                ledger.ack(name, reply.version)
            value = f"{prefix}-{count} done"
            support.complete(producers, name, response=wrappers_pb2.StringValue(value=value))
            ledger.ack(name, 5, response=value)
            count += 1
    except grpc.RpcError as error:
        # The daemon was killed under us: UNAVAILABLE (or a cancelled stream). Anything else is a bug.
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                                grpc.StatusCode.INTERNAL), error
    finally:
        channel.close()


def check_everything_acknowledged_is_there(target, ledger):
    from longrun.v1 import history_pb2

    with grpc.insecure_channel(target) as channel:
        _, history, _, _ = support.stubs(channel)
        with ledger.lock:
            versions = dict(ledger.versions)
            completed = dict(ledger.completed)
        for name, version in versions.items():
            details = history.GetOperationDetails(history_pb2.GetOperationDetailsRequest(name=name), timeout=10)
            assert details.version >= version, f"{name}: acknowledged version {version}, found {details.version}"
            if name in completed:
                assert details.operation.done, f"{name}: completion was acknowledged but it is not done"
                value = wrappers_pb2.StringValue()
                assert details.operation.response.Unpack(value) and value.value == completed[name]
        return len(versions)


@pytest.mark.parametrize("producers", [6, 1])
def test_acknowledged_transitions_survive_sigkill(longrund_binary, producers):
    seed = int(os.environ.get("LONGRUN_TEST_SEED", random.randrange(1 << 30)))
    print(f"crash recovery seed {seed} (replay with LONGRUN_TEST_SEED={seed})")
    rng = random.Random(seed)
    first = support.Daemon(longrund_binary, args=["--snapshot-every", "400"])
    ledger = Ledger()
    try:
        for cycle in range(CYCLES):
            daemon = support.Daemon(longrund_binary, data_dir=first.data_dir, socket_path=first.socket,
                                    args=["--snapshot-every", "400"])
            daemon.home = first.home
            daemon.stdout_path = os.path.join(first.home, f"stdout-{cycle}")
            daemon.stderr_path = os.path.join(first.home, f"stderr-{cycle}")
            daemon.start().wait_ready()
            checked = check_everything_acknowledged_is_there(daemon.target, ledger)
            verified = replay("verify", "--data-dir", first.data_dir)
            assert verified.returncode == 0, f"cycle {cycle}: verify failed after restart\n{verified.stdout}\n{verified.stderr}"

            stop = threading.Event()
            threads = [threading.Thread(target=produce, args=(daemon.target, ledger, f"c{cycle}-p{i}", stop))
                       for i in range(producers)]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.15, 0.9))
            daemon.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
                assert not thread.is_alive(), "a producer hung after the daemon was killed"
            print(f"cycle {cycle}: {checked} operations checked before this round, {len(ledger.versions)} acknowledged so far")

        # After the last kill: everything is there, verify passes, and the daemon still serves.
        daemon = support.Daemon(longrund_binary, data_dir=first.data_dir, socket_path=first.socket)
        daemon.home = first.home
        daemon.start().wait_ready()
        assert check_everything_acknowledged_is_there(daemon.target, ledger) == len(ledger.versions) > CYCLES
        with grpc.insecure_channel(daemon.target) as channel:
            producers, _, _, _ = support.stubs(channel)
            name = support.create(producers, operation_id="after-the-crashes").name
            assert support.complete(producers, name, response=wrappers_pb2.StringValue(value="ok")).done
        verified = replay("verify", "--data-dir", first.data_dir)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        daemon.stop_and_check()
    finally:
        first.cleanup()


def test_a_flipped_byte_in_the_log_is_refused_with_the_command_to_run(make_daemon, longrund_binary):
    daemon = make_daemon().start().wait_ready()
    marker = b"FLIP-ME-7f3a9c"
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        for index in range(5):
            support.create(producers, operation_id=f"before-{index}")
        name = support.create(producers, operation_id="marked", metadata=wrappers_pb2.StringValue(value=marker.decode())).name
        support.create(producers, operation_id="after")
    daemon.stop_and_check()

    # Flip one byte of every copy of the marker: the logged event, its view, any stale page.
    path = os.path.join(daemon.data_dir, "data.mdb")
    data = bytearray(open(path, "rb").read())
    offsets = []
    start = data.find(marker)
    while start != -1:
        offsets.append(start)
        data[start + 3] ^= 0x20
        start = data.find(marker, start + 1)
    assert offsets, "the marker was not found in data.mdb"
    open(path, "wb").write(data)

    again = support.Daemon(longrund_binary, data_dir=daemon.data_dir)
    try:
        again.start()
        rc = again.wait_exit(30)
        assert rc not in (None, 0), f"longrund started on a damaged log\n{again.output()}"
        assert "longrun-replay verify" in again.stderr() and "event 6" in again.stderr(), again.output()
    finally:
        again.cleanup()

    verified = replay("verify", "--data-dir", daemon.data_dir)
    assert verified.returncode == 2, verified.stdout + verified.stderr
    assert "DATA_LOSS" in verified.stdout + verified.stderr and "6" in verified.stdout + verified.stderr
