"""longrund's logs as an operator reads them: --log-format json writes one JSON object per line,
and --access-log-level prints one line per RPC with the method, name, code, duration and the
caller's kernel-given uid and pid; at the default level the access log is silent."""

import json
import os

import grpc
import pytest
from google.longrunning import operations_pb2

import support


def rpc_lines(daemon):
    return [json.loads(line) for line in daemon.stderr().splitlines() if line.strip() and json.loads(line).get("message") == "rpc"]


def test_json_logs_with_one_access_line_per_rpc(make_daemon):
    daemon = make_daemon(args=["--log-format", "json", "--access-log-level", "info"]).start().wait_ready()
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, operations = support.stubs(channel)
        name = support.create(producers, operation_id="logged").name
        with pytest.raises(grpc.RpcError):
            operations.GetOperation(operations_pb2.GetOperationRequest(name="operations/missing"), timeout=10)
    daemon.stop_and_check()
    lines = daemon.stderr().splitlines()
    assert lines, daemon.output()
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "label", "message"} <= set(entry), entry
    rpcs = rpc_lines(daemon)
    created = [r for r in rpcs if r["method"] == "longrun.v1.Producers/CreateOperation"]
    missing = [r for r in rpcs if r["method"] == "google.longrunning.Operations/GetOperation"]
    assert len(created) == 1 and len(missing) == 1, rpcs
    assert created[0]["name"] == name and created[0]["code"] == "OK", created
    assert missing[0]["name"] == "operations/missing" and missing[0]["code"] == "NOT_FOUND", missing
    for entry in created + missing:
        assert entry["uid"] == str(os.getuid()) and entry["pid"] == str(os.getpid()), entry
        assert float(entry["duration_ms"]) >= 0


def test_the_access_log_is_silent_at_the_default_levels(make_daemon):
    daemon = make_daemon().start().wait_ready()
    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        support.create(producers)
    daemon.stop_and_check()
    assert " rpc " not in daemon.stderr() and "method=" not in daemon.stderr(), daemon.stderr()


def test_a_refused_start_is_a_json_line_too(make_daemon, tmp_path):
    (tmp_path / "notes.txt").write_text("not a store\n")
    daemon = make_daemon(data_dir=str(tmp_path), args=["--log-format", "json"]).start()
    assert daemon.wait_exit(30) == 1
    entries = [json.loads(line) for line in daemon.stderr().splitlines() if line.strip()]
    assert entries and entries[-1]["level"] == "critical", daemon.stderr()
    assert "not empty and holds no Longrun store" in entries[-1]["message"], entries[-1]
