"""longrund under a service manager, driven the way systemd drives it, without systemd: a listening
socket passed as fd 3 with LISTEN_PID/LISTEN_FDS (socket activation), and READY=1, STOPPING=1 and
WATCHDOG=1 datagrams sent to NOTIFY_SOCKET (Tools/systemd/longrund.{socket,service})."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import grpc
from google.longrunning import operations_pb2

import support

# What systemd does between fork and exec: the socket at fd 3, LISTEN_PID naming the process.
ACTIVATE = 'exec 3<&0 0</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=longrund.socket exec "$@"'


class Manager:
    def __init__(self, watchdog_usec=None, backlog=64):
        self.home = tempfile.mkdtemp(prefix="lr-sm-", dir="/tmp")
        self.socket_path = os.path.join(self.home, "longrund.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.socket_path)
        self.listener.listen(backlog)
        self.notify_path = os.path.join(self.home, "notify")
        self.notifications = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notifications.bind(self.notify_path)
        self.notifications.settimeout(30)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "LONGRUN"))}
        env["NOTIFY_SOCKET"] = self.notify_path
        if watchdog_usec:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        self.log = open(os.path.join(self.home, "log"), "wb")
        self.proc = subprocess.Popen(
            ["sh", "-c", ACTIVATE, "sh", support.binary("LONGRUND", "longrund"), "--data-dir", os.path.join(self.home, "data")],
            stdin=self.listener.fileno(), stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def receive(self):
        return self.notifications.recv(4096).decode()

    def output(self):
        self.log.flush()
        return open(os.path.join(self.home, "log")).read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.listener.close()
        self.notifications.close()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def test_socket_activation_and_readiness_stopping_notifications():
    manager = Manager()
    try:
        ready = manager.receive()
        assert ready.startswith("READY=1"), ready
        assert f"STATUS=serving on {manager.socket_path}" in ready, ready
        # The daemon serves on the manager's socket; it bound none of its own.
        with grpc.insecure_channel("unix:" + manager.socket_path) as channel:
            producers, _, _, operations = support.stubs(channel)
            name = support.create(producers, operation_id="activated").name
            assert operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10).name == name
        manager.proc.send_signal(signal.SIGTERM)
        stopping = manager.receive()
        assert stopping.startswith("STOPPING=1"), stopping
        assert manager.proc.wait(timeout=15) == 0, manager.output()
        # The socket is the manager's: the daemon leaves it in place.
        assert os.path.exists(manager.socket_path)
    finally:
        manager.close()


def test_the_backlog_the_manager_chose_is_kept():
    """systemd listens with its `Backlog=`, by default the most the kernel allows
    (net.core.somaxconn, 4,096 on current kernels). The daemon's socket library listened again with
    128, and the daemon then set its own 1,024 on the passed socket: clients connecting in a burst
    past that were refused (EAGAIN) although the manager had asked for more. A passed socket now
    gets the kernel's most: here 2,000 clients connect while the daemon is stopped, none refused,
    and it serves once it runs again."""
    with open("/proc/sys/net/core/somaxconn") as limit:
        clients = min(2_000, int(limit.read()))
    support.allow_open_files(clients + 256)
    manager = Manager(backlog=clients)
    peers = []
    try:
        assert manager.receive().startswith("READY=1")
        manager.proc.send_signal(signal.SIGSTOP)
        try:
            for index in range(clients):
                peer = socket.socket(socket.AF_UNIX)
                peer.setblocking(False)  # a full queue fails the connect at once
                try:
                    peer.connect(manager.socket_path)
                except OSError as error:
                    peer.close()
                    raise AssertionError(f"client {index} of {clients} refused: {error}")
                peers.append(peer)
        finally:
            manager.proc.send_signal(signal.SIGCONT)
        for peer in peers:
            peer.close()
        with grpc.insecure_channel("unix:" + manager.socket_path) as channel:
            _, _, _, operations = support.stubs(channel)
            operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
    finally:
        for peer in peers:
            peer.close()
        manager.close()


def test_the_watchdog_is_fed_at_half_the_interval_the_manager_asks_for():
    manager = Manager(watchdog_usec=400_000)
    try:
        assert manager.receive().startswith("READY=1")
        started = time.monotonic()
        pings = 0
        while time.monotonic() - started < 1.5:
            if manager.receive() == "WATCHDOG=1":
                pings += 1
        # About one every 200 ms; a loaded machine may be late, never silent.
        assert pings >= 3, f"{pings} WATCHDOG=1 in 1.5 s\n{manager.output()}"
    finally:
        manager.close()


def test_a_manager_passing_two_sockets_is_refused_with_what_to_change():
    home = tempfile.mkdtemp(prefix="lr-sm-", dir="/tmp")
    try:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(os.path.join(home, "a.sock"))
        listener.listen(1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "LONGRUN"))}
        # The count is checked before any descriptor: a unit with two ListenStream= lines.
        script = ACTIVATE.replace("LISTEN_FDS=1", "LISTEN_FDS=2")
        result = subprocess.run(["sh", "-c", script, "sh", support.binary("LONGRUND", "longrund"), "--data-dir", os.path.join(home, "data")],
                                stdin=listener.fileno(), capture_output=True, text=True, timeout=30, env=env)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("longrund: "), result.stderr
        assert "LISTEN_FDS=2" in result.stderr and "exactly one" in result.stderr, result.stderr
        assert not os.path.exists(os.path.join(home, "data")), "a store was created"
        listener.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_socket_activation_passes_the_http_socket_named_http():
    """Two sockets, as longrund.socket and longrund-http.socket (FileDescriptorName=http) pass them:
    the daemon serves gRPC on one and HTTP/JSON on the other, and leaves both files to the manager."""
    home = tempfile.mkdtemp(prefix="lr-sm-", dir="/tmp")
    listeners = []
    log = open(os.path.join(home, "log"), "wb")
    proc = None
    try:
        paths = [os.path.join(home, "longrund.sock"), os.path.join(home, "web.sock")]
        for path in paths:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(64)
            listeners.append(s)
        n = listeners[1].fileno()
        # bash: dash takes single-digit descriptors only. fd 4 first, in case n is 3.
        script = (f'exec 4<&{n}; exec 3<&0 0</dev/null; ' + (f'exec {n}<&-; ' if n not in (3, 4) else '')
                  + 'LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=longrund.socket:http exec "$@"')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "LONGRUN"))}
        proc = subprocess.Popen(["bash", "-c", script, "bash", support.binary("LONGRUND", "longrund"),
                                 "--data-dir", os.path.join(home, "data")],
                                stdin=listeners[0].fileno(), pass_fds=(n,), stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while True:
            out = subprocess.run(["curl", "-sS", "--unix-socket", paths[1], "http://localhost/v1/operations"],
                                 capture_output=True, text=True, timeout=30)
            if out.returncode == 0 and out.stdout.strip() == "{}":
                break
            assert proc.poll() is None, open(os.path.join(home, "log")).read()
            assert time.monotonic() < deadline, (out.stdout, out.stderr)
            time.sleep(0.1)
        with grpc.insecure_channel("unix:" + paths[0]) as ch:
            support.stubs(ch)[3].ListOperations(operations_pb2.ListOperationsRequest(), timeout=10)
        assert not os.path.exists(os.path.join(home, "longrund-http.sock")), "bound a socket of its own too"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, open(os.path.join(home, "log")).read()
        assert all(os.path.exists(p) for p in paths), "the manager's sockets were removed"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in listeners:
            s.close()
        log.close()
        shutil.rmtree(home, ignore_errors=True)
