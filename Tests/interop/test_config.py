"""longrund's config file and LONGRUND_* variables, on the real daemon: values from the file serve,
flags beat the environment beats the file, mistakes stop it with the file, line and key named."""

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

import support

REPO = Path(__file__).resolve().parents[2]
CONFIG_ERROR = 78  # EX_CONFIG


def clean_env(home, **extra):
    """The test's environment without any LONGRUN*/XDG setting that would pick another file."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LONGRUN_", "LONGRUND_", "XDG_CONFIG_HOME"))}
    env["HOME"] = home
    env.update(extra)
    return env


class ConfigDaemon(support.Daemon):
    """A daemon started with only the given arguments: socket and data directory from the config."""

    def __init__(self, binary_path, socket_path, data_dir, args=(), env=None):
        super().__init__(binary_path, data_dir=data_dir, socket_path=socket_path, args=args)
        self.env = env

    def start(self):
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([self.binary, *self.args], stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=self.env)
        return self


@pytest.fixture
def home():
    path = tempfile.mkdtemp(prefix="lrc-", dir="/tmp")
    yield path
    subprocess.run(["rm", "-rf", path])


def write(path, text):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    return str(path)


def run(binary, *args, env):
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=30)


def serve(binary, socket_path, data_dir, args, env):
    d = ConfigDaemon(binary, socket_path, data_dir, args=args, env=env)
    d.start()
    try:
        d.wait_ready()
        assert os.path.isdir(data_dir), d.output()
    finally:
        d.stop_and_check()
        d.cleanup()


def test_socket_and_data_dir_from_the_file(longrund_binary, home):
    sock, data = f"{home}/f.sock", f"{home}/data"
    conf = write(f"{home}/longrund.toml", f'socket = "{sock}"\ndata-dir = "{data}"\ndurability = "relaxed"\n')
    serve(longrund_binary, sock, data, ["--config", conf], clean_env(home))


def test_default_file_under_xdg_config_home(longrund_binary, home):
    if os.geteuid() == 0:
        pytest.skip("as root the default file is /etc/longrun/longrund.toml")
    sock, data = f"{home}/x.sock", f"{home}/data"
    write(f"{home}/cfg/longrun/longrund.toml", f'socket = "{sock}"\ndata-dir = "{data}"\n')
    serve(longrund_binary, sock, data, [], clean_env(home, XDG_CONFIG_HOME=f"{home}/cfg"))


def test_longrun_config_variable_names_the_file(longrund_binary, home):
    sock, data = f"{home}/v.sock", f"{home}/data"
    conf = write(f"{home}/elsewhere.toml", f'socket = "{sock}"\ndata-dir = "{data}"\n')
    serve(longrund_binary, sock, data, [], clean_env(home, LONGRUN_CONFIG=conf))


def test_flag_beats_the_file(longrund_binary, home):
    sock, data = f"{home}/flag.sock", f"{home}/data"
    conf = write(f"{home}/longrund.toml", f'socket = "{home}/file.sock"\ndata-dir = "{data}"\n')
    serve(longrund_binary, sock, data, ["--config", conf, "--socket", sock], clean_env(home))
    assert not os.path.exists(f"{home}/file.sock")


def printed(longrund_binary, args, env):
    out = run(longrund_binary, *args, "--print-config", env=env)
    assert out.returncode == 0, out.stderr
    values = {}
    for line in out.stdout.splitlines():
        m = re.match(r'^([a-z-]+) = (.*?)  # (.*)$', line)
        if m:
            values[m.group(1)] = (m.group(2), m.group(3))
    return out.stdout, values


def test_precedence_flag_environment_file_default(longrund_binary, home):
    conf = write(f"{home}/l.toml", '# comment\nsync-interval = "3s"\nmax-wait = "2h"\nsnapshots-kept = 5\n')
    env = clean_env(home, LONGRUND_SYNC_INTERVAL="2s", LONGRUND_MAX_WAIT="90m")
    _, values = printed(longrund_binary, ["--config", conf, "--max-wait", "10m"], env)
    assert values["max-wait"] == ('"10m"', "command line")
    assert values["sync-interval"] == ('"2s"', "environment LONGRUND_SYNC_INTERVAL")
    assert values["snapshots-kept"] == ("5", f"config file {conf} line 4")
    assert values["cancel-grace"] == ('"30s"', "default")


def test_legacy_variables_still_work(longrund_binary, home):
    env = clean_env(home, LONGRUN_DATA_DIR=f"{home}/legacy", LONGRUN_SOCKET=f"{home}/legacy.sock")
    _, values = printed(longrund_binary, [], env)
    assert values["data-dir"] == (f'"{home}/legacy"', "environment LONGRUN_DATA_DIR")
    assert values["socket"] == (f'"{home}/legacy.sock"', "environment LONGRUN_SOCKET")


@pytest.mark.parametrize("text, expected", [
    ('socket-mode = "0600"\nsync-intreval = "1s"\n', "line 2: unknown key sync-intreval"),
    ('max-waits-per-peer = "many"\n', "line 1: max-waits-per-peer: expected an integer, found a string"),
    ('owner-only = "yes"\n', "line 1: owner-only: expected a boolean"),
    ('durability = "fast"\n', "line 1: durability: fast is not one of full, relaxed"),
    ('sync-interval = "0s"\n', "line 1: sync-interval: not a positive duration: 0s"),
    ('socket-mode = "999"\n', "line 1: socket-mode must be octal permission bits"),
    ('retain-failed = "soon"\n', "line 1: retain-failed: not a positive duration: soon"),
    ('[server]\n', "line 1: tables"),
])
def test_mistakes_in_the_file_stop_the_daemon_naming_file_line_and_key(longrund_binary, home, text, expected):
    conf = write(f"{home}/bad.toml", text)
    out = run(longrund_binary, "--config", conf, "--data-dir", f"{home}/data", "--socket", f"{home}/s.sock",
              env=clean_env(home))
    assert out.returncode == CONFIG_ERROR, (out.stdout, out.stderr)
    assert f"config file {conf} {expected}" in out.stderr
    assert not os.path.exists(f"{home}/data"), "nothing is created before the configuration is accepted"


def test_mistakes_in_the_environment_name_the_variable(longrund_binary, home):
    out = run(longrund_binary, "--print-config", env=clean_env(home, LONGRUND_SYNC_INTERVL="1s"))
    assert out.returncode == CONFIG_ERROR
    assert "environment LONGRUND_SYNC_INTERVL: unknown variable" in out.stderr
    out = run(longrund_binary, "--data-dir", f"{home}/data", "--socket", f"{home}/s.sock",
              env=clean_env(home, LONGRUND_SYNC_INTERVAL="0s"))
    assert out.returncode == CONFIG_ERROR
    assert "environment LONGRUND_SYNC_INTERVAL: sync-interval: not a positive duration: 0s" in out.stderr


def test_a_named_file_must_exist(longrund_binary, home):
    out = run(longrund_binary, "--config", f"{home}/missing.toml", "--print-config", env=clean_env(home))
    assert out.returncode == CONFIG_ERROR
    assert f"config file {home}/missing.toml: cannot read" in out.stderr


def flags_of(binary):
    """Every long option of the command, from ArgumentParser's own description of it."""
    out = subprocess.run([binary, "--experimental-dump-help"], capture_output=True, text=True, timeout=30)
    info = json.loads(out.stdout)
    names = set()
    for arg in info["command"].get("arguments", []):
        for name in arg.get("names", []):
            if name["kind"] == "long":
                names.add(name["name"])
    return names - {"help", "version", "config", "print-config"}


