"""The `longrun` CLI end to end against a real longrund (flags and exit codes from
Sources/longrun and Sources/LongrunCLIKit/ExitCodes.swift):

exit codes: 0 success; 1 error (one line on stderr) and, for `wait`, a failed operation;
2 `wait`: cancelled; 3 `wait`: --timeout passed; 4 `progress`: cancellation requested; 64 usage.
"""

import json
import os
import socket
import subprocess
import time

import grpc
import pytest
from google.longrunning import operations_pb2
from google.protobuf import struct_pb2, wrappers_pb2
from google.rpc import code_pb2

import support

STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"


@pytest.fixture(scope="module")
def longrun_binary():
    return support.binary("LONGRUN", "longrun")


@pytest.fixture(scope="module")
def cli(longrun_binary, daemon):
    def run(*args, timeout=30, env=None, input=None, socket_path=None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}
        full_env.update(env or {})
        sub, rest = args[0], list(args[1:])
        cmd = [longrun_binary, sub, "--socket", socket_path or daemon.socket, *rest]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, input=input)
    return run


@pytest.fixture(scope="module")
def operations(channel):
    return support.stubs(channel)[3]


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def event_kind(event):
    for key in ("created", "progressed", "cancelRequested", "cancel_requested", "completed", "deleted"):
        if key in event:
            return {"cancel_requested": "cancelRequested"}.get(key, key)
    raise AssertionError(f"no kind in {event}")


def get(operations, name):
    return operations.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=10)


