"""Every failed call carries a google.rpc.Status with an ErrorInfo (reason, domain longrun.dev) in
`grpc-status-details-bin`, as docs/API.md#errors promises."""

import grpc
import pytest
from google.api_core import exceptions, operations_v1
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, wrappers_pb2
from google.rpc import code_pb2, status_pb2

import support
from longrun.v1 import cancellation_pb2, history_pb2, producers_pb2

DOMAIN = "longrun.dev"


@pytest.fixture(scope="module")
def stubs(channel):
    return support.stubs(channel)


def call_get_missing(s):
    s[3].GetOperation(operations_pb2.GetOperationRequest(name="operations/" + support.unique_id("missing")), timeout=10)


def call_get_malformed(s):
    s[3].GetOperation(operations_pb2.GetOperationRequest(name="foo/bar/baz"), timeout=10)


def call_get_malformed_parent(s):
    s[3].GetOperation(operations_pb2.GetOperationRequest(name="tenants/ACME/operations/x"), timeout=10)


def call_create_duplicate(s):
    op_id = support.unique_id("dup")
    support.create(s[0], operation_id=op_id)
    support.create(s[0], operation_id=op_id)


def call_create_bad_id(s):
    support.create(s[0], operation_id="9-starts-with-a-digit")


def call_create_bad_request_id(s):
    support.create(s[0], request_id="has a space")


def call_create_negative_grace(s):
    support.create(s[0], cancellation=cancellation_pb2.CancellationOptions(
        mode=cancellation_pb2.CancellationOptions.COOPERATIVE, grace=duration_pb2.Duration(seconds=-1)))


def call_complete_twice(s):
    name = support.create(s[0]).name
    support.complete(s[0], name, response=wrappers_pb2.StringValue(value="1"))
    support.complete(s[0], name, response=wrappers_pb2.StringValue(value="2"))


def call_complete_with_ok_error(s):
    name = support.create(s[0]).name
    support.complete(s[0], name, error=status_pb2.Status(code=code_pb2.OK, message="not an error"))


def call_update_version_mismatch(s):
    name = support.create(s[0]).name
    support.update(s[0], name, expected_version=7)


def call_update_deleted(s):
    name = support.create(s[0]).name
    s[3].DeleteOperation(operations_pb2.DeleteOperationRequest(name=name), timeout=10)
    support.update(s[0], name)


def call_list_bad_filter(s):
    s[3].ListOperations(operations_pb2.ListOperationsRequest(name="operations", filter="done = = true"), timeout=10)


def call_list_unknown_filter_field(s):
    s[3].ListOperations(operations_pb2.ListOperationsRequest(name="operations", filter="colour = \"red\""), timeout=10)


def call_list_negative_page_size(s):
    s[3].ListOperations(operations_pb2.ListOperationsRequest(name="operations", page_size=-1), timeout=10)


def call_list_bad_page_token(s):
    s[3].ListOperations(operations_pb2.ListOperationsRequest(name="operations", page_token="garbage"), timeout=10)


def call_list_mismatched_page_token(s):
    parent = f"tenants/{support.unique_id('tok')}"
    for i in range(3):
        support.create(s[0], parent=parent, operation_id=f"o{i}")
    first = s[3].ListOperations(operations_pb2.ListOperationsRequest(name=parent, page_size=1), timeout=10)
    assert first.next_page_token
    s[3].ListOperations(operations_pb2.ListOperationsRequest(name=parent, filter="done = false", page_size=1,
                                                             page_token=first.next_page_token), timeout=10)


def call_create_reused_request_id(s):
    request_id = support.unique_id("req")
    support.create(s[0], metadata=wrappers_pb2.StringValue(value="first"), request_id=request_id)
    support.create(s[0], metadata=wrappers_pb2.StringValue(value="second"), request_id=request_id)


def call_history_missing(s):
    s[1].ListOperationEvents(history_pb2.ListOperationEventsRequest(name="operations/" + support.unique_id("nope")),
                             timeout=10)


