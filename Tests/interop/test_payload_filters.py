"""Filters that reach inside operations' metadata and response (`longrund --descriptor-set`).

A producer's .proto is compiled here with `protoc --include_imports --descriptor_set_out`, the daemon
is started with that set, and the message classes are built from the same set with
google.protobuf's descriptor_pool / message_factory: no generated code is committed.
"""

import json
import os
import shutil
import subprocess
import tempfile

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, struct_pb2, wrappers_pb2

import support

PROTO = """
syntax = "proto3";
package acme.build.v1;

import "google/protobuf/struct.proto";

enum Stage {
  STAGE_UNSPECIFIED = 0;
  COMPILING = 1;
  LINKING = 2;
}

message Step {
  string name = 1;
  uint64 attempts = 2;
}

message BuildMetadata {
  int32 percent_done = 1;
  Stage stage = 2;
  repeated string tags = 3;
  Step step = 4;
  map<string, string> labels = 5;
  google.protobuf.Struct extra = 6;
}

message BuildResult {
  string artifact = 1;
  int64 size_bytes = 2;
}
"""


@pytest.fixture(scope="module")
def descriptor_set():
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc is not installed (apt-get install -y protobuf-compiler)", pytrace=False)
    home = tempfile.mkdtemp(prefix="lr-desc-", dir="/tmp")
    try:
        with open(os.path.join(home, "build.proto"), "w") as f:
            f.write(PROTO)
        out = os.path.join(home, "build.pb")
        subprocess.run([protoc, f"-I{home}", "--include_imports", f"--descriptor_set_out={out}", "build.proto"],
                       check=True, capture_output=True, timeout=60)
        yield out
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def types(descriptor_set):
    """The message classes of the set, built at run time."""
    files = descriptor_pb2.FileDescriptorSet()
    with open(descriptor_set, "rb") as f:
        files.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"acme.build.v1.{name}"))
            for name in ("BuildMetadata", "BuildResult", "Step")}


@pytest.fixture(scope="module")
def typed_daemon(longrund_binary, descriptor_set):
    d = support.Daemon(longrund_binary, args=["--descriptor-set", descriptor_set])
    try:
        d.start().wait_ready()
        yield d
        d.stop_and_check()
    finally:
        d.cleanup()


@pytest.fixture(scope="module")
def stubs(typed_daemon):
    with grpc.insecure_channel(typed_daemon.target) as channel:
        producers, _, _, operations = support.stubs(channel)
        yield producers, operations


def listed(operations, parent, text):
    """Every name (id part) the filter lists under `parent`, following the page tokens."""
    names, token = [], ""
    while True:
        page = operations.ListOperations(operations_pb2.ListOperationsRequest(
            name=parent, filter=text, page_size=2, page_token=token), timeout=10)
        names += [op.name.rsplit("/", 1)[-1] for op in page.operations]
        token = page.next_page_token
        if not token:
            return names


@pytest.fixture(scope="module")
def builds(stubs, types):
    """Five typed builds, one with Struct metadata, one with none; two completed with a response."""
    producers, _ = stubs
    parent = f"tenants/{support.unique_id('t')}"
    Build, Result, Step = types["BuildMetadata"], types["BuildResult"], types["Step"]
    specs = [
        ("b0", Build(percent_done=0, stage=1, tags=["arm"])),
        ("b1", Build(percent_done=40, stage=1, step=Step(name="compile", attempts=3))),
        ("b2", Build(percent_done=60, stage=2, tags=["fast", "arm"], labels={"team": "infra"})),
        ("b3", Build(percent_done=90, stage=2, labels={"team": "web"})),
        ("b4", Build(percent_done=100, stage=2)),
    ]
    for op_id, metadata in specs:
        support.create(producers, parent=parent, operation_id=op_id, metadata=metadata)
    loose = struct_pb2.Struct()
    loose.update({"stage": "LINKING", "percent_done": 75})
    support.create(producers, parent=parent, operation_id="s0", metadata=loose)
    support.create(producers, parent=parent, operation_id="n0")
    support.complete(producers, f"{parent}/operations/b4", response=Result(artifact="out/app.tar", size_bytes=2048))
    support.complete(producers, f"{parent}/operations/b3", response=Result(artifact="out/app.zip", size_bytes=10))
    return parent


@pytest.mark.parametrize("text, expected", [
    ("metadata.percent_done > 50", ["b2", "b3", "b4", "s0"]),
    ("metadata.percent_done <= 40", ["b0", "b1"]),
    ('metadata.stage = "LINKING"', ["b2", "b3", "b4", "s0"]),
    ("metadata.stage = COMPILING", ["b0", "b1"]),
    ("metadata.stage = 1", ["b0", "b1"]),
    ('response.artifact : "*.tar"', ["b4"]),
    ("response.size_bytes > 100", ["b4"]),
    ("NOT response.artifact:*", ["b0", "b1", "b2", "s0", "n0"]),
    ("metadata.tags:arm", ["b0", "b2"]),
    ("metadata.step.attempts >= 3", ["b1"]),
    ("metadata.labels.team = infra", ["b2"]),
    ("metadata.labels.team:*", ["b2", "b3"]),
    ("metadata.percent_done > 50 AND done = false", ["b2", "s0"]),
    ("metadata.type = acme.build.v1.BuildMetadata AND metadata.percent_done >= 0", ["b0", "b1", "b2", "b3", "b4"]),
])
def test_filters_reach_inside_typed_payloads(stubs, builds, text, expected):
    _, operations = stubs
    assert listed(operations, builds, text) == expected


