"""Identity and authorization against the real daemon, with real processes under a second uid.

The daemon reads each connection's SO_PEERCRED; nothing a client sends can change who it is.
These tests create a system user (and a group for the admin-group case) when run as root, and are
skipped otherwise: proving that one uid cannot act for another needs two uids.
"""

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile

import grpc
import pytest

import support

PEER_USER = "longrun-peer"
ADMIN_GROUP = "longrun-admins"
CLIENT = os.path.join(os.path.dirname(__file__), "peer_client.py")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a second user")


def _ensure_user():
    try:
        grp.getgrnam(ADMIN_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", ADMIN_GROUP], check=True)
    try:
        pwd.getpwnam(PEER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PEER_USER], check=True)
    entry = pwd.getpwnam(PEER_USER)
    return entry.pw_uid, entry.pw_gid


@pytest.fixture(scope="module")
def peer():
    uid, gid = _ensure_user()
    return uid, gid


def run_as(socket_path, uid, gid, calls, groups=()):
    """Runs `calls` (see peer_client.py) as uid/gid with the given supplementary groups."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, CLIENT, socket_path, str(uid), str(gid),
                          ",".join(map(str, groups)) or "-", json.dumps(calls)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, f"peer client failed:\n{out.stderr}"
    return json.loads(out.stdout)


def serve(make_daemon, *args):
    """A daemon whose socket the second user can reach: a 0711 home, a 0666 socket."""
    d = make_daemon(args=["--socket-mode", "0666", *args])
    os.chmod(d.home, 0o711)
    return d.start().wait_ready()


def codes(results):
    return [r["code"] for r in results]


def test_events_record_the_kernel_identity_of_each_caller_and_ignore_forged_headers(make_daemon, peer):
    uid, gid = peer
    d = serve(make_daemon)
    forged = [["longrun-peer", "uid=0;gid=0;pid=1;admin=1"], ["longrun-actor", "peer-bot"]]
    [created] = run_as(d.socket, uid, gid, [{"call": "create", "id": "mine", "metadata": forged}])
    assert created["code"] == "OK"
    # The forged header claimed root; the daemon recorded the real uid, and the admin claim gave nothing.
    run_as(d.socket, 0, 0, [{"call": "create", "id": "roots"}])
    denied = run_as(d.socket, uid, gid, [{"call": "complete", "name": "operations/roots", "metadata": forged}])
    assert codes(denied) == ["PERMISSION_DENIED"], denied
    [history] = run_as(d.socket, 0, 0, [{"call": "history", "name": "operations/mine"}])
    [event] = history["result"]
    assert int(event["actor"]["uid"]) == uid
    assert int(event["actor"]["pid"]) > 1
    assert event["actor"]["label"] == "peer-bot"


def test_only_the_creator_root_or_the_admin_group_change_an_operation(make_daemon, peer):
    uid, gid = peer
    d = serve(make_daemon)
    assert codes(run_as(d.socket, 0, 0, [{"call": "create", "id": f"r{i}"} for i in range(4)])) == ["OK"] * 4
    # Another uid may read root's operations (the default is not owner-only) but change none of them.
    results = run_as(d.socket, uid, gid, [
        {"call": "get", "name": "operations/r0"},
        {"call": "progress", "name": "operations/r0"},
        {"call": "complete", "name": "operations/r1"},
        {"call": "cancel", "name": "operations/r2"},
        {"call": "delete", "name": "operations/r3"},
        # PERMISSION_DENIED comes before NOT_FOUND: refusals do not reveal what exists.
        {"call": "progress", "name": "operations/never-created"},
        {"call": "delete", "name": "operations/never-created"},
    ])
    assert codes(results) == ["OK"] + ["PERMISSION_DENIED"] * 6, results
    assert "only the operation's creator" in results[1]["message"]
    # Nothing changed: every root operation is still at version 1, running, not cancelled.
    for i in range(4):
        [got] = run_as(d.socket, 0, 0, [{"call": "get", "name": f"operations/r{i}"}])
        assert got["code"] == "OK" and not got["result"].get("done", False), got
    # The second uid runs the whole lifecycle of its own operation, and root may act on it too.
    results = run_as(d.socket, uid, gid, [
        {"call": "create", "id": "p1"}, {"call": "progress", "name": "operations/p1"},
        {"call": "complete", "name": "operations/p1"}, {"call": "create", "id": "p2"},
    ])
    assert codes(results) == ["OK"] * 4, results
    assert codes(run_as(d.socket, 0, 0, [{"call": "cancel", "name": "operations/p2"},
                                         {"call": "delete", "name": "operations/p1"}])) == ["OK", "OK"]


def test_members_of_the_admin_group_act_like_root(make_daemon, peer):
    uid, gid = peer
    admins = grp.getgrnam(ADMIN_GROUP).gr_gid
    d = serve(make_daemon, "--admin-group", ADMIN_GROUP)
    run_as(d.socket, 0, 0, [{"call": "create", "id": "r"}])
    # The daemon looks membership up in the group database, not in the client's process: add the
    # user to the group for this test and take it out again.
    subprocess.run(["usermod", "-a", "-G", ADMIN_GROUP, PEER_USER], check=True)
    try:
        results = run_as(d.socket, uid, gid, [{"call": "progress", "name": "operations/r"},
                                              {"call": "complete", "name": "operations/r"}], groups=[admins])
        assert codes(results) == ["OK", "OK"], results
    finally:
        subprocess.run(["gpasswd", "-d", PEER_USER, ADMIN_GROUP], check=True, capture_output=True)
    run_as(d.socket, 0, 0, [{"call": "create", "id": "r2"}])
    # Out of the group (a new connection is checked anew), the same user is refused again.
    assert codes(run_as(d.socket, uid, gid, [{"call": "complete", "name": "operations/r2"}])) == ["PERMISSION_DENIED"]


def test_owner_only_mode_hides_other_users_operations(make_daemon, peer):
    uid, gid = peer
    d = serve(make_daemon, "--owner-only")
    run_as(d.socket, 0, 0, [{"call": "create", "id": "secret"}])
    results = run_as(d.socket, uid, gid, [
        {"call": "create", "id": "own"},
        {"call": "get", "name": "operations/secret"},
        {"call": "get", "name": "operations/never-created"},
        {"call": "history", "name": "operations/secret"},
        {"call": "wait", "name": "operations/secret", "seconds": 1},
        {"call": "list"},
        {"call": "get", "name": "operations/own"},
        {"call": "watch_first", "count": 2, "seconds": 2},
    ])
    assert codes(results) == ["OK", "PERMISSION_DENIED", "PERMISSION_DENIED", "PERMISSION_DENIED",
                              "PERMISSION_DENIED", "OK", "OK", "OK"], results
    assert results[5]["result"] == ["operations/own"]
    # The watch skips root's operation: the first event it delivers is the peer's own.
    assert results[7]["result"] == ["operations/own"]
    # Root reads everything.
    [listing] = run_as(d.socket, 0, 0, [{"call": "list"}])
    assert sorted(listing["result"]) == ["operations/own", "operations/secret"]


def test_open_waits_are_capped_per_uid_without_touching_other_users(make_daemon, peer):
    uid, gid = peer
    d = serve(make_daemon, "--max-waits-per-peer", "2")
    run_as(d.socket, uid, gid, [{"call": "create", "id": "slow"}])
    run_as(d.socket, 0, 0, [{"call": "create", "id": "root-slow"}])
    [answers] = run_as(d.socket, uid, gid, [{"call": "wait", "name": "operations/slow", "seconds": 4, "parallel": 3}])
    assert sorted(codes(answers)) == ["OK", "OK", "RESOURCE_EXHAUSTED"], answers
    exhausted = next(a for a in answers if a["code"] == "RESOURCE_EXHAUSTED")
    assert f"uid {uid}" in exhausted["message"]
    # Once they return, the slots are free again; and another uid was never limited by them.
    assert codes(run_as(d.socket, uid, gid, [{"call": "wait", "name": "operations/slow", "seconds": 1}])) == ["OK"]
    [root_answers] = run_as(d.socket, 0, 0, [{"call": "wait", "name": "operations/root-slow", "seconds": 1, "parallel": 2}])
    assert codes(root_answers) == ["OK", "OK"]


def test_socket_gets_the_configured_mode_and_group(make_daemon, peer):
    admins = grp.getgrnam(ADMIN_GROUP).gr_gid
    d = make_daemon(args=["--socket-mode", "0660", "--socket-group", ADMIN_GROUP]).start().wait_ready()
    info = os.stat(d.socket)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o660
    assert info.st_gid == admins
    # Not in the group, the second user cannot even connect.
    uid, gid = peer
    out = run_as(d.socket, uid, gid, [{"call": "list"}])
    assert codes(out) == ["UNAVAILABLE"], out


def test_a_socket_directory_others_can_write_is_refused(make_daemon):
    shared = tempfile.mkdtemp(prefix="lr-shared-", dir="/tmp")
    try:
        os.chmod(shared, 0o1777)
        d = make_daemon(socket_path=os.path.join(shared, "d.sock")).start()
        assert d.wait_exit(30) == 1
        assert "writable by other users" in d.stderr()
        assert not os.path.exists(os.path.join(shared, "d.sock"))
        # Refused before anything else: no store was created, and the advice is safe to follow
        # (never "take the write bit off a shared directory").
        assert not os.path.exists(d.data_dir), os.listdir(os.path.dirname(d.data_dir))
        assert "chmod" not in d.stderr()
        assert f"--socket {shared}/longrun-{os.getuid()}/d.sock" in d.stderr(), d.stderr()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