def test_create_progress_wait_success(cli, operations, longrun_binary, daemon):
    op_id = support.unique_id("cli")
    out = ok(cli("create", "--id", op_id, "--metadata", '{"percent": 0, "message": "queued"}', "--actor", "cli-test"))
    name = out.strip()
    assert name == f"operations/{op_id}"
    op = get(operations, name)
    meta = struct_pb2.Struct()
    assert not op.done and op.metadata.Unpack(meta) and meta["message"] == "queued"

    out = ok(cli("progress", name, "--metadata", '{"percent": 50, "message": "compiling"}'))
    assert out.strip() == "version=2 cancel_requested=false"
    assert get(operations, name).metadata.Unpack(meta) and meta["percent"] == 50

    # `wait` blocks until the operation is done, then exits 0 with the final state.
    waiter = subprocess.Popen([longrun_binary, "wait", name, "--socket", daemon.socket, "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, f"wait returned early: {waiter.communicate()}"
        ok(cli("complete", name, "--response", json.dumps({"@type": STRING_VALUE, "value": "artifact.tar"})))
        stdout, stderr = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, (stdout, stderr)
    [final] = json_lines(stdout)
    assert final["name"] == name and final["done"] is True
    assert final["response"] == {"@type": STRING_VALUE, "value": "artifact.tar"}
    value = wrappers_pb2.StringValue()
    assert get(operations, name).response.Unpack(value) and value.value == "artifact.tar"


def test_wait_exit_code_for_failed_operation(cli, operations):
    name = ok(cli("create")).strip()
    ok(cli("complete", name, "--error-code", "INTERNAL", "--error-message", "compiler crashed"))
    op = get(operations, name)
    assert op.error.code == code_pb2.INTERNAL and op.error.message == "compiler crashed"
    result = cli("wait", name, "--json")
    assert result.returncode == 1, result
    [final] = json_lines(result.stdout)
    assert final["error"]["code"] == code_pb2.INTERNAL


def test_cancel_progress_signals_then_wait_exit_code_cancelled(cli, operations):
    name = ok(cli("create")).strip()
    out = ok(cli("cancel", name, "--reason", "user pressed stop"))
    assert "cancellation requested" in out
    result = cli("progress", name, "--metadata", '{"message": "stopping"}')
    assert result.returncode == 4, result
    assert "cancel_requested=true" in result.stdout
    ok(cli("complete", name, "--error-code", "CANCELLED"))
    result = cli("wait", name)
    assert result.returncode == 2, result
    assert get(operations, name).error.code == code_pb2.CANCELLED


def test_immediate_cancel(cli, operations):
    name = ok(cli("create", "--immediate-cancel")).strip()
    out = ok(cli("cancel", name))
    assert "done" in out and "cancelled" in out, out
    assert get(operations, name).error.code == code_pb2.CANCELLED
    assert cli("wait", name).returncode == 2


def test_wait_timeout_exit_code(cli):
    name = ok(cli("create")).strip()
    started = time.monotonic()
    result = cli("wait", name, "--timeout", "300ms", "--json")
    assert result.returncode == 3, result
    assert time.monotonic() - started < 15
    [final] = json_lines(result.stdout)
    assert final["name"] == name and final["done"] is False
    assert "not done" in result.stderr


def test_wait_exit_code_when_the_daemon_dies(longrun_binary, make_daemon):
    """SIGKILL while `wait` follows a running operation: exit 6 (daemon unreachable), not 1 (failed)."""
    d = make_daemon().start().wait_ready()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}
    created = subprocess.run([longrun_binary, "create", "--socket", d.socket], capture_output=True, text=True,
                             timeout=30, env=env)
    name = ok(created).strip()
    # `wait` reconnects after a restart for --retry-for; the daemon stays dead for longer.
    waiter = subprocess.Popen([longrun_binary, "wait", name, "--socket", d.socket, "--retry-for", "1s"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, waiter.communicate()
        d.kill()
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 6, f"exit {waiter.returncode}\nstdout: {out}\nstderr: {err}"
    lines = err.strip().splitlines()
    assert "reconnecting for up to 1s" in lines[0], err
    assert lines[-1].startswith("longrun: ") and "longrund is not running on it" in lines[-1], err
    assert out == ""


def test_wait_and_watch_ride_out_a_daemon_restart(longrun_binary, make_daemon):
    """SIGTERM the daemon under `wait` and `watch --json`, start it again on the same data directory
    and socket: both reconnect; `wait` reports the result, `watch` continues without a gap or a repeat."""
    first = make_daemon().start().wait_ready()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}

    def run(*args):
        return ok(subprocess.run([longrun_binary, args[0], "--socket", first.socket, *args[1:]],
                                 capture_output=True, text=True, timeout=30, env=env))

    name = run("create").strip()
    run("progress", name, "--metadata", '{"percent": 10}')
    waiter = subprocess.Popen([longrun_binary, "wait", name, "--socket", first.socket, "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watcher = subprocess.Popen([longrun_binary, "watch", "--socket", first.socket, "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.0)
        first.stop_and_check()
        time.sleep(0.5)
        assert waiter.poll() is None and watcher.poll() is None, "wait or watch gave up at once"
        second = make_daemon(data_dir=first.data_dir, socket_path=first.socket, store=first.store).start().wait_ready()
        run("progress", name, "--metadata", '{"percent": 90}')
        run("complete", name, "--response", '{"ok": true}')
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, f"exit {waiter.returncode}\nstdout: {out}\nstderr: {err}"
        [final] = json_lines(out)
        assert final["name"] == name and final["done"] is True and final["response"]["value"] == {"ok": True}
        # watch: every event once, in order, across the restart (created, 2 progressed, completed).
        deadline = time.monotonic() + 30
        events = []
        while len(events) < 4 and time.monotonic() < deadline:
            line = watcher.stdout.readline()
            if line.strip():
                events.append(json.loads(line))
        sequences = [int(e["sequence"]) for e in events]
        assert sequences == sorted(set(sequences)), sequences
        assert [event_kind(e) for e in events] == ["created", "progressed", "progressed", "completed"], events
        assert watcher.poll() is None
    finally:
        for p in (waiter, watcher):
            if p.poll() is None:
                p.kill()
                p.wait()
    second.stop_and_check()


def test_wait_exit_code_without_a_daemon(cli):
    missing = f"/tmp/lr-missing-{support.unique_id('s')}/longrund.sock"
    result = cli("wait", "operations/x", socket_path=missing, timeout=30)
    assert result.returncode == 6, result
    assert f"cannot connect to {missing}: no such socket; longrund is not running on it" in result.stderr
    # Other commands keep exit code 1 for an error.
    assert cli("get", "operations/x", socket_path=missing, timeout=30).returncode == 1


def test_history_list_json_and_delete(cli, operations):
    parent = f"tenants/{support.unique_id('c')}"
    names = [ok(cli("create", "--parent", parent, "--id", f"job-{i}", "--actor", "cli-bot")).strip() for i in range(5)]
    assert names == [f"{parent}/operations/job-{i}" for i in range(5)]
    ok(cli("progress", names[0], "--metadata", '{"percent": 10}'))
    ok(cli("complete", names[0], "--response", '{"files": 3}'))
    ok(cli("cancel", names[1], "--reason", "no longer needed"))

    # list --json: one JSON object per operation, in creation order; --all pages through.
    listed = json_lines(ok(cli("list", parent, "--json", "--all", "--page-size", "2")))
    assert [o["name"] for o in listed] == names
    # Any in the protobuf JSON mapping: a Struct (special JSON form) sits under "value".
    assert listed[0]["done"] is True
    assert listed[0]["response"] == {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"files": 3}}
    # Every field present (docs/JSON.md): a running operation says done false and metadata null,
    # and has neither member of the result oneof.
    assert listed[1]["done"] is False and listed[1]["metadata"] is None
    assert "error" not in listed[1] and "response" not in listed[1]
    running = json_lines(ok(cli("list", parent, "--json", "--all", "--filter", "done = false")))
    assert [o["name"] for o in running] == names[1:]
    # Without --all only the first page, and a hint on stderr.
    first = cli("list", parent, "--json", "--page-size", "2")
    assert [o["name"] for o in json_lines(ok(first))] == names[:2]
    assert "--page-token" in first.stderr
    # Human table.
    table = ok(cli("list", parent))
    assert table.splitlines()[0].split()[:3] == ["NAME", "DONE", "RESULT"]
    assert all(n in table for n in names)
    # --all prints page by page: one header, then every row once, in creation order.
    paged = ok(cli("list", parent, "--all", "--page-size", "1")).splitlines()
    assert paged[0].split()[:3] == ["NAME", "DONE", "RESULT"]
    assert [line.split()[0] for line in paged[1:]] == names

    # history --json
    events = json_lines(ok(cli("history", names[0], "--json")))
    assert [event_kind(e) for e in events] == ["created", "progressed", "completed"]
    assert all(e["name"] == names[0] for e in events)
    assert events[0]["actor"]["label"] == "cli-bot"
    seqs = [int(e["sequence"]) for e in events]
    assert seqs == sorted(seqs)
    cancel_events = json_lines(ok(cli("history", names[1], "--json")))
    assert [event_kind(e) for e in cancel_events] == ["created", "cancelRequested"]
    req = cancel_events[1].get("cancelRequested") or cancel_events[1].get("cancel_requested")
    assert req["reason"] == "no longer needed"

    # delete: gone from get/list, history stays.
    out = ok(cli("delete", names[0]))
    assert names[0] in out
    with pytest.raises(grpc.RpcError) as err:
        get(operations, names[0])
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    gone = cli("get", names[0])
    assert gone.returncode == 1
    assert gone.stderr.startswith("longrun: ") and "NOT_FOUND" in gone.stderr.upper().replace(" ", "_"), gone.stderr
    assert len(gone.stderr.strip().splitlines()) == 1, gone.stderr
    again = cli("delete", names[0])
    assert again.returncode == 1
    assert [o["name"] for o in json_lines(ok(cli("list", parent, "--json", "--all")))] == names[1:]
    after = json_lines(ok(cli("history", names[0], "--json")))
    assert [event_kind(e) for e in after] == ["created", "progressed", "completed", "deleted"]


def test_get_shows_whether_an_operation_is_held_and_why(cli):
    name = ok(cli("create")).strip()
    assert "hold:         none" in ok(cli("get", name))
    ok(cli("hold", name, "--reason", "audit"))
    assert 'hold:         held reason="audit"' in ok(cli("get", name))
    ok(cli("release", name))
    assert "hold:         none" in ok(cli("get", name))


def test_get_json_and_socket_from_environment(cli, daemon):
    name = ok(cli("create", "--metadata", '{"percent": 42}')).strip()
    # LONGRUN_SOCKET instead of --socket.
    from support import binary

    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN")}
    env["LONGRUN_SOCKET"] = daemon.socket
    result = subprocess.run([binary("LONGRUN", "longrun"), "get", name, "--json"], capture_output=True, text=True,
                            timeout=30, env=env)
    [op] = json_lines(ok(result))
    assert op["operation"]["name"] == name
    assert op["operation"]["metadata"]["@type"] == "type.googleapis.com/google.protobuf.Struct"


def test_usage_errors_exit_64(cli):
    name = ok(cli("create")).strip()
    result = cli("complete", name)  # neither a response nor an error
    assert result.returncode == 64, result
    result = cli("wait", name, "--timeout", "soon")
    assert result.returncode == 64, result


def test_missing_socket_is_a_clear_error(cli):
    missing = f"/tmp/lr-missing-{support.unique_id('s')}/longrund.sock"
    started = time.monotonic()
    result = cli("list", socket_path=missing, timeout=30)
    assert result.returncode == 1, result
    assert time.monotonic() - started < 10
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot connect to {missing}: no such socket; longrund is not running on it" in lines[0], lines[0]
    assert result.stdout == ""


def test_stale_socket_is_a_clear_error(cli):
    """A socket file nobody listens on (e.g. left by a crashed daemon)."""
    path = f"/tmp/lr-stale-{support.unique_id('s')}.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # bound, never listening: connect() is refused
    try:
        result = cli("get", "operations/x", socket_path=path, timeout=30)
        assert result.returncode == 1, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"cannot connect to {path}: nothing listens on it" in lines[0], result.stderr
        assert "longrund is not running on it" in lines[0], result.stderr
    finally:
        os.unlink(path)


def test_watch_json_replays_then_follows(cli, longrun_binary, daemon):
    import queue
    import signal
    import threading

    parent = f"tenants/{support.unique_id('cw')}"
    a = ok(cli("create", "--parent", parent, "--id", "a")).strip()
    ok(cli("complete", a, "--error-code", "ABORTED", "--error-message", "x"))
    proc = subprocess.Popen([longrun_binary, "watch", parent, "--socket", daemon.socket, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        replayed = [json.loads(lines.get(timeout=15)) for _ in range(2)]
        assert [(e["name"], event_kind(e)) for e in replayed] == [(a, "created"), (a, "completed")]
        b = ok(cli("create", "--parent", parent, "--id", "b")).strip()
        live = json.loads(lines.get(timeout=15))
        assert (live["name"], event_kind(live)) == (b, "created")
        assert int(live["sequence"]) > int(replayed[1]["sequence"])
        assert proc.poll() is None, "watch ended by itself"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("longrun watch did not stop on SIGINT within 10 s")


def test_the_three_binaries_print_the_version_the_daemon_reports(longrun_binary, daemon):
    from longrun.v1 import admin_pb2

    printed = set()
    for path in (support.binary("LONGRUND", "longrund"), longrun_binary, support.binary("LONGRUN_REPLAY", "longrun-replay")):
        result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (path, result.stderr)
        printed.add(result.stdout.strip())
    assert len(printed) == 1, printed
    with grpc.insecure_channel(daemon.target) as channel:
        _, _, admin, _ = support.stubs(channel)
        reported = admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=10).version
    assert printed == {reported} and reported, (printed, reported)


def test_longrun_and_longrun_replay_print_one_json_convention(cli, daemon):
    """docs/JSON.md: every field present, lowerCamelCase keys, integers as numbers, in both tools."""
    name = ok(cli("create", "--parent", "tenants/json")).strip()
    ok(cli("progress", name))
    replay = support.binary("LONGRUN_REPLAY", "longrun-replay")

    def walk(value, path=""):
        # Keys outside payloads: lowerCamelCase (or "@type"); no 64-bit integer quoted as a string.
        if isinstance(value, dict):
            for key, inner in value.items():
                assert key == "@type" or (key[:1].islower() and "_" not in key), f"{path}.{key}"
                if key in ("sequence", "version", "headSequence", "eventsChecked", "appliedSequence"):
                    assert isinstance(inner, int) and not isinstance(inner, bool), f"{path}.{key} = {inner!r}"
                walk(inner, f"{path}.{key}")
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path + "[]")

    [details] = json_lines(ok(cli("get", name, "--json")))
    walk(details)
    assert details["version"] == 2 and details["cancelRequested"] is False
    assert details["operation"]["done"] is False and details["operation"]["metadata"] is None
    events = json_lines(ok(cli("history", name, "--json")))
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    for event in events:
        walk(event)
    progressed = [e for e in events if "progressed" in e]
    assert progressed and progressed[0]["progressed"]["version"] == 2

    where = ["--store", daemon.store] if daemon.store else ["--data-dir", daemon.data_dir]
    dumped = subprocess.run([replay, "dump", *where, "--json"], capture_output=True, text=True, timeout=60)
    for event in json_lines(ok(dumped)):
        walk(event)
    verified = subprocess.run([replay, "verify", *where, "--json"], capture_output=True, text=True, timeout=60)
    [report] = json_lines(ok(verified))
    walk(report)
    assert report["healthy"] is True and report["firstBadSequence"] is None and report["problems"] == []


def test_bulk_cancel_and_delete_by_filter(cli):
    """`longrun cancel|delete --filter`: counts first, refuses to guess without a terminal, acts
    on every match with --yes (each as its own event) and reports what it did."""
    parent = f"tenants/{support.unique_id('bulk')}"
    names = [ok(cli("create", "--parent", parent, "--id", f"job-{i}")).strip() for i in range(4)]
    ok(cli("complete", names[0], "--response", '{"ok": true}'))

    dry = json_lines(ok(cli("cancel", "--filter", "done = false", "--collection", parent, "--dry-run", "--json")))[0]
    assert dry["matched"] == 3 and dry["changed"] == 0
    # No terminal to ask on (stdin is not a TTY) and no --yes: nothing changes, exit 64.
    refused = cli("cancel", "--filter", "done = false", "--collection", parent, input="y\n")
    assert refused.returncode == 64 and "--yes" in refused.stderr, refused
    assert all(e.get("cancelRequested") is None for e in json_lines(ok(cli("history", names[1], "--json"))))
    # An empty filter is not "everything".
    assert cli("delete", "--filter", "", "--collection", parent, "--yes").returncode == 1

    report = json_lines(ok(cli("cancel", "--filter", "done = false", "--collection", parent, "--yes", "--reason", "cleanup", "--json")))[0]
    assert (report["matched"], report["changed"], report["unchanged"], report["refusedCount"]) == (3, 3, 0, 0)
    cancels = [e for e in json_lines(ok(cli("history", names[2], "--json"))) if "cancelRequested" in e]
    assert len(cancels) == 1 and cancels[0]["cancelRequested"]["reason"] == "cleanup"

    text = ok(cli("delete", "--every-operation", "--collection", parent, "--yes"))
    assert text.startswith("4 matched: 4 deleted, 0 unchanged, 0 refused"), text
    assert json_lines(ok(cli("list", parent, "--json"))) == []