@pytest.mark.parametrize("text, column, fragment", [
    ("metadata.percnt_done > 50", 1, "unknown field 'metadata.percnt_done' at column 1"),
    ("done = false AND response.artefact:*", 18, "unknown field 'response.artefact' at column 18"),
    ('metadata.percent_done > "lots"', 25, "invalid value 'lots' for metadata.percent_done at column 25"),
    ("metadata.stage = BUILDING", 18, "invalid value 'BUILDING' for metadata.stage at column 18"),
    ("metadata.tags = arm", 15, "operator '=' cannot be used with metadata.tags at column 15"),
])
def test_unknown_fields_and_bad_values_are_invalid_argument(stubs, builds, text, column, fragment):
    _, operations = stubs
    with pytest.raises(grpc.RpcError) as raised:
        operations.ListOperations(operations_pb2.ListOperationsRequest(name=builds, filter=text), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in raised.value.details()
    assert f"column {column}" in raised.value.details()
    assert support.error_info(raised.value).reason == "INVALID_FILTER"


def test_unknown_field_names_the_descriptor_set_flag(stubs, builds):
    _, operations = stubs
    with pytest.raises(grpc.RpcError) as raised:
        operations.ListOperations(operations_pb2.ListOperationsRequest(name=builds, filter="metadata.nope = 1"), timeout=10)
    assert "--descriptor-set" in raised.value.details()


def test_watch_filters_inside_payloads_too(typed_daemon, builds):
    from longrun.v1 import history_pb2

    with grpc.insecure_channel(typed_daemon.target) as channel:
        _, history, _, _ = support.stubs(channel)
        bad = history.WatchOperations(history_pb2.WatchOperationsRequest(name=builds, filter="metadata.percnt_done > 50"), timeout=10)
        with pytest.raises(grpc.RpcError) as raised:
            next(iter(bad))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unknown field 'metadata.percnt_done'" in raised.value.details()

        call = history.WatchOperations(history_pb2.WatchOperationsRequest(name=builds, filter="metadata.percent_done > 50"), timeout=10)
        seen = []
        for event in call:
            seen.append(event.name.rsplit("/", 1)[-1])
            if len(seen) == 4:
                break
        call.cancel()
        assert seen == ["b2", "b3", "b4", "s0"]


def test_the_cli_lists_and_cancels_by_a_metadata_filter(typed_daemon, stubs, builds):
    longrun = support.binary("LONGRUN", "longrun")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}

    def cli(*args):
        out = subprocess.run([longrun, args[0], "--socket", typed_daemon.socket, *args[1:]],
                             capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode == 0, f"exit {out.returncode}\nstdout: {out.stdout}\nstderr: {out.stderr}"
        return out.stdout

    rows = [json.loads(line) for line in cli("list", builds, "--json", "--all", "--filter", 'metadata.stage = "LINKING"').splitlines()]
    assert [row["name"].rsplit("/", 1)[-1] for row in rows] == ["b2", "b3", "b4", "s0"]
    report = json.loads(cli("cancel", "--filter", "metadata.percent_done < 50 AND done = false", "--collection", builds,
                            "--yes", "--json").splitlines()[0])
    assert report["matched"] == 2 and report["changed"] == 2, report
    _, operations = stubs
    assert listed(operations, builds, "cancel_requested = true") == ["b0", "b1"]


def test_without_a_descriptor_set_struct_keys_and_wrappers_work(fresh_daemon):
    with grpc.insecure_channel(fresh_daemon.target) as channel:
        producers, _, _, operations = support.stubs(channel)
        loose = struct_pb2.Struct()
        loose.update({"stage": "LINKING", "percent": 60})
        support.create(producers, operation_id="loose", metadata=loose)
        support.create(producers, operation_id="wrapped", metadata=wrappers_pb2.Int64Value(value=7))
        assert listed(operations, "", 'metadata.stage = "LINKING"') == ["loose"]
        assert listed(operations, "", "metadata.percent > 50") == ["loose"]
        assert listed(operations, "", "metadata.value > 3") == ["wrapped"]
        assert listed(operations, "", "NOT metadata.value > 3") == ["loose"]


@pytest.mark.parametrize("content, fragment", [
    (None, "cannot read it"),
    (b"\xff\xff\xff garbage", "not a FileDescriptorSet"),
    (b"", "the set holds no files"),
])
def test_a_bad_descriptor_set_fails_the_start(make_daemon, content, fragment):
    home = tempfile.mkdtemp(prefix="lr-bad-", dir="/tmp")
    try:
        path = os.path.join(home, "set.pb")
        if content is not None:
            with open(path, "wb") as f:
                f.write(content)
        d = make_daemon(args=["--descriptor-set", path]).start()
        rc = d.wait_exit(30)
        assert rc not in (None, 0), d.output()
        assert path in d.stderr() and fragment in d.stderr(), d.output()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_set_naming_a_type_it_does_not_hold_fails_the_start(make_daemon):
    file = descriptor_pb2.FileDescriptorProto(name="a.proto", package="acme", syntax="proto3")
    message = file.message_type.add(name="A")
    message.field.add(name="m", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL, type_name=".acme.Missing")
    home = tempfile.mkdtemp(prefix="lr-bad-", dir="/tmp")
    try:
        path = os.path.join(home, "set.pb")
        with open(path, "wb") as f:
            f.write(descriptor_pb2.FileDescriptorSet(file=[file]).SerializeToString())
        d = make_daemon(args=["--descriptor-set", path]).start()
        assert d.wait_exit(30) not in (None, 0), d.output()
        assert path in d.stderr() and "acme.Missing" in d.stderr() and "--include_imports" in d.stderr(), d.output()
    finally:
        shutil.rmtree(home, ignore_errors=True)
