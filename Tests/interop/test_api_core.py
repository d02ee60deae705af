"""google-api-core, unmodified, as a consumer: OperationsClient and operation futures.

The producer side is driven with the generated longrun.v1 stubs.
"""

import threading
import time

import grpc
import pytest
from google.api_core import exceptions, operation, operations_v1
from google.protobuf import duration_pb2, struct_pb2, wrappers_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

import support
from longrun.v1 import cancellation_pb2, producers_pb2


@pytest.fixture(scope="module")
def client(channel):
    return operations_v1.OperationsClient(channel)


@pytest.fixture(scope="module")
def producers(channel):
    return support.stubs(channel)[0]


def struct(**fields):
    s = struct_pb2.Struct()
    s.update(fields)
    return s


def later(delay, fn, *args, **kwargs):
    """Runs fn after `delay` seconds on a thread; join() re-raises its exception."""
    box = {}

    def run():
        time.sleep(delay)
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - reported by join()
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join():
        t.join(30)
        assert not t.is_alive(), "producer thread hung"
        if "error" in box:
            raise box["error"]
        return box.get("result")

    return join


# ---- get -----------------------------------------------------------------------------------------

def test_get_operation_returns_running_operation_with_metadata(client, producers):
    created = support.create(producers, metadata=struct(step="queued"))
    assert created.name.startswith("operations/") and not created.done

    got = client.get_operation(created.name)
    assert got.name == created.name
    assert got.done is False
    assert not got.HasField("response") and not got.HasField("error")
    meta = struct_pb2.Struct()
    assert got.metadata.Unpack(meta)
    assert meta == struct(step="queued")


def test_get_operation_in_a_nested_collection(client, producers):
    parent = f"tenants/{support.unique_id('t')}"
    created = support.create(producers, parent=parent, operation_id="build-1")
    assert created.name == f"{parent}/operations/build-1"
    assert client.get_operation(created.name).name == created.name


def test_server_generated_ids_are_valid_and_unique(client, producers):
    from longrun.v1 import producers_pb2 as p

    names = [producers.CreateOperation(p.CreateOperationRequest(), timeout=10).name for _ in range(5)]
    assert len(set(names)) == 5
    for name in names:
        assert client.get_operation(name).name == name


# ---- list ----------------------------------------------------------------------------------------

def list_all_pages(client, name, filter_="", page_size=None):
    """list_operations through every page. The gRPC OperationsClient of google-api-core has no
    page_size argument; the request it builds is a plain ListOperationsRequest, so set the field on
    it before the first page is fetched (the library itself is not modified)."""
    iterator = client.list_operations(name=name, filter_=filter_)
    if page_size is not None:
        iterator._request.page_size = page_size
    pages = []
    for page in iterator.pages:
        pages.append([op.name for op in page])
        assert len(pages) < 1000, "list_operations iterator does not terminate"
    return pages


def test_list_operations_pages_through_all_in_creation_order(fresh_daemon):
    import grpc

    with grpc.insecure_channel(fresh_daemon.target) as ch:
        client = operations_v1.OperationsClient(ch)
        producers = support.stubs(ch)[0]
        # Ids deliberately not in lexical order, so creation order is distinguishable from name order.
        created = [support.create(producers, operation_id=f"z{(i * 7) % 25:02d}-{i}").name for i in range(25)]

        pages = list_all_pages(client, "operations", page_size=4)
        listed = [n for page in pages for n in page]
        assert listed == created
        assert all(len(page) <= 4 for page in pages), [len(p) for p in pages]
        assert len(pages) >= 7, f"expected at least 7 pages of at most 4, got {[len(p) for p in pages]}"

        # The root collection can also be named "" and pages the same way.
        assert [n for page in list_all_pages(client, "", page_size=4) for n in page] == created
        # And with the default page size (50) it all fits in one page.
        assert list_all_pages(client, "operations") == [created]


