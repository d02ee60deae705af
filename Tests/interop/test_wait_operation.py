"""google.longrunning.Operations/WaitOperation through a raw grpcio stub (googleapis-common-protos)."""

import threading
import time

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, wrappers_pb2

import support


@pytest.fixture(scope="module")
def stubs(channel):
    producers, _, _, operations = support.stubs(channel)
    return producers, operations


def wait_request(name, timeout=None):
    req = operations_pb2.WaitOperationRequest(name=name)
    if timeout is not None:
        req.timeout.CopyFrom(timeout if isinstance(timeout, duration_pb2.Duration)
                             else duration_pb2.Duration(seconds=int(timeout), nanos=int(round((timeout % 1) * 1e9))))
    return req


def test_wait_returns_as_soon_as_the_producer_completes(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    future = operations.WaitOperation.future(wait_request(name, 30), timeout=60)
    time.sleep(0.5)
    assert not future.done(), "WaitOperation returned before the operation was done"

    started = time.monotonic()
    support.complete(producers, name, response=wrappers_pb2.StringValue(value="done!"))
    op = future.result(timeout=30)
    elapsed = time.monotonic() - started
    assert op.name == name and op.done
    value = wrappers_pb2.StringValue()
    assert op.response.Unpack(value) and value.value == "done!"
    assert elapsed < 5, f"WaitOperation took {elapsed:.2f} s after the completion (timeout was 30 s)"


def test_wait_on_done_operation_returns_at_once(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    support.complete(producers, name, response=wrappers_pb2.StringValue(value="early"))
    started = time.monotonic()
    op = operations.WaitOperation(wait_request(name, 30), timeout=30)
    assert op.done
    assert time.monotonic() - started < 5


def test_many_waiters_are_all_released_by_one_completion(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    futures = [operations.WaitOperation.future(wait_request(name, 30), timeout=60) for _ in range(20)]
    time.sleep(0.3)
    support.complete(producers, name, response=wrappers_pb2.StringValue(value="all"))
    for f in futures:
        assert f.result(timeout=30).done


def test_wait_timeout_returns_running_operation(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    started = time.monotonic()
    op = operations.WaitOperation(wait_request(name, duration_pb2.Duration(nanos=200_000_000)), timeout=30)
    elapsed = time.monotonic() - started
    assert op.name == name and op.done is False
    assert 0.18 <= elapsed < 2.0, f"timeout 200 ms, returned after {elapsed * 1000:.0f} ms"


def test_wait_zero_timeout_returns_current_state_at_once(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    started = time.monotonic()
    op = operations.WaitOperation(wait_request(name, duration_pb2.Duration()), timeout=30)
    assert op.done is False
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("request_timeout", [30, None], ids=["timeout-30s", "no-timeout"])
def test_wait_rpc_deadline_shorter_than_request_timeout(stubs, request_timeout):
    producers, operations = stubs
    name = support.create(producers).name
    started = time.monotonic()
    try:
        op = operations.WaitOperation(wait_request(name, request_timeout), timeout=0.3)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
    else:
        assert op.name == name and op.done is False
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"deadline 300 ms, returned after {elapsed * 1000:.0f} ms"
    # The server is still fine and the operation still running.
    assert operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10).done is False


def test_wait_unknown_operation_is_not_found(stubs):
    _, operations = stubs
    with pytest.raises(grpc.RpcError) as err:
        operations.WaitOperation(wait_request("operations/" + support.unique_id("nope"), 5), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_wait_negative_timeout_is_invalid_argument(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    for timeout in (duration_pb2.Duration(seconds=-1), duration_pb2.Duration(seconds=0, nanos=-5)):
        with pytest.raises(grpc.RpcError) as err:
            operations.WaitOperation(wait_request(name, timeout), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_wait_malformed_name_is_invalid_argument(stubs):
    _, operations = stubs
    with pytest.raises(grpc.RpcError) as err:
        operations.WaitOperation(wait_request("operations/NOT_VALID", 5), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_wait_ends_with_not_found_when_the_operation_is_deleted(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    future = operations.WaitOperation.future(wait_request(name, 30), timeout=60)
    time.sleep(0.3)
    started = time.monotonic()
    operations.DeleteOperation(operations_pb2.DeleteOperationRequest(name=name), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        future.result(timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert time.monotonic() - started < 5


def test_client_cancelling_a_wait_does_not_disturb_others(stubs):
    producers, operations = stubs
    name = support.create(producers).name
    abandoned = operations.WaitOperation.future(wait_request(name, 30), timeout=60)
    kept = operations.WaitOperation.future(wait_request(name, 30), timeout=60)
    time.sleep(0.3)
    abandoned.cancel()
    support.complete(producers, name, response=wrappers_pb2.StringValue(value="kept"))
    assert kept.result(timeout=30).done
    assert abandoned.cancelled()



def expect_every_wait_woken(futures, producers, name):
    """None of `futures` (waits on `name`) ended early; completing `name` answers each, done."""
    ended = [f.exception() for f in futures if f.done()]
    assert not ended, f"{len(ended)} of {len(futures)} waits ended before the completion: {ended[:3]}"
    support.complete(producers, name, response=wrappers_pb2.StringValue(value="done"))
    assert all(f.result(timeout=30).done for f in futures)


def test_one_channel_holds_hundreds_of_waits_at_once(daemon, stubs):
    """A client may hold more calls open on one connection than swift-nio-http2's default of 100
    streams: the daemon advertises how many a connection may carry. (It advertised none and
    refused the connection at the 101st call, GOAWAY with PROTOCOL_ERROR: calls failed.)"""
    producers, _ = stubs
    name = support.create(producers).name
    with grpc.insecure_channel(daemon.target) as channel:
        _, _, _, operations = support.stubs(channel)
        futures = [operations.WaitOperation.future(wait_request(name, 60), timeout=90) for _ in range(300)]
        time.sleep(1.0)
        expect_every_wait_woken(futures, producers, name)


def test_a_client_that_cancels_hundreds_of_calls_keeps_its_other_calls(daemon, stubs):
    """Cancelling is a client's right: 500 waits cancelled within a second or two (RST_STREAM
    each) do not end the connection, which swift-nio-http2's guard against reset floods did after
    200 (GOAWAY, ENHANCE_YOUR_CALM), failing every call still open on it with UNAVAILABLE."""
    producers, _ = stubs
    held, other = support.create(producers).name, support.create(producers).name
    with grpc.insecure_channel(daemon.target) as channel:
        _, _, _, operations = support.stubs(channel)
        kept = [operations.WaitOperation.future(wait_request(held, 60), timeout=90) for _ in range(50)]
        time.sleep(0.3)
        for _ in range(20):
            cancelled = [operations.WaitOperation.future(wait_request(other, 60), timeout=90) for _ in range(25)]
            time.sleep(0.05)
            for future in cancelled:
                future.cancel()
        time.sleep(0.3)
        expect_every_wait_woken(kept, producers, held)
