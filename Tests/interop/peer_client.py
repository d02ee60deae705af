"""A gRPC client that connects to longrund as another user, for the identity tests.

Started as root by `support.run_as`: it imports grpc and the stubs first (their files may live
where the other user cannot read), then drops to the given uid, gid and supplementary groups, and
only then connects, so the kernel's SO_PEERCRED names that user. It prints one JSON object per
call: {"code": "OK" | "<grpc code name>", "message": ..., "result": ...}.

    peer_client.py SOCKET UID GID GROUPS(comma separated or "-") JSON_CALLS
"""

import json
import os
import sys
import threading

import grpc
import grpc._channel  # noqa: F401  (grpc imports these lazily, and they may be unreadable after the drop)
import grpc._interceptor  # noqa: F401
import grpc._utilities  # noqa: F401
from google.longrunning import operations_pb2, operations_pb2_grpc
from google.protobuf import duration_pb2, json_format
from longrun.v1 import history_pb2, history_pb2_grpc, producers_pb2, producers_pb2_grpc


def drop_privileges(uid, gid, groups):
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    assert os.getuid() == uid and os.geteuid() == uid


def call(stubs, spec):
    operations, producers, history = stubs
    metadata = [tuple(pair) for pair in spec.get("metadata", [])]
    name = spec.get("name", "")
    verb = spec["call"]
    if verb == "create":
        request = producers_pb2.CreateOperationRequest(operation_id=spec.get("id", ""))
        return json_format.MessageToDict(producers.CreateOperation(request, metadata=metadata, timeout=10))
    if verb == "progress":
        return json_format.MessageToDict(producers.UpdateOperation(
            producers_pb2.UpdateOperationRequest(name=name), metadata=metadata, timeout=10))
    if verb == "complete":
        from google.protobuf import any_pb2, empty_pb2
        response = any_pb2.Any()
        response.Pack(empty_pb2.Empty())
        return json_format.MessageToDict(producers.CompleteOperation(
            producers_pb2.CompleteOperationRequest(name=name, response=response), metadata=metadata, timeout=10))
    if verb == "cancel":
        operations.CancelOperation(operations_pb2.CancelOperationRequest(name=name), metadata=metadata, timeout=10)
        return None
    if verb == "delete":
        operations.DeleteOperation(operations_pb2.DeleteOperationRequest(name=name), metadata=metadata, timeout=10)
        return None
    if verb == "get":
        return json_format.MessageToDict(operations.GetOperation(
            operations_pb2.GetOperationRequest(name=name), metadata=metadata, timeout=10))
    if verb == "list":
        response = operations.ListOperations(operations_pb2.ListOperationsRequest(
            name="operations", page_size=1000), metadata=metadata, timeout=10)
        return [op.name for op in response.operations]
    if verb == "history":
        response = history.ListOperationEvents(history_pb2.ListOperationEventsRequest(name=name), metadata=metadata, timeout=10)
        return [json_format.MessageToDict(e) for e in response.events]
    if verb == "wait":
        seconds = spec.get("seconds", 5)
        operations.WaitOperation(operations_pb2.WaitOperationRequest(
            name=name, timeout=duration_pb2.Duration(seconds=seconds)), metadata=metadata, timeout=seconds + 10)
        return None
    if verb == "watch_first":
        # The names of the first `count` events a watch from the start of the log delivers.
        stream = history.WatchOperations(history_pb2.WatchOperationsRequest(name="operations", after_sequence=0),
                                         metadata=metadata, timeout=spec.get("seconds", 3))
        names = []
        try:
            for event in stream:
                names.append(event.name)
                if len(names) >= spec.get("count", 1):
                    break
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
        finally:
            stream.cancel()
        return names
    raise ValueError(f"unknown call {verb}")


def outcome(stubs, spec):
    try:
        return {"code": "OK", "result": call(stubs, spec)}
    except grpc.RpcError as error:
        return {"code": error.code().name, "message": error.details()}


def main():
    socket_path, uid, gid, groups, calls = sys.argv[1:6]
    drop_privileges(int(uid), int(gid), [] if groups == "-" else [int(g) for g in groups.split(",")])
    with grpc.insecure_channel("unix:" + socket_path) as channel:
        stubs = (operations_pb2_grpc.OperationsStub(channel), producers_pb2_grpc.ProducersStub(channel),
                 history_pb2_grpc.HistoryStub(channel))
        results = []
        for spec in json.loads(calls):
            parallel = spec.get("parallel", 1)
            if parallel == 1:
                results.append(outcome(stubs, spec))
                continue
            # `parallel` copies of the call at once, e.g. to exceed a per-peer limit.
            answers = [None] * parallel
            threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, outcome(stubs, spec)))
                       for i in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            results.append(answers)
        print(json.dumps(results))


if __name__ == "__main__":
    main()