def test_list_operations_default_page_size_with_many_operations(client, producers):
    """120 operations (created on one StreamTransitions stream) come back in pages of the default
    size 50 through the iterator, without setting page_size at all."""
    parent = f"tenants/{support.unique_id('many')}"
    ids = [f"job-{i:03d}" for i in range(120)]

    def requests():
        for tag, op_id in enumerate(ids):
            yield producers_pb2.TransitionRequest(
                tag=tag + 1, create=producers_pb2.CreateOperationRequest(parent=parent, operation_id=op_id))

    responses = list(producers.StreamTransitions(requests(), timeout=60))
    assert sorted(r.tag for r in responses) == list(range(1, 121))
    assert all(r.WhichOneof("result") == "operation" for r in responses), [r for r in responses if r.HasField("error")][:1]

    pages = list_all_pages(client, parent)
    assert [n for page in pages for n in page] == [f"{parent}/operations/{i}" for i in ids]
    assert [len(p) for p in pages][:2] == [50, 50] and sum(len(p) for p in pages) == 120
    # The collection may also be named by its collection name.
    assert [n for page in list_all_pages(client, parent + "/operations") for n in page] == \
        [f"{parent}/operations/{i}" for i in ids]


def test_list_operations_filter_done(client, producers):
    parent = f"tenants/{support.unique_id('f')}"
    running = support.create(producers, parent=parent, operation_id="running").name
    ok = support.create(producers, parent=parent, operation_id="ok").name
    failed = support.create(producers, parent=parent, operation_id="failed").name
    running2 = support.create(producers, parent=parent, operation_id="running2").name
    support.complete(producers, ok, response=wrappers_pb2.StringValue(value="fine"))
    support.complete(producers, failed, error=status_pb2.Status(code=code_pb2.INTERNAL, message="boom"))

    def names(filter_):
        return [n for page in list_all_pages(client, parent, filter_=filter_, page_size=1) for n in page]

    assert names("done = false") == [running, running2]
    assert names("done = true") == [ok, failed]
    assert names("") == [running, ok, failed, running2]
    assert names("error.code = INTERNAL") == [failed]
    with pytest.raises(exceptions.InvalidArgument):
        names("done = = true")


# ---- cancellation ---------------------------------------------------------------------------------

def test_cooperative_cancel_then_producer_completes_cancelled(client, producers):
    created = support.create(producers)
    future = operation.from_gapic(created, client, wrappers_pb2.StringValue)
    assert not future.done()
    assert not future.cancelled()

    client.cancel_operation(created.name)
    # Cooperative: still running, and the producer learns about the request on its next update.
    assert client.get_operation(created.name).done is False
    upd = support.update(producers, created.name, metadata=struct(step="stopping"))
    assert upd.cancel_requested is True

    support.complete(producers, created.name,
                     error=status_pb2.Status(code=code_pb2.CANCELLED, message="stopped on request"))
    assert future.cancelled() is True
    assert future.done()
    exc = future.exception(timeout=10)
    assert isinstance(exc, exceptions.Cancelled)
    assert "stopped on request" in exc.message
    # Cancelling again succeeds and changes nothing.
    client.cancel_operation(created.name)
    assert client.get_operation(created.name).error.code == code_pb2.CANCELLED


