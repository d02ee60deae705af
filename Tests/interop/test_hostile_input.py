"""Hostile input on the socket: longrund stays up, keeps serving a well-behaved client, and its
store verifies afterwards.

Every test runs its attack while a well-behaved grpcio client creates and reads operations in a
loop on its own channel. The client must keep making progress through and after the attack (it
waits for a number of further round trips, not for a time), every one of its calls must succeed,
the daemon must be the same process, and `longrun-replay verify` must pass on the data directory.

Frames are crafted with `h2` (valid HTTP/2 that the server accepts, to reach the gRPC layer) and
by hand (frame headers that lie).
"""

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import grpc
import pytest

import support

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# Frame types and flags (RFC 9113 §6).
DATA, HEADERS, SETTINGS, CONTINUATION = 0x0, 0x1, 0x4, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4
PROGRESS_TIMEOUT = 60.0
# grpcio shares one connection among the channels of a process to the same target; the attacks on
# grpcio channels must not share the good client's connection (the server may close a connection
# that sent a bad header block, failing every call on it).
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def frame(kind, flags, stream, payload, length=None):
    """One HTTP/2 frame; `length` lets the header announce a different length than the payload's."""
    size = len(payload) if length is None else length
    return struct.pack(">I", size)[1:] + bytes([kind, flags]) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


def replay(*args):
    return subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), *args],
                          capture_output=True, text=True, timeout=120)


class WellBehavedClient:
    """Create then Get, in a loop, on its own channel; counts round trips and records every error."""

    def __init__(self, target):
        self.channel = grpc.insecure_channel(target, options=OWN_CONNECTION)
        self.producers, _, _, self.operations = support.stubs(self.channel)
        self.round_trips = 0
        self.errors = []
        self.names = []
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        self.wait_for_progress(5)  # serving before the attack starts
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        self.channel.close()

    def _run(self):
        from google.longrunning import operations_pb2

        while not self._stop.is_set():
            try:
                created = support.create(self.producers)
                got = self.operations.GetOperation(operations_pb2.GetOperationRequest(name=created.name), timeout=10)
                assert got.name == created.name and not got.done, (created, got)
                with self._lock:
                    self.names.append(created.name)
                    self.round_trips += 1
                    self._lock.notify_all()
            except Exception as error:  # noqa: BLE001 - every failure of the good client is a finding
                with self._lock:
                    self.errors.append(repr(error))
                    self._lock.notify_all()
                time.sleep(0.05)

    def wait_for_progress(self, count):
        """Blocks until `count` more round trips succeeded (fails the test on a client error)."""
        with self._lock:
            target = self.round_trips + count
            deadline = time.monotonic() + PROGRESS_TIMEOUT
            while self.round_trips < target and not self.errors:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"the well-behaved client made no progress for {PROGRESS_TIMEOUT:.0f} s"
                self._lock.wait(remaining)
            assert not self.errors, f"the well-behaved client saw errors: {self.errors[:3]}"


@contextlib.contextmanager
def guarding(daemon):
    """Yields a well-behaved client; afterwards checks it kept going without errors, the daemon is
    the same live process, and the store verifies."""
    pid = daemon.proc.pid
    with WellBehavedClient(daemon.target) as client:
        yield client
        client.wait_for_progress(20)  # still serving after the attack
    assert daemon.running(), f"longrund died\n{daemon.output()}"
    assert daemon.proc.pid == pid
    assert not client.errors, client.errors[:3]
    verified = replay("verify", "--data-dir", daemon.data_dir)
    assert verified.returncode == 0, f"verify failed\n{verified.stdout}\n{verified.stderr}"
    # Everything the client was told is committed is there.
    with grpc.insecure_channel(daemon.target) as channel:
        from google.longrunning import operations_pb2

        _, _, _, operations = support.stubs(channel)
        for name in client.names[:: max(1, len(client.names) // 50)]:
            operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)


@pytest.fixture
def guarded(fresh_daemon):
    """(daemon, well-behaved client), checked as `guarding` says."""
    with guarding(fresh_daemon) as client:
        yield fresh_daemon, client


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)  # blocking: a full accept backlog makes a non-blocking connect fail with EAGAIN
    s.settimeout(10)
    return s


def drain_until_closed(s, limit=1 << 20):
    """Reads what the server answers until it closes the connection (or `limit` bytes / a timeout)."""
    received = b""
    try:
        while len(received) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    return received


