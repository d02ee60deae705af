"""A data directory that is not ours is refused: longrund exits non-zero with one line that names
what is wrong and what to do, and leaves the directory as it found it.

"As it found it" means: every file that was there has the same bytes, and no file was added —
except, for a directory holding a valid LMDB environment, LMDB's own lock file (`lock.mdb`,
runtime state that LMDB rewrites at every open) and the daemon's lock file, which must be
created before the environment may be opened.
"""

import hashlib
import os
import struct
import subprocess

import pytest

import support


def tree(path):
    """{relative path: sha256} of every file under `path` (or of `path` itself if it is a file)."""
    if os.path.isfile(path):
        return {".": hashlib.sha256(open(path, "rb").read()).hexdigest()}
    found = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            found[os.path.relpath(full, path)] = hashlib.sha256(open(full, "rb").read()).hexdigest()
    return found


def refused(make_daemon, data_dir, phrases, may_add=()):
    """Starts longrund on `data_dir`; asserts it exits 1 at once with every phrase in its message,
    and that `data_dir` is unchanged (files in `may_add` may appear or change)."""
    before = tree(data_dir)
    daemon = make_daemon(data_dir=data_dir).start()
    code = daemon.wait_exit(30)
    assert code == 1, f"longrund exited {code} on {data_dir}\n{daemon.output()}"
    lines = [line for line in daemon.stderr().splitlines() if line.startswith("longrund: ")]
    assert lines, daemon.output()
    message = lines[-1]
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in: {message}"
    after = tree(data_dir)
    for name in set(before) | set(after):
        if name in may_add:
            continue
        assert before.get(name) == after.get(name), f"{name} was {'added' if name not in before else 'changed'}: {message}"
    assert not os.path.exists(daemon.socket), "longrund created its socket"
    return message


def lmdb_used_bytes(data):
    """The bytes of the data file LMDB's newest meta page says the store uses. The file runs past
    them: the journal keeps it written, or read into the page cache as a hole, ahead of LMDB
    (docs/FORMAT.md, "Journal"), so a truncation that misses no page of LMDB's is no damage."""
    with open(data, "rb") as f:
        first = f.read(152)
        page_size = struct.unpack_from("<I", first, 40)[0]  # LMDB keeps it in the free DB's md_pad
        f.seek(page_size)
        second = f.read(152)
    newest = max((first, second), key=lambda meta: struct.unpack_from("<Q", meta, 144)[0])  # mm_txnid
    return (struct.unpack_from("<Q", newest, 136)[0] + 1) * page_size  # mm_last_pg


def make_store(make_daemon, events=40):
    """A real store, filled through the daemon and stopped; returns its data directory."""
    daemon = make_daemon().start().wait_ready()
    import grpc

    with grpc.insecure_channel(daemon.target) as channel:
        producers, _, _, _ = support.stubs(channel)
        from google.protobuf import wrappers_pb2

        for _ in range(events):
            support.create(producers, metadata=wrappers_pb2.StringValue(value="x" * 2000))
    daemon.stop_and_check()
    return daemon.data_dir


def test_an_unrelated_lmdb_environment(make_daemon, tmp_path):
    lmdb = pytest.importorskip("lmdb")
    path = str(tmp_path / "foreign")
    env = lmdb.open(path, max_dbs=4)
    invoices = env.open_db(b"invoices")
    with env.begin(write=True) as txn:
        txn.put(b"2026-001", b"paid", db=invoices)
    env.close()
    message = refused(make_daemon, path, ["not a Longrun store", "invoices", "nothing was changed", "new or empty directory"],
                      may_add={"lock.mdb", "longrund.lock"})
    # Still theirs: the other application reads its data as before.
    env = lmdb.open(path, max_dbs=4, readonly=True)
    with env.begin(db=env.open_db(b"invoices", create=False)) as txn:
        assert txn.get(b"2026-001") == b"paid", message
    env.close()


def test_a_data_file_of_random_bytes(make_daemon, tmp_path):
    path = tmp_path / "random"
    path.mkdir()
    (path / "data.mdb").write_bytes(os.urandom(200_000))
    refused(make_daemon, str(path), ["is not a Longrun store", "not an LMDB data file", "Nothing was changed"])


def test_a_truncated_data_file(make_daemon):
    path = make_store(make_daemon)
    data = os.path.join(path, "data.mdb")
    size = lmdb_used_bytes(data)
    os.truncate(data, size // 2)
    # LMDB alone maps the short file and dies with SIGBUS on the first missing page.
    refused(make_daemon, path, ["data.mdb is damaged", "truncated", f"has {size // 2} bytes", "Nothing was changed",
                                "backup"])


def test_an_empty_data_file_is_not_made_a_new_store(make_daemon, tmp_path):
    path = tmp_path / "empty"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"")
    refused(make_daemon, str(path), ["empty", "Nothing was changed"])


def test_a_store_of_a_future_format_version(make_daemon):
    lmdb = pytest.importorskip("lmdb")
    path = make_store(make_daemon)
    env = lmdb.open(path, max_dbs=32, map_size=1 << 30)
    with env.begin(write=True, db=env.open_db(b"meta")) as txn:
        txn.put(b"format_version", struct.pack(">I", 3))
    env.close()
    refused(make_daemon, path, ["store format 3", "reads format 2", "Nothing was changed", "newer Longrun"],
            may_add={"lock.mdb", "longrund.lock"})


def test_a_regular_file_where_the_directory_should_be(make_daemon, tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"not a directory\n")
    refused(make_daemon, str(path), ["is not a directory", "a regular file", "nothing was changed"])


def test_a_directory_of_other_files(make_daemon, tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")
    refused(make_daemon, str(path), ["holds no Longrun store", "notes.txt", "new or empty directory"])


def test_the_replay_tool_refuses_a_truncated_store_too(make_daemon):
    path = make_store(make_daemon)
    data = os.path.join(path, "data.mdb")
    os.truncate(data, lmdb_used_bytes(data) // 2)
    before = tree(path)
    result = subprocess.run([support.binary("LONGRUN_REPLAY", "longrun-replay"), "verify", "--data-dir", path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode not in (0, -7), f"verify: {result.returncode}\n{result.stdout}\n{result.stderr}"  # -7: SIGBUS
    assert "truncated" in result.stderr + result.stdout, result.stderr
    assert tree(path) == before
