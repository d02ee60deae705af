"""longrun.v1.History (ListOperationEvents, WatchOperations) and Admin.GetServerInfo via the
generated stubs."""

import os
import queue
import threading
import time

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import struct_pb2, wrappers_pb2
from google.rpc import code_pb2, status_pb2

import support
from longrun.v1 import admin_pb2, cancellation_pb2, history_pb2


@pytest.fixture(scope="module")
def stubs(channel):
    return support.stubs(channel)


def struct(**fields):
    s = struct_pb2.Struct()
    s.update(fields)
    return s


def kind(event):
    return event.WhichOneof("kind")


def head(admin):
    return admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=10).applied_sequence


class Watch:
    """A WatchOperations stream read on a thread into a queue."""

    def __init__(self, history, **request):
        self.call = history.WatchOperations(history_pb2.WatchOperationsRequest(**request), timeout=60)
        self.queue = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for event in self.call:
                self.queue.put(event)
            self.queue.put(StopIteration())
        except grpc.RpcError as e:
            self.queue.put(e)

    def next(self, timeout=10):
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event on the watch stream within {timeout} s") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def take(self, n, timeout=10):
        return [self.next(timeout) for _ in range(n)]

    def assert_quiet(self, seconds=0.3):
        try:
            item = self.queue.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected item on the watch stream: {item}")

    def close(self):
        self.call.cancel()
        self.thread.join(10)


# ---- ListOperationEvents -------------------------------------------------------------------------

def test_list_operation_events_pages_through_every_transition_of_a_deleted_operation(stubs):
    producers, history, _, operations = stubs
    actor = [("longrun-actor", "interop-worker")]
    name = support.create(producers, metadata=struct(step="queued"), grpc_metadata=actor).name
    support.update(producers, name, metadata=struct(step="one"), grpc_metadata=actor)
    support.update(producers, name, metadata=struct(step="two"), grpc_metadata=actor)
    operations.CancelOperation(operations_pb2.CancelOperationRequest(name=name), timeout=10,
                               metadata=[("longrun-cancel-reason", "user pressed stop")])
    support.complete(producers, name, error=status_pb2.Status(code=code_pb2.CANCELLED, message="stopped"),
                     grpc_metadata=actor)
    operations.DeleteOperation(operations_pb2.DeleteOperationRequest(name=name), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    events, token, pages = [], "", 0
    while True:
        resp = history.ListOperationEvents(
            history_pb2.ListOperationEventsRequest(name=name, page_size=2, page_token=token), timeout=10)
        assert len(resp.events) <= 2
        events.extend(resp.events)
        pages += 1
        token = resp.next_page_token
        if not token:
            break
        assert pages < 50, "ListOperationEvents does not terminate"
    assert pages >= 3
    assert [kind(e) for e in events] == ["created", "progressed", "progressed", "cancel_requested", "completed", "deleted"]
    assert all(e.name == name for e in events)
    seqs = [e.sequence for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] >= 1
    times = [e.time.ToNanoseconds() for e in events]
    assert times == sorted(times) and times[0] > 0

    created, p1, p2, cancel, completed, _ = events
    meta = struct_pb2.Struct()
    assert created.created.metadata.Unpack(meta) and meta == struct(step="queued")
    assert created.created.cancellation.mode == cancellation_pb2.CancellationOptions.COOPERATIVE
    assert p1.progressed.metadata.Unpack(meta) and meta == struct(step="one")
    assert (p1.progressed.version, p2.progressed.version) == (2, 3)
    assert cancel.cancel_requested.reason == "user pressed stop"
    assert cancel.cancel_requested.HasField("grace_deadline")
    assert completed.completed.error.code == code_pb2.CANCELLED
    # Actors: the label a client sends (docs/API.md#request-metadata).
    for e in (created, p1, p2, completed):
        assert e.actor.label == "interop-worker"

    # Without paging, the same events in one response.
    whole = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), timeout=10)
    assert [e.sequence for e in whole.events] == seqs and not whole.next_page_token


