"""longrund as a process: exclusive ownership of socket and data directory, crash recovery,
graceful shutdown."""

import os
import queue
import socket
import stat
import threading
import time

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import wrappers_pb2
from google.rpc import code_pb2, status_pb2

import support
from longrun.v1 import history_pb2

EXIT_TIMEOUT = 30


def get(operations, name):
    return operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)


def test_second_daemon_on_the_same_socket_is_refused(make_daemon):
    first = make_daemon().start().wait_ready()
    with grpc.insecure_channel(first.target) as ch:
        producers, _, _, operations = support.stubs(ch)
        name = support.create(producers).name

        second = make_daemon(socket_path=first.socket).start()  # its own data directory
        rc = second.wait_exit(EXIT_TIMEOUT)
        assert rc is not None, f"second longrund still running after {EXIT_TIMEOUT} s\n{second.output()}"
        assert rc != 0, second.output()
        err = second.stderr()
        assert "another longrund" in err and first.socket in err, second.output()

        # The first one is undisturbed and its socket still there.
        assert stat.S_ISSOCK(os.lstat(first.socket).st_mode)
        assert get(operations, name).name == name


def test_second_daemon_on_the_same_data_dir_is_refused(make_daemon):
    first = make_daemon().start().wait_ready()
    second = make_daemon(data_dir=first.data_dir).start()  # its own socket
    rc = second.wait_exit(EXIT_TIMEOUT)
    assert rc is not None, f"second longrund still running after {EXIT_TIMEOUT} s\n{second.output()}"
    assert rc != 0, second.output()
    err = second.stderr()
    assert "another longrund owns the data directory" in err, second.output()
    assert not os.path.exists(second.socket), "the refused daemon left a socket behind"
    with grpc.insecure_channel(first.target) as ch:
        support.create(support.stubs(ch)[0])


def test_refuses_a_socket_path_that_is_not_a_socket(make_daemon):
    d = make_daemon()
    with open(d.socket, "w") as f:
        f.write("precious")
    d.start()
    rc = d.wait_exit(EXIT_TIMEOUT)
    assert rc not in (None, 0), d.output()
    assert "not a socket" in d.stderr(), d.output()
    with open(d.socket) as f:
        assert f.read() == "precious"


@pytest.mark.parametrize("durability", ["full", "relaxed"])
def test_restart_after_sigkill_serves_acknowledged_operations(make_daemon, durability):
    """A crash of the process loses nothing acknowledged (docs: also with relaxed durability, since
    only an OS crash can lose relaxed commits), and the stale socket file is replaced."""
    first = make_daemon(args=["--durability", durability]).start().wait_ready()
    with grpc.insecure_channel(first.target) as ch:
        producers, history, _, operations = support.stubs(ch)
        running = support.create(producers, operation_id="running").name
        support.update(producers, running, metadata=wrappers_pb2.StringValue(value="50%"))
        succeeded = support.create(producers, operation_id="succeeded").name
        support.complete(producers, succeeded, response=wrappers_pb2.StringValue(value="ok"))
        failed = support.create(producers, operation_id="failed").name
        support.complete(producers, failed, error=status_pb2.Status(code=code_pb2.DATA_LOSS, message="disk"))
        deleted = support.create(producers, operation_id="deleted").name
        operations.DeleteOperation(operations_pb2.DeleteOperationRequest(name=deleted), timeout=10)
        idem = support.create(producers, operation_id="idem", request_id="req-123").name
        before = {n: get(operations, n) for n in (running, succeeded, failed, idem)}
        events_before = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=deleted), timeout=10)

    first.kill()
    assert stat.S_ISSOCK(os.lstat(first.socket).st_mode), "expected a stale socket file after SIGKILL"

    second = make_daemon(data_dir=first.data_dir, socket_path=first.socket, args=["--durability", durability])
    second.start().wait_ready()
    with grpc.insecure_channel(second.target) as ch:
        producers, history, _, operations = support.stubs(ch)
        for name, op in before.items():
            assert get(operations, name) == op
        with pytest.raises(grpc.RpcError) as err:
            get(operations, deleted)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=deleted),
                                           timeout=10) == events_before
        listed = operations.ListOperations(operations_pb2.ListOperationsRequest(name="operations"), timeout=10)
        assert [op.name for op in listed.operations] == [running, succeeded, failed, idem]
        # Names are never reused, not even across restarts; request ids are still remembered.
        with pytest.raises(grpc.RpcError) as err:
            support.create(producers, operation_id="deleted")
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
        # The request id survives the restart: the same request again gets the first operation,
        # another request with the id is refused naming it.
        assert support.create(producers, operation_id="idem", request_id="req-123").name == idem
        with pytest.raises(grpc.RpcError) as reused:
            support.create(producers, operation_id="other", request_id="req-123")
        assert support.error_info(reused.value).reason == "REQUEST_ID_REUSED"
        # And it keeps working.
        support.complete(producers, running, response=wrappers_pb2.StringValue(value="after restart"))
        assert get(operations, running).done


