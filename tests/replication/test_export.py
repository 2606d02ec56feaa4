"""`memfs export` / `memfs import`: a store round-trips with its history and attribution in both
formats (trees compared at every revision); corrupt files are refused in one line and leave
nothing behind."""

import base64
import io
import json
import tarfile

import pytest

from memfs import Memfs
from replhelpers import assert_same_history, entries, memfs, one_line_error


@pytest.mark.parametrize("fmt", ["jsonl", "tar"])
def test_round_trip_with_history(src, src_path, dst_path, history, tmp_path, fmt):
    out = str(tmp_path / f"kb.{fmt}")
    p = memfs(src_path, "export", "kb", "--format", fmt, "--with-history", "-o", out)
    assert p.returncode == 0, p.stderr
    n = len(src.log("kb"))
    assert p.stderr.startswith(f"exported kb: {n} revisions")
    # into another database (a new one: --create), and into the same one under another name
    p = memfs(dst_path, "import", out)
    assert p.returncode == 3 and p.stderr == f"Error: no database at {dst_path} (run `memfs init`)\n"
    p = memfs(dst_path, "import", out, "--create")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("imported store kb (memstore_") and p.stdout.rstrip().endswith(f": {n} revisions")
    with Memfs(dst_path) as dst:
        assert assert_same_history(src, dst, "kb") == n
        assert dst.get_store("kb").metadata == {"team": "sre"}
        assert dst.doctor().ok
    p = memfs(src_path, "import", out, "--as", "kb-copy")
    assert p.returncode == 0, p.stderr
    assert_same_history(src, src, "kb", "kb-copy")
    assert src.get_store("kb-copy").uid != src.get_store("kb").uid


def test_tar_holds_the_tree_as_files(src, src_path, dst_path, history, tmp_path):
    out = tmp_path / "kb.tar"
    assert memfs(src_path, "export", "kb", "--format", "tar", "-o", str(out)).returncode == 0
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert names[0] == ".memfs-history.jsonl"
        got = {ti.name: ti for ti in tar.getmembers()}
        for p, e in src.tree("kb").items():
            ti = got["kb" + (p if p != "/" else "")]
            assert (ti.isdir(), ti.issym(), ti.isfile()) == (e.kind == "dir", e.kind == "symlink", e.kind == "file")
            if e.kind == "file":
                assert tar.extractfile(ti).read() == src.read("kb", p) and ti.mode == e.mode
            if e.kind == "symlink":
                assert ti.linkname == src.read("kb", p).decode()
    assert memfs(dst_path, "import", str(out), "--create").returncode == 0  # the current tree only, from the files
    with Memfs(dst_path) as dst:
        assert entries(dst.tree("kb")) == entries(src.tree("kb"))


def test_without_history_the_tree_keeps_its_attribution(src, src_path, dst_path, history, tmp_path):
    out = str(tmp_path / "kb.jsonl")
    p = memfs(src_path, "export", "kb", "-o", out)  # jsonl to a file, current tree only
    assert p.returncode == 0, p.stderr
    assert memfs(dst_path, "import", out, "--create").returncode == 0
    with Memfs(dst_path) as dst:
        assert entries(dst.tree("kb")) == entries(src.tree("kb"))
        for path, e in dst.tree("kb").items():
            a, b = src.revision(src.tree("kb")[path].rev), dst.revision(e.rev)
            assert (a.agent, a.session, a.actor, a.created_at, a.message) == (b.agent, b.session, b.actor,
                                                                               b.created_at, b.message), path
        assert len(dst.log("kb")) == len(src.tree("kb"))
    # to standard output, as bytes
    p = memfs(src_path, "export", "kb")
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert recs[0]["type"] == "memfs_export" and recs[-1] == {"type": "end", "revisions": len(src.tree("kb")),
                                                                "blobs": recs[-1]["blobs"]}


def _lines(path):
    return open(path, "rb").read().splitlines(keepends=True)


def test_corrupt_files_are_refused_and_leave_nothing(src, src_path, dst_path, history, tmp_path):
    good = str(tmp_path / "kb.jsonl")
    assert memfs(src_path, "export", "kb", "--with-history", "-o", good).returncode == 0
    lines = _lines(good)

    def bad(name, data):
        f = tmp_path / name
        f.write_bytes(data)
        return str(f)

    blob_at = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "blob")
    forged = json.loads(lines[blob_at])
    forged["content_base64"] = base64.b64encode(b"forged").decode()
    late = max(i for i, line in enumerate(lines) if json.loads(line)["type"] == "revision")
    broken = json.loads(lines[late])
    broken["old_path"], broken["op"] = "/does/not/exist", "rename"
    newer = json.loads(lines[0])
    newer["version"] = 99
    cases = {
        "truncated": bad("t.jsonl", b"".join(lines[:-3])),
        "cut mid-line": bad("c.jsonl", b"".join(lines)[:-40]),
        "not JSON": bad("n.jsonl", b"\x00\x01garbage\n"),
        "forged blob": bad("f.jsonl", b"".join(lines[:blob_at] + [json.dumps(forged).encode() + b"\n"]
                                             + lines[blob_at + 1:])),
        "newer format": bad("v.jsonl", json.dumps(newer).encode() + b"\n" + b"".join(lines[1:])),
        "no header": bad("h.jsonl", b"".join(lines[1:])),
        "empty": bad("e.jsonl", b""),
        "bad late revision": bad("l.jsonl", b"".join(lines[:late] + [json.dumps(broken).encode() + b"\n"]
                                                   + lines[late + 1:])),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("kb/a.md")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"a"))
    cases["tar without history"] = bad("x.tar", buf.getvalue())
    cases["truncated tar"] = bad("y.tar", buf.getvalue()[:700])
    for what, f in cases.items():
        err = one_line_error(memfs(dst_path, "import", f, "--create"))
        assert f in err or "already exists" in err, (what, err)
    with Memfs(dst_path) as dst:
        assert dst.list_stores() == [], "a failed import left a store behind"
    one_line_error(memfs(dst_path, "import", str(tmp_path / "missing.jsonl"), "--create"), 3)
    one_line_error(memfs(src_path, "export", "nope", "-o", str(tmp_path / "nope.jsonl")), 3)
    assert not (tmp_path / "nope.jsonl").exists()
    one_line_error(memfs(src_path, "import", good), 4)  # kb exists here: --as NAME
