"""The opt-in Prometheus endpoint (`longrund --metrics-listen`), scraped as Prometheus would: plain
HTTP GET /metrics, parsed from the text exposition, over TCP and over a Unix socket.

Each test reads the counters before and after a known number of calls, so a metric that does not
move, or moves by the wrong amount, fails.
"""

import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.request

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import wrappers_pb2

import support

OPERATIONS = "google.longrunning.Operations"
PRODUCERS = "longrun.v1.Producers"
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse(text):
    """[(name, {label: value}, float)] for every sample line of a text exposition."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        samples.append((name, dict(_LABEL.findall(labels or "")), float(value)))
    return samples


def value(samples, name, **labels):
    """The one sample named `name` whose labels include `labels`; 0 if there is none (a counter
    series appears at its first increment)."""
    found = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]
    assert len(found) <= 1, f"{name} {labels} matches {len(found)} series"
    return found[0] if found else 0.0


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4"), response.headers["Content-Type"]
        return parse(response.read().decode())


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def scrape_unix(path):
    connection = UnixHTTPConnection(path)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        assert response.status == 200
        return parse(response.read().decode())
    finally:
        connection.close()


def get_operation(channel, name):
    _, _, _, operations = support.stubs(channel)
    return operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)


def test_rpcs_transitions_and_gauges_are_scraped(make_daemon):
    port = free_port()
    daemon = make_daemon(args=["--metrics-listen", f"127.0.0.1:{port}"]).start().wait_ready()
    before = scrape(port)
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, admin, _ = support.stubs(channel)
        names = [support.create(producers).name for _ in range(3)]
        support.complete(producers, names[0], response=wrappers_pb2.StringValue(value="done"))
        for _ in range(5):
            get_operation(channel, names[1])
        with pytest.raises(grpc.RpcError) as missing:
            get_operation(channel, "operations/never-made")
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        from longrun.v1 import admin_pb2
        info = admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=10)
    after = scrape(port)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("longrun_rpc_requests_total", service=OPERATIONS, method="GetOperation", code="OK") == 5
    assert delta("longrun_rpc_requests_total", service=OPERATIONS, method="GetOperation", code="NOT_FOUND") == 1
    assert delta("longrun_rpc_requests_total", service=PRODUCERS, method="CreateOperation", code="OK") == 3
    assert delta("longrun_rpc_requests_total", service=PRODUCERS, method="CompleteOperation", code="OK") == 1
    assert delta("longrun_rpc_duration_seconds_count", service=OPERATIONS, method="GetOperation", code="OK") == 5
    assert value(after, "longrun_rpc_duration_seconds_sum", service=OPERATIONS, method="GetOperation", code="OK") > 0

    # Three creates and one completion: four events, in as many commits or fewer.
    assert delta("longrun_transitions_committed_total") == 4
    assert delta("longrun_log_head_sequence") == 4
    assert value(after, "longrun_log_head_sequence") == info.applied_sequence
    assert value(after, "longrun_applied_sequence") == info.applied_sequence
    assert value(after, "longrun_replay_lag_events") == 0
    commits = delta("longrun_commits_total")
    assert 1 <= commits <= 4
    assert delta("longrun_commit_batch_size_count") == commits
    assert delta("longrun_commit_duration_seconds_count") == commits
    assert value(after, "longrun_running_operations") == 2
    assert value(after, "longrun_live_operations") == 3
    assert value(after, "longrun_store_used_bytes") > 0
    assert value(after, "longrun_store_map_size_bytes") >= value(after, "longrun_store_used_bytes")
    assert value(after, "longrun_integrity_damaged_reads_total") == 0
    assert value(after, "longrun_waiters") == 0


def test_other_paths_and_methods_are_refused(make_daemon):
    port = free_port()
    make_daemon(args=["--metrics-listen", f"127.0.0.1:{port}"]).start().wait_ready()
    with pytest.raises(urllib.error.HTTPError) as not_found:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert not_found.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as not_allowed:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"x", method="POST"), timeout=10)
    assert not_allowed.value.code == 405


def test_a_unix_socket_endpoint(make_daemon):
    daemon = make_daemon()
    path = os.path.join(daemon.home, "m.sock")
    daemon.args = ["--metrics-listen", path]
    daemon.start().wait_ready()
    before = scrape_unix(path)
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        name = support.create(producers).name
        get_operation(channel, name)
        get_operation(channel, name)
    after = scrape_unix(path)
    labels = dict(service=OPERATIONS, method="GetOperation", code="OK")
    assert value(after, "longrun_rpc_requests_total", **labels) - value(before, "longrun_rpc_requests_total", **labels) == 2
    assert value(after, "longrun_transitions_committed_total") - value(before, "longrun_transitions_committed_total") == 1
    daemon.stop_and_check()
    assert not os.path.exists(path), "the metrics socket is left behind after a clean stop"


def test_an_address_in_use_fails_the_start_plainly(make_daemon):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        daemon = make_daemon(args=["--metrics-listen", f"127.0.0.1:{port}"]).start()
        assert daemon.wait_exit(30) == 1, daemon.output()
    assert f"cannot serve metrics on 127.0.0.1:{port}: the address is in use" in daemon.stderr(), daemon.output()
    assert not os.path.exists(daemon.socket)


def test_a_bad_address_is_a_usage_error(make_daemon):
    daemon = make_daemon(args=["--metrics-listen", "9464"]).start()
    assert daemon.wait_exit(30) not in (0, None), daemon.output()
    assert "--metrics-listen" in daemon.stderr(), daemon.output()


def test_damaged_reads_are_counted(make_daemon):
    lmdb = pytest.importorskip("lmdb")
    first = make_daemon().start().wait_ready()
    with grpc.insecure_channel(first.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        names = [support.create(producers, operation_id=f"op-{i}").name for i in range(3)]
    first.stop_and_check()
    # One bit of one operation's view flipped while the daemon is stopped, as a disk would.
    env = lmdb.open(first.data_dir, max_dbs=32, map_size=1 << 34, subdir=True)
    try:
        key = support.live_record_key(env, names[1])
        db = env.open_db(b"operations_by_creation", create=False)
        with env.begin(write=True, db=db) as txn:
            stored = bytearray(txn.get(key))
            stored[-3] ^= 0x08
            txn.put(key, bytes(stored))
    finally:
        env.close()

    port = free_port()
    daemon = make_daemon(data_dir=first.data_dir, args=["--metrics-listen", f"127.0.0.1:{port}"]).start().wait_ready()
    assert value(scrape(port), "longrun_integrity_damaged_reads_total") == 0
    with grpc.insecure_channel(daemon.target) as channel:
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as refused:
                get_operation(channel, names[1])
            assert refused.value.code() == grpc.StatusCode.DATA_LOSS
        assert get_operation(channel, names[0]).name == names[0]
    after = scrape(port)
    assert value(after, "longrun_integrity_damaged_reads_total") == 2
    assert value(after, "longrun_integrity_findings") == 1
    assert value(after, "longrun_rpc_requests_total", service=OPERATIONS, method="GetOperation", code="DATA_LOSS") == 2


def test_the_endpoint_holds_at_most_its_connections(make_daemon):
    """The endpoint may listen where anyone can connect, and each connection holds a file descriptor
    the daemon's gRPC clients need too: of 300 silent connections (any user can open them to
    127.0.0.1), 64 are served, 64 more wait two seconds for a request to answer 503, and the rest
    are closed at once. A scrape past the 64 is answered 503, saying why; the gRPC socket serves
    meanwhile; once the 64 close, a scrape is answered. Before, every connection was held, for as
    long as its client liked."""
    support.allow_open_files(4_096)
    port = free_port()
    daemon = make_daemon(args=["--metrics-listen", f"127.0.0.1:{port}"]).start().wait_ready()
    peers = []
    try:
        for _ in range(300):
            peer = socket.create_connection(("127.0.0.1", port), timeout=10)
            peer.setblocking(False)
            peers.append(peer)

        def closed():
            count = 0
            for peer in peers:
                try:
                    count += peer.recv(65536) == b""
                except BlockingIOError:
                    pass
                except ConnectionResetError:
                    count += 1
            return count

        deadline = time.monotonic() + 15
        while closed() < 300 - 64 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # and no more
        assert closed() == 300 - 64, f"{closed()} of 300 silent connections closed"
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(port)
        assert refused.value.code == 503
        assert "serves 64 connections at once" in refused.value.read().decode()
        with grpc.insecure_channel(daemon.target) as channel:
            _, _, _, operations = support.stubs(channel)
            operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
        for peer in peers:
            peer.close()
        peers = []
        deadline = time.monotonic() + 10
        while True:
            try:
                scrape(port)
                break
            except urllib.error.HTTPError as error:
                # The daemon sees the connections' end a moment after they close.
                assert error.code == 503 and time.monotonic() < deadline, error
                time.sleep(0.1)
    finally:
        for peer in peers:
            peer.close()


def test_pipelined_scrapes_are_answered_one_at_a_time_as_the_client_reads(make_daemon):
    """A client pipelines 20,000 scrapes and reads nothing for two seconds: the endpoint (which may
    listen on a network) takes no more of its requests while an answer waits for it, then answers
    every one as it reads. NIOHTTP1 hands on the next request as soon as a response is written:
    before, the daemon held every answer (161 MiB of them)."""
    port = free_port()
    daemon = make_daemon(args=["--metrics-listen", f"127.0.0.1:{port}"]).start().wait_ready()
    scrape(port)
    count = 20_000
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
    sender, grown = support.pipeline_without_reading(daemon.proc.pid, s, request, count)
    assert grown < 16 << 20, f"the daemon grew by {grown >> 20} MiB for a client that read nothing"
    for status, body in support.read_http_answers(s, count):
        assert status == 200 and b"longrun_" in body, body[:200]
    sender.join(timeout=30)
    s.close()