def test_sigterm_under_unary_writes_exits_cleanly_and_keeps_what_it_answered(make_daemon):
    """Unary writes are answered from the writer's commit, outside grpc-swift's calls: a SIGTERM in
    the middle of them still exits cleanly, and every transition a client was answered for is there
    after a restart."""
    first = make_daemon().start().wait_ready()
    answered = {}  # name -> done
    lock = threading.Lock()
    stop = threading.Event()

    def producer(index):
        with grpc.insecure_channel(first.target) as ch:
            producers = support.stubs(ch)[0]
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    name = support.create(producers, operation_id=f"p{index}-{n}").name
                    with lock:
                        answered[name] = False
                    support.update(producers, name, metadata=wrappers_pb2.StringValue(value="half"))
                    support.complete(producers, name, response=wrappers_pb2.StringValue(value="ok"))
                    with lock:
                        answered[name] = True
                except grpc.RpcError:
                    return  # the daemon is stopping: UNAVAILABLE or CANCELLED for calls not answered

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    first.stop_and_check()  # while writes are in flight: exit code 0, in time
    stop.set()
    for t in threads:
        t.join(EXIT_TIMEOUT)
    assert len(answered) > 20, "the producers were not writing when the daemon stopped"

    second = make_daemon(data_dir=first.data_dir, socket_path=first.socket).start().wait_ready()
    with grpc.insecure_channel(second.target) as ch:
        operations = support.stubs(ch)[3]
        for name, done in answered.items():
            operation = get(operations, name)
            if done:
                assert operation.done, name


def test_sigterm_removes_socket_and_restart_serves_the_data(make_daemon):
    first = make_daemon(args=["--socket-mode", "0600"]).start().wait_ready()
    assert stat.S_IMODE(os.lstat(first.socket).st_mode) == 0o600
    with grpc.insecure_channel(first.target) as ch:
        name = support.create(support.stubs(ch)[0]).name
    first.stop_and_check()
    assert not os.path.exists(first.socket), "socket file left behind after a clean stop"

    second = make_daemon(data_dir=first.data_dir, socket_path=first.socket).start().wait_ready()
    assert stat.S_IMODE(os.lstat(second.socket).st_mode) == 0o660  # the default
    with grpc.insecure_channel(second.target) as ch:
        assert get(support.stubs(ch)[3], name).name == name