def test_help_lists_every_flag(longrund_binary, home):
    # --help parses to ArgumentParser's help command, not to longrund's: it must still print.
    out = run(longrund_binary, "--help", env=clean_env(home))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OVERVIEW: Serve long-running operations"), out.stdout[:200]
    for flag in flags_of(longrund_binary):
        assert f"--{flag}" in out.stdout, flag


def test_every_flag_is_a_key_and_in_the_sample(longrund_binary, home):
    text, values = printed(longrund_binary, [], clean_env(home))
    unset = set(re.findall(r"^# ([a-z-]+) is not set", text, re.M))
    assert set(values) | unset == flags_of(longrund_binary)
    sample = (REPO / "Tools/longrund.toml.example").read_text()
    commented = set(re.findall(r"^# ([a-z-]+) = ", sample, re.M))
    assert commented == set(values) | unset
    # Uncommented, the sample is a configuration the daemon accepts.
    conf = write(f"{home}/sample.toml", re.sub(r"^# ([a-z-]+ = )", r"\1", sample, flags=re.M)
                 .replace('"longrun-admin"', '"0"').replace('socket-group = "longrun"', 'socket-group = "0"'))
    _, values = printed(longrund_binary, ["--config", conf], clean_env(home))
    line = sample.splitlines().index('# retain-failed = "30d"') + 1
    assert values["retain-failed"] == ('"30d"', f"config file {conf} line {line}")


def test_printed_configuration_is_a_config_file(longrund_binary, home):
    conf = write(f"{home}/l.toml", 'log-level = "debug"\nowner-only = true\n')
    text, _ = printed(longrund_binary, ["--config", conf], clean_env(home))
    again = write(f"{home}/again.toml", text)
    _, values = printed(longrund_binary, ["--config", again], clean_env(home))
    assert values["owner-only"][0] == "true"
    assert values["log-level"][0] == '"debug"'