def send_and_close(path, data, wait_for_close=True):
    s = connect(path)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return b""  # the server already hung up: fine
        return drain_until_closed(s) if wait_for_close else b""
    finally:
        s.close()


def abort(s):
    """Closes with a reset (SO_LINGER 0) where the socket type allows, else plainly."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def h2_connection():
    import h2.config
    import h2.connection

    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    return conn


def grpc_headers(method, extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", method), (":authority", "localhost"),
            ("content-type", "application/grpc"), ("te", "trailers"), *extra]


def grpc_message(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


# ---- the attacks ------------------------------------------------------------------------------------

def test_garbage_bytes(guarded):
    daemon, client = guarded
    for seed in range(5):
        send_and_close(daemon.socket, os.urandom(64 << 10))
    send_and_close(daemon.socket, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    send_and_close(daemon.socket, b"\x00" * 100_000)
    client.wait_for_progress(10)


def test_valid_preface_then_garbage(guarded):
    daemon, client = guarded
    for _ in range(5):
        answer = send_and_close(daemon.socket, PREFACE + os.urandom(32 << 10))
        # The server speaks HTTP/2 back (its SETTINGS, then GOAWAY) before closing, or just closes.
        assert answer == b"" or answer[3] == SETTINGS, answer[:32]
    client.wait_for_progress(10)


def test_truncated_frames(guarded):
    daemon, client = guarded
    settings = frame(SETTINGS, 0, 0, b"")
    cases = [
        PREFACE + frame(SETTINGS, 0, 0, b"\x00\x01" + b"\x00\x00", length=1000),   # announces 1000, sends 4
        PREFACE + settings + frame(HEADERS, END_HEADERS, 1, b"\x82\x86", length=16000),
        PREFACE + settings + frame(DATA, 0, 1, b"\x00\x00\x00", length=0xFFFFFF),  # beyond any max frame size
        PREFACE + settings + b"\x00\x00",                                           # half a frame header
        PREFACE[:10],                                                               # half a preface
    ]
    for data in cases:
        send_and_close(daemon.socket, data, wait_for_close=False)
    client.wait_for_progress(10)


def test_headers_with_bad_hpack(guarded):
    daemon, client = guarded
    settings = frame(SETTINGS, 0, 0, b"")
    bad_blocks = [
        b"\xff\xff\xff\xff\xff\xff\xff\x7f",          # an index integer that overflows
        b"\xbf\xff\x00",                              # indexed field far beyond the tables
        b"\x40\x7f\xff\xff\xff\x0f" + b"a" * 10,      # literal whose length exceeds the frame
        b"\x3f\xe1\xff\x03",                          # dynamic table size update above the limit
        os.urandom(300),
    ]
    for block in bad_blocks:
        answer = send_and_close(daemon.socket, PREFACE + settings + frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        assert answer == b"" or answer[3] == SETTINGS, answer[:32]
    client.wait_for_progress(10)


def test_many_connections_dropped_mid_request(guarded):
    from google.longrunning import operations_pb2
    from longrun.v1 import producers_pb2

    daemon, client = guarded
    create = producers_pb2.CreateOperationRequest(operation_id=support.unique_id("dropped")).SerializeToString()
    get = operations_pb2.GetOperationRequest(name="operations/nothing-here").SerializeToString()
    for round_ in range(10):
        sockets = []
        for index in range(30):
            conn = h2_connection()
            method = "/longrun.v1.Producers/CreateOperation" if index % 2 else "/google.longrunning.Operations/GetOperation"
            body = grpc_message(create if index % 2 else get)
            conn.send_headers(1, grpc_headers(method))
            conn.send_data(1, body[: len(body) // 2])  # half the message, no END_STREAM
            s = connect(daemon.socket)
            s.sendall(conn.data_to_send())
            sockets.append(s)
        for s in sockets:
            abort(s)
    client.wait_for_progress(10)


def test_writes_reset_or_abandoned_after_they_were_sent_whole(guarded):
    # A write the daemon queued is answered after its commit: by then the client may have reset the
    # stream or closed the connection. The answer must go nowhere, quietly.
    from longrun.v1 import producers_pb2

    daemon, client = guarded
    for round_ in range(5):
        conn = h2_connection()
        s = connect(daemon.socket)
        for index in range(50):
            stream = conn.get_next_available_stream_id()
            create = producers_pb2.CreateOperationRequest(operation_id=support.unique_id("reset")).SerializeToString()
            conn.send_headers(stream, grpc_headers("/longrun.v1.Producers/CreateOperation"))
            conn.send_data(stream, grpc_message(create), end_stream=True)
            conn.reset_stream(stream)
        s.sendall(conn.data_to_send())
        abandoned = []
        for index in range(20):
            conn = h2_connection()
            create = producers_pb2.CreateOperationRequest(operation_id=support.unique_id("abandoned")).SerializeToString()
            conn.send_headers(1, grpc_headers("/longrun.v1.Producers/CreateOperation"))
            conn.send_data(1, grpc_message(create), end_stream=True)
            a = connect(daemon.socket)
            a.sendall(conn.data_to_send())
            abandoned.append(a)
        for a in abandoned:
            abort(a)
        abort(s)
    client.wait_for_progress(10)


def send_oversized(target):
    """CreateOperation with metadata above the daemon's maximum request size (4 MiB by default,
    LongrunServer.Configuration.maximumRequestBytes); returns the failure. Checks that nothing was
    created and that the channel still works."""
    from google.longrunning import operations_pb2
    from google.protobuf import wrappers_pb2

    maximum = 4 << 20
    with grpc.insecure_channel(target, options=OWN_CONNECTION) as channel:
        producers, _, _, operations = support.stubs(channel)
        name = support.unique_id("huge")
        with pytest.raises(grpc.RpcError) as failure:
            support.create(producers, operation_id=name, metadata=wrappers_pb2.BytesValue(value=os.urandom(maximum + (64 << 10))))
        assert support.create(producers, metadata=wrappers_pb2.BytesValue(value=b"x" * (64 << 10))).name
        with pytest.raises(grpc.RpcError) as missing:
            operations.GetOperation(operations_pb2.GetOperationRequest(name=f"operations/{name}"), timeout=10)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    return failure.value


def test_oversized_message_is_refused(guarded):
    daemon, client = guarded
    for _ in range(3):
        error = send_oversized(daemon.target)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    client.wait_for_progress(10)


def test_oversized_message_gets_resource_exhausted(fresh_daemon):
    # CreateOperation is answered by the fast path on the connection (FastPathStreams), which
    # refuses the message unread with RESOURCE_EXHAUSTED. (grpc-swift-nio-transport, for the calls
    # it serves, resets the stream instead: RST_STREAM CANCEL, seen as CANCELLED.)
    error = send_oversized(fresh_daemon.target)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error


def test_messages_never_finished_on_many_streams_hold_no_more_than_the_uid_may(make_daemon):
    """Three connections of 100 streams each, every stream announcing a 4 MiB message and sending
    all the windows let it, never its end: the daemon holds no more than the uid's limit of request
    bytes arriving (--max-buffered-bytes-per-peer, here room for three such messages) and
    refuses the rest at once, RESOURCE_EXHAUSTED (TOO_MANY_PENDING_BYTES), on both paths
    (CreateOperation is answered from the connection's frames, Health/Check by grpc-swift's
    router). Without the limit one connection of 200 such streams took the daemon from 36 MB to
    857 MB, and the streams a connection may open (17,664) are enough for 70 GB."""
    import h2.events
    import h2.exceptions
    import h2.settings
    from google.protobuf import wrappers_pb2

    announced = 4 << 20
    limit = 3 * (announced + 5)
    daemon = make_daemon(args=["--max-buffered-bytes-per-peer", str(limit)]).start().wait_ready()
    with guarding(daemon) as client:
        before = support.anonymous_resident_bytes(daemon.proc.pid)
        paths = ["/longrun.v1.Producers/CreateOperation", "/grpc.health.v1.Health/Check"]
        connections = []
        for _ in range(3):
            s = connect(daemon.socket)
            conn = h2_connection()
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 30})
            s.sendall(conn.data_to_send())
            conn.receive_data(s.recv(65536))  # the server's SETTINGS: its stream limit is over 100
            s.sendall(conn.data_to_send())
            streams = {}
            for index in range(100):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, grpc_headers(paths[index % 2]))
                conn.send_data(stream, b"\x00" + struct.pack(">I", announced))
                streams[stream] = 5
            s.sendall(conn.data_to_send())
            s.setblocking(False)
            connections.append((s, conn, streams))

        refusals, peak, chunk = [], before, bytes(16384)
        last_progress = time.monotonic()
        while time.monotonic() - last_progress < 3:
            for s, conn, streams in connections:
                try:
                    events = conn.receive_data(s.recv(1 << 20))
                except BlockingIOError:
                    events = []
                for event in events:
                    if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                        headers = dict(event.headers)
                        if "grpc-status" in headers:
                            refusals.append((headers["grpc-status"], headers.get("grpc-message", "")))
                    if isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                        streams.pop(event.stream_id, None)
                for stream, sent in list(streams.items()):
                    try:
                        size = min(conn.local_flow_control_window(stream), len(chunk), announced + 5 - sent)
                    except h2.exceptions.StreamClosedError:
                        streams.pop(stream)
                        continue
                    if size > 0:
                        conn.send_data(stream, chunk[:size])
                        streams[stream] = sent + size
                        last_progress = time.monotonic()
                pending = conn.data_to_send()
                if pending:
                    s.setblocking(True)
                    s.sendall(pending)
                    s.setblocking(False)
            peak = max(peak, support.anonymous_resident_bytes(daemon.proc.pid))
            time.sleep(0.01)

        held = sum(len(streams) for _, _, streams in connections)
        assert held == 3, f"{held} streams are held, not the 3 messages of 4 MiB the limit has room for"
        assert peak - before < 100 << 20, f"the daemon grew by {(peak - before) >> 20} MiB"
        assert len(refusals) == 297, refusals[:3]
        assert all(code == "8" and "max-buffered-bytes-per-peer" in message for code, message in refusals), refusals[:3]
        with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as channel:
            producers, _, _, _ = support.stubs(channel)
            # Even a small message that arrives in pieces is refused while the three are held...
            with pytest.raises(grpc.RpcError) as refused:
                support.create(producers, metadata=wrappers_pb2.BytesValue(value=bytes(100_000)))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
            # ...one that arrives in one read is not held...
            support.create(producers, metadata=wrappers_pb2.BytesValue(value=bytes(1_000)))
            for s, _, _ in connections:
                s.close()
            # ...and what the closed connections held is given back.
            deadline = time.monotonic() + 10
            while True:
                try:
                    support.create(producers, metadata=wrappers_pb2.BytesValue(value=bytes(1_000_000)))
                    break
                except grpc.RpcError as error:
                    # The daemon may see a connection's end a moment after the client closes it.
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < deadline, error
                    time.sleep(0.1)


def test_a_peer_that_reads_no_answers_has_its_connection_closed_past_its_uids_limit(make_daemon):
    """A client asks for a 1 MB operation on 1,000 streams of one connection and reads none of the
    answers (its HTTP/2 windows stay shut): past the uid's limit of answers not read
    (--max-buffered-bytes-per-peer, here 16 MiB) the daemon closes that connection, says so in its
    log with the peer's pid, and gives the memory back; other connections are not affected.
    Without the limit, 3,000 such requests made the daemon hold 2.9 GB."""
    import h2.exceptions
    import h2.settings
    from google.longrunning import operations_pb2
    from google.protobuf import wrappers_pb2

    daemon = make_daemon(args=["--max-buffered-bytes-per-peer", str(16 << 20)]).start().wait_ready()
    with guarding(daemon) as client:
        with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as channel:
            producers, _, _, operations = support.stubs(channel)
            name = support.create(producers, metadata=wrappers_pb2.BytesValue(value=os.urandom(1_000_000))).name
            before = support.anonymous_resident_bytes(daemon.proc.pid)
            request = grpc_message(operations_pb2.GetOperationRequest(name=name).SerializeToString())
            s = connect(daemon.socket)
            conn = h2_connection()
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
            s.sendall(conn.data_to_send())
            closed_by_daemon, peak, sent = False, before, 0
            deadline = time.monotonic() + 30
            try:
                while not closed_by_daemon and time.monotonic() < deadline:
                    if sent < 1_000:
                        for _ in range(50):
                            stream = conn.get_next_available_stream_id()
                            conn.send_headers(stream, grpc_headers("/google.longrunning.Operations/GetOperation"))
                            conn.send_data(stream, request, end_stream=True)
                            sent += 1
                        s.sendall(conn.data_to_send())
                    # The server's frames are taken in (its window updates let the requests go
                    # on), and its answers' bytes never acknowledged.
                    try:
                        received = s.recv(1 << 20)
                    except socket.timeout:
                        break  # the daemon holds the answers and waits
                    closed_by_daemon = not received
                    conn.receive_data(received)
                    peak = max(peak, support.anonymous_resident_bytes(daemon.proc.pid))
            except (ConnectionResetError, BrokenPipeError, h2.exceptions.ProtocolError):
                closed_by_daemon = True
            s.close()
            assert closed_by_daemon, f"the daemon kept a connection that read nothing of {sent} answers"
            assert sent < 1_000, "the connection was closed only after every request was sent"
            assert peak - before < 100 << 20, f"the daemon grew by {(peak - before) >> 20} MiB"
            assert "closing a connection whose peer does not read its answers" in daemon.output()
            assert f"pid={os.getpid()}" in daemon.output()
            # The same uid, reading its answers, is served: what the closed connection held is
            # no longer charged to it.
            for _ in range(20):
                got = operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)
                assert got.name == name


def test_a_producer_stream_whose_answers_are_not_read_stops_being_read(make_daemon):
    """A producer sends updates carrying 256 KiB of metadata each on StreamTransitions and reads
    none of the answers (its HTTP/2 windows stay shut), each answer carrying the same 256 KiB: the
    daemon stops reading the stream once its answers wait to be written, instead of applying every
    update and holding every answer. Before, all 600 were read and applied and the daemon grew by
    252 MiB (as much as the client sent); now 75 are read, and it grows by 29 MiB."""
    import h2.exceptions
    import h2.settings
    from google.longrunning import operations_pb2
    from google.protobuf import any_pb2
    from longrun.v1 import producers_pb2

    count, size = 600, 256 << 10
    daemon = make_daemon().start().wait_ready()
    with guarding(daemon) as client:
        with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as channel:
            producers, _, _, operations = support.stubs(channel)
            name = support.create(producers).name
            metadata = any_pb2.Any(type_url="type.googleapis.com/google.protobuf.BytesValue", value=os.urandom(size))
            message = grpc_message(producers_pb2.TransitionRequest(
                tag=1, update=producers_pb2.UpdateOperationRequest(name=name, metadata=metadata)).SerializeToString())
            outgoing = message * count
            before = support.anonymous_resident_bytes(daemon.proc.pid)
            s = connect(daemon.socket)
            s.settimeout(2)
            conn = h2_connection()
            conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
            s.sendall(conn.data_to_send())
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, grpc_headers("/longrun.v1.Producers/StreamTransitions"))
            s.sendall(conn.data_to_send())
            peak, offset = before, 0
            deadline = time.monotonic() + 30
            try:
                while offset < len(outgoing) and time.monotonic() < deadline:
                    # As much as the daemon's windows take: it stops opening them when it stops
                    # reading the stream.
                    while offset < len(outgoing) and conn.local_flow_control_window(stream) > 0:
                        chunk = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, len(outgoing) - offset)
                        conn.send_data(stream, outgoing[offset:offset + chunk])
                        offset += chunk
                    s.sendall(conn.data_to_send())
                    try:
                        received = s.recv(1 << 20)
                    except socket.timeout:
                        break  # the daemon reads no more of the stream
                    assert received, "the daemon closed the connection"
                    conn.receive_data(received)
                    s.sendall(conn.data_to_send())
                    peak = max(peak, support.anonymous_resident_bytes(daemon.proc.pid))
            except (ConnectionResetError, BrokenPipeError, h2.exceptions.ProtocolError) as error:
                pytest.fail(f"the daemon closed the connection: {error}")
            time.sleep(1)
            peak = max(peak, support.anonymous_resident_bytes(daemon.proc.pid))
            # Other calls of the same uid are served meanwhile.
            got = operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)
            s.close()
            sent = offset // len(message)
            assert sent < count, f"the daemon read all {sent} updates of a stream whose answers were not read"
            assert peak - before < 64 << 20, f"the daemon grew by {(peak - before) >> 20} MiB for {sent} updates"
            assert got.name == name


def test_calls_a_uid_may_hold_open_are_counted_over_all_its_connections(make_daemon):
    """Two connections of 1,000 streams each that send their request headers and nothing more,
    half answered on the event loop (GetOperation) and half through grpc-swift's router
    (Health/Check, a child channel and a task each, about 20 KB): the uid may hold as many calls
    open as one connection may carry (its waits and watches and 1,024 more, here 1,134), over all
    its connections; past that a call is refused at once, RESOURCE_EXHAUSTED (TOO_MANY_OPEN_CALLS),
    another connection of the same uid included, until some end. Before, every stream was held."""
    from google.longrunning import operations_pb2

    daemon = make_daemon(args=["--max-waits-per-peer", "100", "--max-watches-per-peer", "10"]).start().wait_ready()
    paths = ["/google.longrunning.Operations/GetOperation", "/grpc.health.v1.Health/Check"]
    connections, refusals = [], []
    for _ in range(2):
        s = connect(daemon.socket)
        conn = h2_connection()
        s.sendall(conn.data_to_send())
        conn.receive_data(s.recv(65536))  # the server's SETTINGS: its stream limit is 1,134
        s.sendall(conn.data_to_send())
        for index in range(1_000):
            conn.send_headers(conn.get_next_available_stream_id(), grpc_headers(paths[index % 2]))
        s.sendall(conn.data_to_send())
        connections.append((s, conn))
    import h2.events

    deadline = time.monotonic() + 10
    while len(refusals) < 866 and time.monotonic() < deadline:
        for s, conn in connections:
            s.settimeout(0.2)
            try:
                events = conn.receive_data(s.recv(1 << 20))
            except socket.timeout:
                continue
            refusals += [dict(e.headers) for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert len(refusals) == 2_000 - 1_134, f"{len(refusals)} refused"
    assert all(r["grpc-status"] == "8" and "calls open on its connections" in r["grpc-message"] for r in refusals), refusals[:2]
    with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as channel:
        _, _, _, operations = support.stubs(channel)
        with pytest.raises(grpc.RpcError) as refused:
            operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
        for s, _ in connections:
            s.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
                break
            except grpc.RpcError as error:
                # The daemon may see the connections' end a moment after they close.
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < deadline, error
                time.sleep(0.1)


def test_connections_a_uid_may_hold_open_are_capped(make_daemon):
    """Every connection holds memory until it closes, 25-30 KB even idle, and the daemon's
    descriptors allow half a million: one uid may hold `--max-connections-per-peer` of them (here
    50). Past that, each call on a new connection is refused at once, RESOURCE_EXHAUSTED
    (TOO_MANY_CONNECTIONS), and the connection is closed soon after; past the refusals explained
    that way, a connection is closed unanswered. The uid's connections already open go on, and once
    they close a new one is served. Before, 2,000 idle connections were all held."""
    from google.longrunning import operations_pb2

    support.allow_open_files(4_096)
    daemon = make_daemon(args=["--max-connections-per-peer", "50"]).start().wait_ready()
    listing = operations_pb2.ListOperationsRequest(name="operations")
    peers = []
    try:
        with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as kept:
            _, _, _, operations = support.stubs(kept)
            operations.ListOperations(listing, timeout=10)  # one of the uid's 50
            before = support.anonymous_resident_bytes(daemon.proc.pid)
            for _ in range(2_000):
                peer = socket.socket(socket.AF_UNIX)
                peer.connect(daemon.socket)
                peer.sendall(PREFACE + frame(SETTINGS, 0, 0, b""))
                peer.setblocking(False)
                peers.append(peer)
            closed, deadline = set(), time.monotonic() + 15
            while len(closed) < 2_000 - 49 and time.monotonic() < deadline:
                time.sleep(0.1)
                for index, peer in enumerate(peers):
                    with contextlib.suppress(BlockingIOError):
                        try:
                            while peer.recv(65536):
                                pass
                        except ConnectionResetError:
                            pass
                        closed.add(index)
            grown = support.anonymous_resident_bytes(daemon.proc.pid) - before
            assert len(closed) == 2_000 - 49, f"{len(closed)} of 2,000 idle connections closed"
            assert grown < 16 << 20, f"the daemon grew by {grown >> 20} MiB for 2,000 idle connections"
            with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as another:
                with pytest.raises(grpc.RpcError) as refused:
                    support.stubs(another)[3].GetOperation(operations_pb2.GetOperationRequest(name="operations/x"), timeout=10)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value
                assert support.error_info(refused.value).reason == "TOO_MANY_CONNECTIONS"
                assert "--max-connections-per-peer" in refused.value.details()
            operations.ListOperations(listing, timeout=10)  # the connection the uid had goes on
            for peer in peers:
                peer.close()
            peers = []
            deadline = time.monotonic() + 10
            while True:
                with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as another:
                    try:
                        support.stubs(another)[3].ListOperations(listing, timeout=10)
                        break
                    except grpc.RpcError as error:
                        # The daemon may see the connections' end a moment after they close.
                        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() < deadline, error
                        time.sleep(0.1)
        assert "refusing connections" in daemon.stderr() and "--max-connections-per-peer" in daemon.stderr()
    finally:
        for peer in peers:
            peer.close()


def test_huge_metadata_header(guarded):
    from google.longrunning import operations_pb2

    daemon, client = guarded
    with grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as channel:
        _, _, _, operations = support.stubs(channel)
        for size in (64 << 10, 1 << 20):
            with pytest.raises(grpc.RpcError) as failure:
                operations.GetOperation(operations_pb2.GetOperationRequest(name="operations/x"), timeout=10,
                                        metadata=[("x-padding", "a" * size)])
            assert failure.value.code() != grpc.StatusCode.OK
    # The same by hand: a header block of 4 MiB in CONTINUATION frames that never ends.
    conn = h2_connection()
    s = connect(daemon.socket)
    try:
        s.sendall(conn.data_to_send())
        block = b"\x00\x05x-pad\x7f\x81\xff\x03" + b"a" * 16384  # a literal header whose value is one frame long
        s.sendall(frame(HEADERS, 0, 1, block[:16384]))
        try:
            for _ in range(256):
                s.sendall(frame(CONTINUATION, 0, 1, b"a" * 16384))
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the server gave up on the connection: good
    finally:
        abort(s)
    client.wait_for_progress(10)


CHILD = textwrap.dedent("""
    import sys, grpc
    sys.path[:0] = sys.argv[3].split(":")
    from google.longrunning import operations_pb2, operations_pb2_grpc
    from longrun.v1 import history_pb2, history_pb2_grpc
    from google.protobuf import duration_pb2
    channel = grpc.insecure_channel(sys.argv[1])
    ops = operations_pb2_grpc.OperationsStub(channel)
    history = history_pb2_grpc.HistoryStub(channel)
    waits = [ops.WaitOperation.future(operations_pb2.WaitOperationRequest(
        name=sys.argv[2], timeout=duration_pb2.Duration(seconds=3000)), timeout=3000) for _ in range(int(sys.argv[4]))]
    watches = [history.WatchOperations(history_pb2.WatchOperationsRequest(name="")) for _ in range(int(sys.argv[5]))]
    for watch in watches:
        next(watch)   # the server is streaming to us
    assert not any(wait.done() for wait in waits), [wait.exception() for wait in waits if wait.done()]
    print("ready", flush=True)
    sys.stdin.read()  # until killed