def test_event_actor_is_the_kernel_identity_plus_the_label_whatever_the_client_claims(stubs):
    """docs/API.md#identity: uid and pid come from the socket's SO_PEERCRED; the client chooses only
    the label (`longrun-actor`). A forged `longrun-peer` header is replaced by the daemon."""
    producers, history, _, _ = stubs
    forged = [("longrun-actor", "me"), ("longrun-peer", "uid=4242;gid=4242;pid=1;admin=1"), ("longrun-uid", "4242")]
    name = support.create(producers, grpc_metadata=forged).name
    [event] = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), timeout=10).events
    assert event.actor.label == "me"
    assert event.actor.uid == os.getuid(), f"identity taken from the client: {event.actor}"
    assert event.actor.pid == os.getpid()


def test_engine_caused_events_are_labelled_longrun_engine(stubs):
    producers, history, _, operations = stubs
    name = support.create(producers, cancellation=cancellation_pb2.CancellationOptions(
        mode=cancellation_pb2.CancellationOptions.IMMEDIATE)).name
    operations.CancelOperation(operations_pb2.CancelOperationRequest(name=name), timeout=10)
    events = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), timeout=10).events
    assert [kind(e) for e in events] == ["created", "cancel_requested", "completed"]
    done = events[2]
    assert done.completed.error.code == code_pb2.CANCELLED
    assert done.actor.label == "longrun-engine"
    assert not done.actor.HasField("uid") and not done.actor.HasField("pid")


def test_list_operation_events_token_is_bound_to_its_name(stubs):
    producers, history, _, _ = stubs
    a = support.create(producers).name
    b = support.create(producers).name
    for n in (a, b):
        support.update(producers, n)
        support.update(producers, n)
    first = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=a, page_size=1), timeout=10)
    assert first.next_page_token
    with pytest.raises(grpc.RpcError) as err:
        history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=b, page_token=first.next_page_token),
                                    timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- WatchOperations -----------------------------------------------------------------------------

def test_watch_resumes_exactly_after_sequence_then_follows_live_commits(stubs):
    producers, history, _, _ = stubs
    parent = f"tenants/{support.unique_id('w')}"
    a = support.create(producers, parent=parent, operation_id="a").name
    b = support.create(producers, parent=parent, operation_id="b").name
    support.update(producers, a, metadata=struct(step="1"))
    support.complete(producers, b, response=wrappers_pb2.StringValue(value="b done"))
    support.update(producers, a, metadata=struct(step="2"))
    # Noise in another collection must not appear.
    support.create(producers, parent=f"tenants/{support.unique_id('other')}", operation_id="a")

    everything = Watch(history, name=parent)
    try:
        first5 = everything.take(5)
    finally:
        everything.close()
    assert [(e.name, kind(e)) for e in first5] == [
        (a, "created"), (b, "created"), (a, "progressed"), (b, "completed"), (a, "progressed")]
    seqs = [e.sequence for e in first5]
    assert seqs == sorted(set(seqs))

    resume_after = first5[1].sequence
    w = Watch(history, name=parent, after_sequence=resume_after)
    try:
        replay = w.take(3)
        assert [e.sequence for e in replay] == seqs[2:]
        assert [(e.name, kind(e)) for e in replay] == [(a, "progressed"), (b, "completed"), (a, "progressed")]
        w.assert_quiet()  # nothing else is retained for this collection

        # New commits arrive live, after everything replayed, once each.
        support.complete(producers, a, response=wrappers_pb2.StringValue(value="a done"))
        c = support.create(producers, parent=parent, operation_id="c").name
        live = w.take(2)
        assert [(e.name, kind(e)) for e in live] == [(a, "completed"), (c, "created")]
        assert live[0].sequence > seqs[-1] and live[1].sequence > live[0].sequence
        w.assert_quiet()
    finally:
        w.close()


