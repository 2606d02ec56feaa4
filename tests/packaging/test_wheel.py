"""The release a user installs: `python -m build` makes the sdist and, from it, the wheel (as
`make dist` does); the wheel goes into a fresh virtual environment, and the installed `memfs`
mounts a store, serves `cat` and the console, all from the installed files, not the checkout."""

import os
import socket
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import pytest
from mounting import fuse_usable, interrupt, mounted, wait_for

ROOT = Path(__file__).resolve().parents[2]


def run(*cmd, timeout=600, **kw):
    p = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=timeout, **kw)
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # no flags: the sdist first, then the wheel built from the unpacked sdist (what a user of the
    # sdist gets), each in an isolated build environment
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory):
    """A fresh venv with only the wheel (and its dependencies) installed; run from outside the
    checkout with a clean environment so nothing can be imported from src/."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv)
    wheel = next(dist.glob("*.whl"))
    run(venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", wheel, timeout=900)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MEMFS_DB")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return venv, env


def test_the_sdist_and_the_wheel_carry_what_users_need(dist):
    sdist, wheel = next(dist.glob("memfs_agents-*.tar.gz")), next(dist.glob("memfs_agents-*-py3-none-any.whl"))
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for f in ("pyproject.toml", "README.md", "src/memfs/cli/__init__.py", "docs/mounting.md",
              "contrib/systemd/memfs-mount@.service", "contrib/hooks/pii-scan"):
        assert f in names, f
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert "memfs/http/static/index.html" in names  # the console: plain files in the package
    assert any(n.endswith(".data/scripts/memfs-session-end") for n in names)
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as z:
        points = z.read(entry).decode()
    assert "memfs = memfs.mounthelper:main" in points and "mount.fuse.memfs" in points


@pytest.mark.skipif(not fuse_usable(), reason="needs /dev/fuse and fusermount3")
def test_the_installed_memfs_mounts_cats_and_serves_the_console(installed, tmp_path):
    venv, env = installed
    bin_ = venv / "bin"
    for script in ("memfs", "mount.fuse.memfs", "memfs-session-end"):
        assert (bin_ / script).exists(), script
    where = run(bin_ / "python", "-c", "import memfs, memfs.http; print(memfs.__file__)", cwd=tmp_path, env=env)
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout

    def memfs(*args, **kw):
        return run(bin_ / "memfs", "--db", tmp_path / "m.db", *args, cwd=tmp_path, env=env, **kw)

    version = memfs("--version").stdout
    assert version.startswith("memfs, version 0.1"), version
    memfs("init")
    memfs("store", "create", "notes")
    (tmp_path / "in.md").write_text("# Disk\n\n- check df -i too\n")
    memfs("put", "notes:/disk.md", tmp_path / "in.md")

    mp = tmp_path / "mnt"
    mp.mkdir()
    memfs("mount", mp, "--store", "notes=rw", "--agent", "wheel", "--log", tmp_path / "mount.log")
    try:  # with a single --store the store itself is the mount point
        assert (mp / "disk.md").read_text() == "# Disk\n\n- check df -i too\n"
        cat = run("cat", mp / "disk.md", env=env)
        assert "check df -i" in cat.stdout
        with open(mp / "disk.md", "a") as f:
            f.write("- and the inode count\n")
    finally:
        memfs("umount", mp)
    assert str(mp) not in mounted()
    assert memfs("cat", "notes:/disk.md").stdout.endswith("- and the inode count\n")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = subprocess.Popen([bin_ / "memfs", "--db", tmp_path / "m.db", "serve", "--port", str(port)],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        page = {}

        def fetch():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page.update(status=r.status, body=r.read().decode())
                return True
            except OSError:
                assert serve.poll() is None, serve.stdout.read()
                return False

        assert wait_for(fetch, timeout=30), "memfs serve did not answer"
        assert page["status"] == 200 and "<html" in page["body"].lower()
        installed_page = next(venv.glob("lib/python*/site-packages/memfs/http/static/index.html")).read_text()
        assert page["body"] == installed_page
    finally:
        interrupt(serve)