def test_immediate_cancellation_is_done_and_cancelled_at_once(client, producers):
    created = support.create(
        producers, cancellation=cancellation_pb2.CancellationOptions(mode=cancellation_pb2.CancellationOptions.IMMEDIATE))
    future = operation.from_gapic(created, client, wrappers_pb2.StringValue)
    assert future.cancel() is True  # google-api-core issues CancelOperation
    got = client.get_operation(created.name)
    assert got.done is True
    assert got.error.code == code_pb2.CANCELLED
    assert future.cancelled() is True
    assert isinstance(future.exception(timeout=10), exceptions.Cancelled)
    # The producer is told it is over.
    import grpc

    with pytest.raises(grpc.RpcError) as err:
        support.update(producers, created.name, metadata=struct(step="late"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        support.complete(producers, created.name, response=wrappers_pb2.StringValue(value="late"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cooperative_cancel_grace_expiry_completes_cancelled(client, producers):
    created = support.create(producers, cancellation=cancellation_pb2.CancellationOptions(
        mode=cancellation_pb2.CancellationOptions.COOPERATIVE, grace=duration_pb2.Duration(nanos=200_000_000)))
    future = operation.from_gapic(created, client, wrappers_pb2.StringValue)
    client.cancel_operation(created.name)
    # The producer never reacts: the engine completes it with CANCELLED once the grace is over.
    with pytest.raises(exceptions.Cancelled):
        future.result(timeout=20)
    assert future.cancelled()


# ---- results -------------------------------------------------------------------------------------

def test_future_result_with_response_and_metadata(client, producers):
    created = support.create(producers, metadata=struct(step="queued"))
    future = operation.from_gapic(created, client, wrappers_pb2.StringValue, metadata_type=struct_pb2.Struct)
    assert future.metadata == struct(step="queued")

    def produce():
        support.update(producers, created.name, metadata=struct(step="compile", percent=50))
        time.sleep(0.2)
        support.update(producers, created.name, metadata=struct(step="link", percent=90))
        support.complete(producers, created.name, response=wrappers_pb2.StringValue(value="artifact.tar"))

    join = later(0.2, produce)
    started = time.monotonic()
    result = future.result(timeout=20)
    join()
    assert result == wrappers_pb2.StringValue(value="artifact.tar")
    assert future.metadata == struct(step="link", percent=90)  # the last metadata stays
    assert future.done() and not future.cancelled()
    assert time.monotonic() - started < 15


def test_future_result_with_struct_response(client, producers):
    created = support.create(producers)
    future = operation.from_gapic(created, client, struct_pb2.Struct, metadata_type=struct_pb2.Struct)
    join = later(0.1, support.complete, producers, created.name, response=struct(files=3.0, ok=True))
    assert future.result(timeout=20) == struct(files=3.0, ok=True)
    join()
    assert future.metadata is None  # never set


def test_future_error_completion_raises_with_code_and_message(client, producers):
    created = support.create(producers)
    future = operation.from_gapic(created, client, wrappers_pb2.StringValue, metadata_type=struct_pb2.Struct)
    info = error_details_pb2.ErrorInfo(reason="QUOTA", domain="acme.example", metadata={"limit": "10"})
    error = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="quota exceeded",
                              details=[support.pack(info)])
    join = later(0.1, support.complete, producers, created.name, error=error)
    with pytest.raises(exceptions.GoogleAPICallError) as err:
        future.result(timeout=20)
    join()
    exc = err.value
    assert isinstance(exc, exceptions.ResourceExhausted)
    import grpc

    assert exc.grpc_status_code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert exc.message == "quota exceeded"
    # The producer's Status is returned whole, details included.
    assert exc.errors[0] == error
    assert not future.cancelled()


# ---- delete and bad names ------------------------------------------------------------------------

def test_delete_then_not_found(client, producers):
    created = support.create(producers)
    support.complete(producers, created.name, response=wrappers_pb2.StringValue(value="x"))
    client.delete_operation(created.name)
    with pytest.raises(exceptions.NotFound):
        client.get_operation(created.name)
    with pytest.raises(exceptions.NotFound):
        client.delete_operation(created.name)
    with pytest.raises(exceptions.NotFound):
        client.cancel_operation(created.name)
    # Not listed any more.
    assert created.name not in [op.name for op in client.list_operations("operations", "")]


def test_delete_running_operation_fails_producer_with_not_found(client, producers):
    import grpc

    created = support.create(producers)
    client.delete_operation(created.name)
    with pytest.raises(grpc.RpcError) as err:
        support.update(producers, created.name, metadata=struct(step="after delete"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # The name is never reused.
    with pytest.raises(grpc.RpcError) as err:
        support.create(producers, operation_id=created.name.split("/")[-1])
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize("name", ["operations/Bad_Name", "operations/", "nonsense", "operations/-x",
                                  "operations/" + "a" * 64, "tenants/acme/operations/UPPER"])
def test_malformed_name_is_invalid_argument(client, name):
    with pytest.raises(exceptions.InvalidArgument):
        client.get_operation(name)
    with pytest.raises(exceptions.InvalidArgument):
        client.delete_operation(name)


def test_unknown_operation_is_not_found(client):
    with pytest.raises(exceptions.NotFound):
        client.get_operation("operations/" + support.unique_id("never"))