def test_sigterm_ends_waits_and_watches_and_exits_cleanly(make_daemon):
    d = make_daemon().start().wait_ready()
    ch = grpc.insecure_channel(d.target)
    try:
        producers, history, _, operations = support.stubs(ch)
        name = support.create(producers).name
        wait = operations.WaitOperation.future(operations_pb2.WaitOperationRequest(name=name), timeout=60)
        watch = history.WatchOperations(history_pb2.WatchOperationsRequest(start_at_head=True), timeout=60)
        results = queue.Queue()

        def read_watch():
            try:
                for _ in watch:
                    pass
                results.put("OK (a clean end of stream)")
            except grpc.RpcError as e:
                results.put(e.code())

        reader = threading.Thread(target=read_watch, daemon=True)
        reader.start()
        time.sleep(0.5)
        assert not wait.done()

        started = time.monotonic()
        d.stop_and_check()  # SIGTERM; exit code 0 within 10 s
        assert time.monotonic() - started < 10

        problems = []
        try:
            wait.result(timeout=10)
            problems.append("WaitOperation returned a result during shutdown")
        except grpc.RpcError as e:
            # OperationsService.waitOperation: "the server is shutting down; retry the wait" (UNAVAILABLE).
            # CANCELLED would tell the client that *it* ended the wait (docs/API.md).
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                problems.append(f"WaitOperation ended with {e.code()} ({e.details()!r}), expected UNAVAILABLE")
        reader.join(10)
        # docs/API.md, WatchOperations: "The stream does not end by itself" and
        # "UNAVAILABLE (server shutting down: resume as above)".
        watch_end = results.get(timeout=1)
        if watch_end != grpc.StatusCode.UNAVAILABLE:
            problems.append(f"WatchOperations ended with {watch_end}, expected UNAVAILABLE")
        assert not problems, "; ".join(problems)
    finally:
        ch.close()


def expect_served(daemon):
    """A new client's call is answered (NOT_FOUND for an absent operation), waiting for the
    connection as long as the call's 10 s allow."""
    with grpc.insecure_channel(daemon.target) as channel:
        _, _, _, operations = support.stubs(channel)
        with pytest.raises(grpc.RpcError) as refused:
            operations.GetOperation(operations_pb2.GetOperationRequest(name="operations/absent"), timeout=10,
                                    wait_for_ready=True)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_out_of_file_descriptors_is_said_and_the_daemon_serves_again(make_daemon):
    """Each client connection holds a descriptor. At the limit a new client is refused (UNAVAILABLE,
    which clients retry) and the log says why and what to do; once connections close, clients are
    served again. (The daemon raises its soft limit to the hard one; here both are 64.)"""
    daemon = make_daemon(open_files=64).start().wait_ready()
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    peers = []
    try:
        for _ in range(300):
            peer = socket.socket(socket.AF_UNIX)
            peer.settimeout(2)
            try:
                peer.connect(daemon.socket)
                peer.sendall(preface)
            except OSError:  # the listening socket's queue is full: the daemon stopped accepting
                peer.close()
                break
            peers.append(peer)
            time.sleep(0.002)
        deadline = time.monotonic() + 10
        while "out of file descriptors" not in daemon.stderr() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = daemon.stderr()
        assert "out of file descriptors" in log and "open_files_limit=64" in log, daemon.output()
        assert "LimitNOFILE" in log
    finally:
        for peer in peers:
            peer.close()
    expect_served(daemon)
    assert daemon.running()


def test_a_burst_of_clients_connecting_at_once_is_queued(make_daemon):
    """500 clients connecting within a few milliseconds all get in: the kernel queues them for the
    daemon to accept (a backlog of 1,024). It queued 128 (swift-nio listened again with its
    default), and a client's non-blocking connect past them failed at once with EAGAIN."""
    daemon = make_daemon().start().wait_ready()
    peers = []
    try:
        for index in range(500):
            peer = socket.socket(socket.AF_UNIX)
            peer.settimeout(2)  # non-blocking underneath: a full queue fails the connect at once
            try:
                peer.connect(daemon.socket)
            except OSError as error:
                peer.close()
                pytest.fail(f"connection {index} of 500 refused: {error}")
            peers.append(peer)
    finally:
        for peer in peers:
            peer.close()
    expect_served(daemon)