""")


WAITS, WATCHES = 20, 5


def quota_is_free(target, name):
    """True if this uid can open all its WAITS waits and WATCHES watches at once now, i.e. the daemon
    released every wait and watch of the killed clients (the quota is per uid, and they ran as us)."""
    from google.longrunning import operations_pb2
    from google.protobuf import duration_pb2
    from longrun.v1 import history_pb2

    with grpc.insecure_channel(target, options=OWN_CONNECTION) as channel:
        _, history, _, operations = support.stubs(channel)
        watches = [history.WatchOperations(history_pb2.WatchOperationsRequest(name=""), timeout=30) for _ in range(WATCHES)]
        waits = [operations.WaitOperation.future(operations_pb2.WaitOperationRequest(
            name=name, timeout=duration_pb2.Duration(seconds=1)), timeout=30) for _ in range(WAITS)]
        try:
            for watch in watches:
                next(watch)
            for wait in waits:
                assert not wait.result().done  # the 1 s wait ended with the running operation
            return True
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return False
            raise
        finally:
            for watch in watches:
                watch.cancel()


def test_clients_that_vanish_during_wait_and_watch(make_daemon):
    """Clients killed while they hold the most WaitOperation calls and watch streams their uid may
    have: the daemon releases them all (the same uid can open as many again), and commits that
    wake them do no harm."""
    from google.longrunning import operations_pb2

    daemon = make_daemon(args=["--max-waits-per-peer", str(WAITS), "--max-watches-per-peer", str(WATCHES)]).start().wait_ready()
    with guarding(daemon) as client, grpc.insecure_channel(daemon.target, options=OWN_CONNECTION) as channel:
        producers, _, _, operations = support.stubs(channel)
        waited = support.create(producers)
        paths = ":".join(p for p in sys.path if p)
        for round_ in range(3):
            child = subprocess.Popen([sys.executable, "-c", CHILD, daemon.target, waited.name, paths, str(WAITS), str(WATCHES)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = child.stdout.readline()
                assert line.strip() == "ready", f"child: {line!r} {child.stderr.read() if child.poll() is not None else ''}"
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=10)
            # Commits after the vanished clients: their waiters and watchers are woken into closed streams.
            support.update(producers, waited.name)
            client.wait_for_progress(5)
            deadline = time.monotonic() + 60
            while not quota_is_free(daemon.target, waited.name):
                assert time.monotonic() < deadline, "the killed client's waits and watches were never released"
        support.complete(producers, waited.name, response=operations_pb2.GetOperationRequest(name="done"))
        got = operations.GetOperation(operations_pb2.GetOperationRequest(name=waited.name), timeout=10)
        assert got.done


@pytest.mark.parametrize("greeting", [b"", PREFACE + frame(SETTINGS, 0, 0, b"")], ids=["silent", "http2-then-silent"])
def test_a_client_that_never_answers_does_not_hold_shutdown(make_daemon, greeting):
    """SIGTERM ends the daemon, with exit 0, although a connection never answers its GOAWAY; this
    held the graceful shutdown open forever before it was bounded."""
    daemon = make_daemon().start().wait_ready()
    s = connect(daemon.socket)
    try:
        s.sendall(greeting)
        with grpc.insecure_channel(daemon.target) as channel:  # served meanwhile
            producers, _, _, _ = support.stubs(channel)
            support.create(producers)
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.wait_exit(30)
        assert code == 0, f"longrund {'is still running' if code is None else f'exited {code}'} after SIGTERM\n{daemon.output()}"
    finally:
        s.close()


def test_a_protocol_error_ends_the_connection_and_is_in_the_debug_log_with_its_peer(make_daemon):
    """A client that breaks HTTP/2 is answered GOAWAY with the error, and the daemon closes the
    connection (RFC 9113, 5.4.1; it stayed open until the client hung up) and says at debug which
    error and which process (nothing logged it)."""
    daemon = make_daemon(args=["--log-level", "debug"]).start().wait_ready()
    settings = frame(SETTINGS, 0, 0, b"")
    # A client may only open odd-numbered streams: HEADERS on stream 2 is a connection error.
    started = time.monotonic()
    answer = send_and_close(daemon.socket, PREFACE + settings + frame(HEADERS, END_HEADERS | END_STREAM, 2, b"\x82\x86"))
    assert time.monotonic() - started < 5, "the daemon left the connection open after its GOAWAY"
    goaway = answer.find(bytes([0x07, 0x00, 0x00, 0x00, 0x00, 0x00]))  # type GOAWAY, no flags, stream 0
    assert goaway >= 3 and answer[goaway + 10:goaway + 14] == b"\x00\x00\x00\x01", answer.hex()  # PROTOCOL_ERROR
    deadline = time.monotonic() + 10
    while "error on a client connection" not in daemon.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in daemon.stderr().splitlines() if "error on a client connection" in line]
    assert lines, daemon.output()
    assert f"pid={os.getpid()}" in lines[0], lines[0]


def test_connections_closed_for_protocol_errors_are_warned_of_once_a_minute(make_daemon):
    """At the default log level: the client whose calls failed has an operator who will ask why,
    and a peer that breaks the protocol on purpose must not flood the log. Five broken connections
    in a row give one warning, naming the error and the peer."""
    daemon = make_daemon().start().wait_ready()
    broken = PREFACE + frame(SETTINGS, 0, 0, b"") + frame(HEADERS, END_HEADERS | END_STREAM, 2, b"\x82\x86")
    for _ in range(5):
        send_and_close(daemon.socket, broken)
    deadline = time.monotonic() + 10
    while "broke HTTP/2" not in daemon.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    lines = [line for line in daemon.stderr().splitlines() if "broke HTTP/2" in line]
    assert len(lines) == 1, daemon.output()
    assert "warning" in lines[0] and f"pid={os.getpid()}" in lines[0] and "closed_since_last_message=1" in lines[0], lines[0]
