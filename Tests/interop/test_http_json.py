"""The HTTP/JSON gateway of the real daemon, with curl --unix-socket as a user would drive it.

longrund serves google.longrunning.Operations over HTTP/1.1 on a second Unix socket
(longrund-http.sock next to the gRPC socket by default): the same operations, the same identity
from SO_PEERCRED, Google's JSON error shape. Runs on LMDB and, in Tools/test, on PostgreSQL.
"""

import json
import os
import shutil
import stat
import subprocess

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import struct_pb2, wrappers_pb2

import support
from longrun.v1 import cancellation_pb2


def http_socket(daemon):
    return os.path.join(os.path.dirname(daemon.socket), "longrund-http.sock")


def curl(daemon, method, path, body=None, user=None, headers=()):
    """(HTTP status, parsed JSON body, response headers) of one request through curl."""
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed (apt-get install -y curl)", pytrace=False)
    cmd = ["curl", "-sS", "-D", "-", "--unix-socket", http_socket(daemon), "-X", method, f"http://localhost{path}"]
    for header in headers:
        cmd += ["-H", header]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
    extra = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    # Bytes, not text=True: universal newlines would turn the header block's CRLFs into LFs.
    out = subprocess.run(cmd, capture_output=True, timeout=30, **extra)
    assert out.returncode == 0, f"curl failed ({out.returncode}): {out.stderr.decode(errors='replace')}"
    head, _, payload = out.stdout.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    response_headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, json.loads(payload), response_headers


@pytest.fixture(scope="module")
def producers(channel):
    return support.stubs(channel)[0]


def test_the_gateway_socket_is_next_to_the_grpc_socket_with_its_mode(daemon):
    info = os.stat(http_socket(daemon))
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o660


def test_get_and_list_show_what_grpc_created(daemon, producers):
    s = struct_pb2.Struct()
    s.update({"stage": "build", "percent": 40})
    parent = "tenants/" + support.unique_id("t")
    created = [support.create(producers, parent=parent, operation_id=f"op-{i}", metadata=s) for i in range(5)]
    support.complete(producers, created[1].name, response=wrappers_pb2.StringValue(value="built"))

    status, op, _ = curl(daemon, "GET", f"/v1/{created[0].name}")
    assert status == 200, op
    assert op["name"] == created[0].name
    assert op["metadata"] == {"@type": "type.googleapis.com/google.protobuf.Struct",
                              "value": {"stage": "build", "percent": 40}}
    assert "done" not in op  # proto3 JSON omits false

    status, done, _ = curl(daemon, "GET", f"/v1/{created[1].name}")
    assert done["done"] is True
    assert done["response"] == {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "built"}

    names, token, pages = [], "", 0
    while True:
        status, page, _ = curl(daemon, "GET", f"/v1/{parent}/operations?pageSize=2&filter=done%20%3D%20false&pageToken={token}")
        assert status == 200, page
        names += [o["name"] for o in page.get("operations", [])]
        token = page.get("nextPageToken", "")
        pages += 1
        if not token or pages > 10:
            break
    assert not token
    assert names == [c.name for i, c in enumerate(created) if i != 1]

    status, page, _ = curl(daemon, "GET", f"/v1/{parent}/operations?page_size=10&filter=done%20%3D%20true")
    assert [o["name"] for o in page["operations"]] == [created[1].name]


def test_cancel_and_delete(daemon, channel, producers):
    immediate = support.create(producers, cancellation=cancellation_pb2.CancellationOptions(
        mode=cancellation_pb2.CancellationOptions.IMMEDIATE))
    status, body, _ = curl(daemon, "POST", f"/v1/{immediate.name}:cancel", body="{}")
    assert (status, body) == (200, {})
    status, op, _ = curl(daemon, "GET", f"/v1/{immediate.name}")
    assert op["done"] is True and op["error"]["code"] == 1, op

    status, body, _ = curl(daemon, "DELETE", f"/v1/{immediate.name}")
    assert (status, body) == (200, {})
    status, error, _ = curl(daemon, "GET", f"/v1/{immediate.name}")
    assert status == 404
    assert error["error"]["code"] == 404 and error["error"]["status"] == "NOT_FOUND", error
    # Gone for gRPC as well: one engine behind both sockets.
    with pytest.raises(grpc.RpcError) as failure:
        support.stubs(channel)[3].GetOperation(operations_pb2.GetOperationRequest(name=immediate.name), timeout=10)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND


