"""Interop test harness: generates the longrun.v1 Python stubs, and starts real `longrund` daemons.

- The longrun.v1 stubs are generated once per session (grpc_tools.protoc, only Protos/longrun/v1)
  into a temporary directory put on sys.path; google.longrunning / google.rpc come from
  googleapis-common-protos so their types are shared with google-api-core.
- `daemon` is a fresh longrund per test module; `fresh_daemon` one per test (where state matters).
  Both yield a `Daemon` (see support.py): `.socket`, `.target` ("unix:..."), `.data_dir`. Teardown
  sends SIGTERM and fails the test if the daemon does not exit 0 within 10 s.
"""

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_GENERATED = None


def _generate_longrun_stubs():
    """protoc for Protos/longrun/v1/*.proto only, into a temp dir that goes on sys.path."""
    global _GENERATED
    from grpc_tools import protoc
    import grpc_tools

    out = tempfile.mkdtemp(prefix="longrun-pb-")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    protos = sorted(str(p.relative_to(REPO / "Protos")) for p in (REPO / "Protos/longrun/v1").glob("*.proto"))
    if not protos:
        raise RuntimeError(f"no .proto files under {REPO / 'Protos/longrun/v1'}")
    args = ["grpc_tools.protoc", f"-I{REPO / 'Protos'}", f"-I{wkt}",
            f"--python_out={out}", f"--grpc_python_out={out}", *protos]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"grpc_tools.protoc failed ({status}) for {protos}")
    sys.path.insert(0, out)
    _GENERATED = out


def pytest_configure(config):
    _generate_longrun_stubs()


def pytest_unconfigure(config):
    if _GENERATED:
        shutil.rmtree(_GENERATED, ignore_errors=True)


# Every test is bounded: google-api-core retries UNAVAILABLE for up to 10 minutes, so a daemon that
# died would otherwise stall the suite. Override with LONGRUN_TEST_TIMEOUT (seconds, 0 = none).
TEST_TIMEOUT = int(os.environ.get("LONGRUN_TEST_TIMEOUT", "120"))


class TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if TEST_TIMEOUT <= 0:
        yield
        return

    def expired(signum, frame):
        raise TestTimeout(f"{item.nodeid} did not finish within {TEST_TIMEOUT} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _daemons_stay_up(request):
    """A module's daemon must not die during a test: say so at once, with its output, instead of
    failing every later test with UNAVAILABLE."""
    names = [n for n in ("daemon", "fresh_daemon") if n in request.fixturenames]
    daemons = [request.getfixturevalue(n) for n in names]
    for d in daemons:
        if not d.running():
            pytest.fail(f"longrund ({d.socket}) is not running (exit {d.proc.returncode}) before the test\n"
                        f"{d.output()}", pytrace=False)
    yield
    for d in daemons:
        if not d.running():
            pytest.fail(f"longrund ({d.socket}) exited with {d.proc.returncode} during the test\n{d.output()}",
                        pytrace=False)


# Imported after the hooks are defined; support.py imports nothing generated at module level.
import support  # noqa: E402


@pytest.fixture(scope="session")
def longrund_binary():
    return support.binary("LONGRUND", "longrund")


def _serve(d):
    try:
        d.start()
        d.wait_ready()  # fails the test with the daemon's output if it does not come up
    except BaseException:
        d.cleanup()
        raise
    try:
        yield d
    finally:
        try:
            d.stop_and_check()  # SIGTERM: must exit 0 within 10 s
        finally:
            d.cleanup()


@pytest.fixture(scope="module")
def daemon(longrund_binary):
    """A fresh longrund for the whole test module."""
    yield from _serve(support.Daemon(longrund_binary))


@pytest.fixture
def fresh_daemon(longrund_binary):
    """A fresh longrund for one test."""
    yield from _serve(support.Daemon(longrund_binary))


@pytest.fixture
def make_daemon(longrund_binary):
    """Factory for tests that manage daemons themselves (lifecycle tests). Whatever is still running
    at teardown is stopped with SIGTERM and checked like the other fixtures."""
    made = []

    def make(**kwargs):
        d = support.Daemon(longrund_binary, **kwargs)
        made.append(d)
        return d

    yield make
    errors = []
    for d in made:
        if d.running():
            try:
                d.stop_and_check()
            except AssertionError as e:  # report every daemon, not just the first
                errors.append(str(e))
    for d in made:
        d.cleanup()
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture(scope="module")
def channel(daemon):
    import grpc

    ch = grpc.insecure_channel(daemon.target)
    yield ch
    ch.close()