def test_watch_with_filter_only_sees_matching_events(stubs):
    producers, history, _, _ = stubs
    parent = f"tenants/{support.unique_id('wf')}"
    x = support.create(producers, parent=parent, operation_id="x").name
    support.update(producers, x)
    support.complete(producers, x, error=status_pb2.Status(code=code_pb2.ABORTED, message="nope"))
    y = support.create(producers, parent=parent, operation_id="y").name
    w = Watch(history, name=parent + "/operations", filter="done = true")
    try:
        got = w.next()
        assert (got.name, kind(got)) == (x, "completed")
        support.update(producers, y)
        support.complete(producers, y, response=wrappers_pb2.StringValue(value="ok"))
        got = w.next()
        assert (got.name, kind(got)) == (y, "completed")
        w.assert_quiet()
    finally:
        w.close()


def test_replayed_events_carry_the_state_right_after_each_event(stubs):
    """docs/API.md#events: `operation` is "the operation's state right after the event, when the
    server includes it". Replayed events of an operation that is done by now must not claim done."""
    producers, history, _, _ = stubs
    parent = f"tenants/{support.unique_id('ws')}"
    name = support.create(producers, parent=parent, operation_id="x", metadata=struct(step="queued")).name
    support.update(producers, name, metadata=struct(step="half"))
    support.complete(producers, name, response=wrappers_pb2.StringValue(value="done"))
    w = Watch(history, name=parent)
    try:
        created, progressed, completed = w.take(3)
    finally:
        w.close()
    assert [kind(e) for e in (created, progressed, completed)] == ["created", "progressed", "completed"]
    meta = struct_pb2.Struct()
    if created.HasField("operation"):
        assert created.operation.done is False, f"created event carries a later state: {created.operation}"
        assert created.operation.metadata.Unpack(meta) and meta == struct(step="queued")
    if progressed.HasField("operation"):
        assert progressed.operation.done is False, f"progressed event carries a later state: {progressed.operation}"
        assert progressed.operation.metadata.Unpack(meta) and meta == struct(step="half")
    if completed.HasField("operation"):
        assert completed.operation.done is True


def test_watch_start_at_head_skips_the_past(stubs):
    producers, history, _, _ = stubs
    parent = f"tenants/{support.unique_id('wh')}"
    old = {support.create(producers, parent=parent, operation_id=f"old{i}").name for i in range(3)}
    w = Watch(history, name=parent, start_at_head=True)
    try:
        # We cannot observe when the server has registered the stream, so probe until an event comes.
        probes, deadline = [], time.monotonic() + 15
        while True:
            probes.append(support.create(producers, parent=parent, operation_id=f"new{len(probes)}").name)
            try:
                got = w.next(timeout=0.5)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "start_at_head watch delivered nothing"
        assert got.name in probes and got.name not in old and kind(got) == "created"
    finally:
        w.close()


def test_watch_after_sequence_beyond_head_is_out_of_range(stubs):
    producers, history, admin, _ = stubs
    support.create(producers)
    current = head(admin)
    assert current >= 1
    w = Watch(history, after_sequence=current + 1000)
    try:
        with pytest.raises(grpc.RpcError) as err:
            w.next()
        assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
        info = support.error_info(err.value)
        assert info.domain == "longrun.dev"
    finally:
        w.close()
    # Exactly at the head is fine: the stream waits for the next commit.
    w = Watch(history, after_sequence=current)
    try:
        w.assert_quiet(0.3)
        name = support.create(producers).name
        got = w.next()
        assert got.sequence == current + 1 and (got.name, kind(got)) == (name, "created")
    finally:
        w.close()


def test_watch_rejects_start_at_head_with_after_sequence(stubs):
    _, history, admin, _ = stubs
    w = Watch(history, after_sequence=1, start_at_head=True)
    try:
        with pytest.raises(grpc.RpcError) as err:
            w.next()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        w.close()


def test_server_info(stubs, daemon):
    producers, _, admin, _ = stubs
    info = admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=10)
    assert info.version
    if daemon.store:  # the store's URL, without its password
        assert info.data_directory.startswith("postgres://") and "schema=" + daemon.store.split("schema=")[1] in info.data_directory
    else:
        assert os.path.realpath(info.data_directory) == os.path.realpath(daemon.data_dir)
    assert info.durability == "full"
    before = info.applied_sequence
    support.create(producers)
    assert head(admin) == before + 1