def test_errors_in_googles_json_shape(daemon):
    status, body, _ = curl(daemon, "GET", "/v1/operations/" + support.unique_id())
    assert status == 404
    [info] = body["error"]["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert (info["reason"], info["domain"]) == ("OPERATION_NOT_FOUND", "longrun.dev")

    status, body, _ = curl(daemon, "GET", "/v1/operations?filter=done%20%3D%20maybe")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT", body
    assert body["error"]["details"][0]["reason"] == "INVALID_FILTER"

    status, body, _ = curl(daemon, "GET", "/v1/nothing/here")
    assert status == 404 and body["error"]["details"][0]["reason"] == "HTTP_ROUTE_NOT_FOUND", body

    status, body, headers = curl(daemon, "PATCH", "/v1/operations/x", body="{}")
    assert status == 405 and headers["allow"] == "GET, DELETE", (body, headers)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run curl as a second user")
def test_another_uid_is_denied_as_over_grpc(make_daemon):
    from test_identity import _ensure_user  # the same second user the gRPC identity tests use

    uid, gid = _ensure_user()
    d = make_daemon(args=["--socket-mode", "0666"])
    os.chmod(d.home, 0o711)
    d.start().wait_ready()
    with grpc.insecure_channel(d.target) as ch:
        created = support.create(support.stubs(ch)[0])
    # Reading is allowed (not owner-only); cancelling root's operation is not.
    status, op, _ = curl(d, "GET", f"/v1/{created.name}", user=(uid, gid))
    assert status == 200, op
    status, body, _ = curl(d, "POST", f"/v1/{created.name}:cancel", user=(uid, gid))
    assert status == 403, body
    assert body["error"]["status"] == "PERMISSION_DENIED"
    status, body, _ = curl(d, "DELETE", f"/v1/{created.name}", user=(uid, gid))
    assert status == 403, body
    # The daemon's own uid (root here) may.
    status, body, _ = curl(d, "POST", f"/v1/{created.name}:cancel")
    assert status == 200, body


def test_http_socket_none_turns_the_gateway_off(make_daemon):
    d = make_daemon(args=["--http-socket", "none"]).start().wait_ready()
    assert not os.path.exists(http_socket(d))


def test_each_request_writes_one_access_log_line(make_daemon):
    d = make_daemon(args=["--access-log-level", "info", "--log-format", "json"]).start().wait_ready()
    status, _, _ = curl(d, "GET", "/v1/operations/absent")
    assert status == 404
    d.stop_and_check()
    lines = [json.loads(line) for line in d.stderr().splitlines() if line.startswith("{")]
    [line] = [entry for entry in lines if entry.get("transport") == "http"]
    assert line["message"] == "rpc"
    assert line["method"] == "google.longrunning.Operations/GetOperation"
    assert (line["http"], line["http_status"], line["code"]) == ("GET /v1/operations/absent", "404", "NOT_FOUND")
    assert line["name"] == "operations/absent" and line["uid"] == str(os.getuid())


def test_pipelined_requests_are_answered_in_order_one_answer_held_at_a_time(daemon, producers):
    """A client pipelines 100 GETs of a 1 MB operation and reads nothing for two seconds: the
    daemon takes no more of its requests while the socket holds an answer not yet read (NIOHTTP1
    hands the next request on as soon as a response is written, and 3,000 such GETs made the daemon
    hold 3.8 GB), then answers every one, in order, as the client reads."""
    import socket

    name = support.create(producers, metadata=wrappers_pb2.BytesValue(value=os.urandom(1_000_000))).name
    count = 100
    request = f"GET /v1/{name} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(http_socket(daemon))
    s.settimeout(60)
    sender, grown = support.pipeline_without_reading(daemon.proc.pid, s, request, count)
    assert grown < 40 << 20, f"the daemon grew by {grown >> 20} MiB for a client that read nothing"
    for index, (status, body) in enumerate(support.read_http_answers(s, count)):
        assert status == 200, (index, body[:200])
        assert json.loads(body)["name"] == name, f"answer {index}"
    sender.join(timeout=30)
    s.close()