CASES = [
    (call_get_missing, grpc.StatusCode.NOT_FOUND, "OPERATION_NOT_FOUND"),
    (call_get_malformed, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NAME"),
    (call_get_malformed_parent, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NAME"),
    (call_create_duplicate, grpc.StatusCode.ALREADY_EXISTS, "OPERATION_ALREADY_EXISTS"),
    (call_create_bad_id, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_OPERATION_ID"),
    (call_create_bad_request_id, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST_ID"),
    (call_create_reused_request_id, grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED"),
    (call_create_negative_grace, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CANCEL_GRACE"),
    (call_complete_twice, grpc.StatusCode.FAILED_PRECONDITION, "OPERATION_ALREADY_DONE"),
    (call_complete_with_ok_error, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ERROR_STATUS"),
    (call_update_version_mismatch, grpc.StatusCode.ABORTED, "VERSION_MISMATCH"),
    (call_update_deleted, grpc.StatusCode.NOT_FOUND, "OPERATION_NOT_FOUND"),
    (call_list_bad_filter, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FILTER"),
    (call_list_unknown_filter_field, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FILTER"),
    (call_list_negative_page_size, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_SIZE"),
    (call_list_bad_page_token, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"),
    (call_list_mismatched_page_token, grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_MISMATCH"),
    (call_history_missing, grpc.StatusCode.NOT_FOUND, "OPERATION_NOT_FOUND"),
]


@pytest.mark.parametrize("call,code,reason", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_error_carries_error_info(stubs, call, code, reason):
    with pytest.raises(grpc.RpcError) as err:
        call(stubs)
    e = err.value
    assert e.code() == code, f"{e.code()}: {e.details()}"
    status = support.status_from_error(e)
    assert status is not None
    assert status.message == e.details()
    info = support.error_info(e)
    assert info.domain == DOMAIN
    assert info.reason == reason, f"reason {info.reason!r} ({e.details()})"


def test_api_core_exceptions_expose_reason_and_domain(channel):
    """google-api-core (with grpcio-status, its [grpc] extra) decodes the ErrorInfo for users."""
    client = operations_v1.OperationsClient(channel)
    with pytest.raises(exceptions.NotFound) as err:
        client.get_operation("operations/" + support.unique_id("missing"))
    assert err.value.reason == "OPERATION_NOT_FOUND"
    assert err.value.domain == DOMAIN
    with pytest.raises(exceptions.InvalidArgument) as err:
        client.get_operation("nonsense")
    assert err.value.reason == "INVALID_NAME"
    assert err.value.domain == DOMAIN


def test_stream_transitions_errors_carry_the_unary_details(stubs):
    """docs/API.md: a failed StreamTransitions command's `error` is "a google.rpc.Status with the code
    and details the unary RPC would have returned"."""
    producers = stubs[0]
    op_id = support.unique_id("st")
    reqs = [
        producers_pb2.TransitionRequest(tag=1, create=producers_pb2.CreateOperationRequest(operation_id=op_id)),
        producers_pb2.TransitionRequest(tag=2, create=producers_pb2.CreateOperationRequest(operation_id=op_id)),
        producers_pb2.TransitionRequest(tag=3, update=producers_pb2.UpdateOperationRequest(
            name=f"operations/{op_id}", expected_version=9)),
        producers_pb2.TransitionRequest(tag=4),  # no command
    ]
    responses = {r.tag: r for r in producers.StreamTransitions(iter(reqs), timeout=30)}
    assert sorted(responses) == [1, 2, 3, 4]
    assert responses[1].operation.name == f"operations/{op_id}"
    expected = {2: (code_pb2.ALREADY_EXISTS, "OPERATION_ALREADY_EXISTS"),
                3: (code_pb2.ABORTED, "VERSION_MISMATCH"),
                4: (code_pb2.INVALID_ARGUMENT, None)}
    from google.rpc import error_details_pb2

    for tag, (code, reason) in expected.items():
        error = responses[tag].error
        assert responses[tag].WhichOneof("result") == "error", responses[tag]
        assert error.code == code, (tag, error)
        infos = [d for d in error.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
        assert len(infos) == 1, f"tag {tag}: no ErrorInfo in TransitionResponse.error: {error}"
        info = error_details_pb2.ErrorInfo()
        infos[0].Unpack(info)
        assert info.domain == DOMAIN
        if reason:
            assert info.reason == reason


def test_a_request_id_reused_with_another_request_names_the_first_operation(stubs):
    request_id = support.unique_id("req")
    first = support.create(stubs[0], metadata=wrappers_pb2.StringValue(value="a"), request_id=request_id)
    again = support.create(stubs[0], metadata=wrappers_pb2.StringValue(value="a"), request_id=request_id,
                           operation_id=first.name.split("/")[-1])
    assert again.name == first.name, "the same request again returns the first operation"
    with pytest.raises(grpc.RpcError) as err:
        support.create(stubs[0], metadata=wrappers_pb2.StringValue(value="b"), request_id=request_id)
    info = support.error_info(err.value)
    assert info.reason == "REQUEST_ID_REUSED"
    assert info.metadata["operation"] == first.name
