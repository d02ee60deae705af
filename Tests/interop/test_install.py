"""Tools/install into a temporary DESTDIR, from prebuilt binaries (--no-build --bin-dir)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import support

REPO = Path(__file__).resolve().parents[2]
PRODUCTS = ["longrund", "longrun", "longrun-replay"]


@pytest.fixture(scope="module")
def bin_dir():
    """The three binaries side by side, wherever LONGRUND/LONGRUN/LONGRUN_REPLAY point."""
    directory = tempfile.mkdtemp(prefix="lr-bin-")
    for env, product in zip(["LONGRUND", "LONGRUN", "LONGRUN_REPLAY"], PRODUCTS):
        os.symlink(support.binary(env, product), os.path.join(directory, product))
    # The man page generator `swift package plugin generate-manual` builds, if it has been built.
    tool = os.path.join(os.path.dirname(support.binary("LONGRUND", "longrund")), "generate-manual-tool")
    if os.access(tool, os.X_OK):
        os.symlink(tool, os.path.join(directory, "generate-manual-tool"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def destdir():
    directory = tempfile.mkdtemp(prefix="lr-dest-")
    yield Path(directory)
    shutil.rmtree(directory, ignore_errors=True)


def install(bin_dir, destdir, *extra):
    return subprocess.run([str(REPO / "Tools/install"), "--no-build", "--bin-dir", bin_dir,
                           "--destdir", str(destdir), "--prefix", "/opt/lr", *extra],
                          capture_output=True, text=True, timeout=120)


def test_installs_binaries_completions_units_docs_and_config(bin_dir, destdir):
    out = install(bin_dir, destdir)
    assert out.returncode == 0, out.stdout + out.stderr
    root = destdir / "opt/lr"
    for product in PRODUCTS:
        binary = root / "bin" / product
        assert binary.is_file() and os.access(binary, os.X_OK)
        assert subprocess.run([str(binary), "--version"], capture_output=True).returncode == 0
        assert product in (root / "share/bash-completion/completions" / product).read_text()
        assert f"#compdef {product}" in (root / "share/zsh/site-functions" / f"_{product}").read_text()
        assert f"complete -c '{product}'" in (root / "share/fish/vendor_completions.d" / f"{product}.fish").read_text()
    service = (root / "lib/systemd/system/longrund.service").read_text()
    assert "ExecStart=/opt/lr/bin/longrund --config /etc/longrun/longrund.toml" in service
    assert "/usr/local" not in service
    assert (root / "lib/systemd/system/longrund.socket").is_file()
    assert "FileDescriptorName=http" in (root / "lib/systemd/system/longrund-http.socket").read_text()
    assert (root / "share/doc/longrun/README.md").is_file()
    assert (root / "share/doc/longrun/CONFIG.md").is_file()
    sample = (REPO / "Tools/longrund.toml.example").read_text()
    assert (root / "share/doc/longrun/longrund.toml.example").read_text() == sample
    assert (destdir / "etc/longrun/longrund.toml").read_text() == sample
    # The installed daemon reads the installed (all commented) config.
    check = subprocess.run([str(root / "bin/longrund"), "--config", str(destdir / "etc/longrun/longrund.toml"),
                            "--print-config"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # Man pages: installed when a generate-manual is available, otherwise said to be skipped.
    pages = sorted(p.name for p in (root / "share/man/man1").glob("*.1")) if (root / "share/man/man1").exists() else []
    if os.path.exists(os.path.join(bin_dir, "generate-manual-tool")):
        assert pages == sorted(f"{p}.1" for p in PRODUCTS)
        assert "Fl -print-config" in (root / "share/man/man1/longrund.1").read_text()
    else:
        assert "man pages skipped" in out.stderr


def test_never_overwrites_an_existing_config(bin_dir, destdir):
    config = destdir / "etc/longrun/longrund.toml"
    config.parent.mkdir(parents=True)
    config.write_text('log-level = "debug"\n')
    out = install(bin_dir, destdir)
    assert out.returncode == 0, out.stdout + out.stderr
    assert config.read_text() == 'log-level = "debug"\n'
    assert "kept existing" in out.stdout


def test_dry_run_lists_and_writes_nothing(bin_dir, destdir):
    out = install(bin_dir, destdir, "--dry-run")
    assert out.returncode == 0, out.stdout + out.stderr
    assert list(destdir.iterdir()) == []
    assert f"would install {bin_dir}/longrund -> {destdir}/opt/lr/bin/longrund" in out.stdout
    assert f"{destdir}/etc/longrun/longrund.toml" in out.stdout
    assert "--generate-completion-script zsh" in out.stdout


def test_no_build_needs_a_bin_dir(destdir):
    out = subprocess.run([str(REPO / "Tools/install"), "--no-build", "--destdir", str(destdir)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "--bin-dir" in out.stderr
