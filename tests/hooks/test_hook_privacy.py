"""Issue 17: a secret that a write hook refused is readable nowhere afterwards: not on the mount,
not in `.memfs/`, not through the API (its console routes included), not in the database file
after a checkpoint (its raw bytes searched), not in any log. Tried every way in: a shell on a real
mount (a new file, a rewrite, an append, `sed -i`), `memfs put`, a real `memfs serve`, and a dream
that read the secret in transcripts. contrib/hooks/pii-scan refuses the AWS key."""

import json
import os
import random
import sqlite3
import string
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from memfs import Memfs, errors
from mounting import MEMFS, memfs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "http"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dream"))
from apiserver import ServeProcess  # noqa: E402
from dreamhelpers import cc_session  # noqa: E402


def everything_under(root: Path, skip=()) -> dict:
    """{path: bytes} of every file under root (reading the hidden .memfs/ trees by name)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for f in files:
            p = Path(folder, f)
            if p not in skip:
                out[p] = p.read_bytes()
    return out


def memfs_tree(mnt) -> dict:
    """Every file of `.memfs/` (not listed by readdir, so walked by its known names)."""
    root = Path(mnt) / ".memfs"
    out = {root / n: (root / n).read_bytes() for n in ("README", "log")}
    for n in os.listdir(root / "conflicts"):
        out[root / "conflicts" / n] = (root / "conflicts" / n).read_bytes()
    out.update(everything_under(root / "history"))
    return out


@pytest.mark.sqlite_only  # searches the database file's bytes
def test_no_secret_refused_by_a_hook_is_readable_anywhere(seeded, mounter, pii_scan, db_path, tmp_path):
    secret = "AKIA" + "".join(random.choices(string.ascii_uppercase + string.digits, k=16))
    forms = (secret.encode(), secret.lower().encode())

    def leaks(data: bytes) -> bool:
        return any(f in data.lower() for f in forms[1:]) or forms[0] in data

    memfs(db_path, "hooks", "add", "team-sre", pii_scan)
    mnt = mounter("team-sre=rw", agent="alice", session="sa")
    (mnt / "deploy.md").write_text("# Deploy\n\nrun make deploy\n")

    # 1. a shell on the mount, every way bash writes a file
    def sh(cmd):
        return subprocess.run(["bash", "-c", cmd], cwd=mnt.path, env={**os.environ, "KEY": secret},
                              capture_output=True, text=True, timeout=30)

    sh('echo "aws_access_key_id = $KEY" > new.md')
    sh('echo "aws_access_key_id = $KEY" > deploy.md')
    sh('echo "and the key: $KEY" >> deploy.md')
    sh('sed -i "s/make deploy/make deploy with $KEY/" deploy.md')
    assert not (mnt / "new.md").exists()
    assert (mnt / "deploy.md").read_text() == "# Deploy\n\nrun make deploy\n"

    # 2. memfs put
    p = subprocess.run([*MEMFS, "--db", db_path, "put", "team-sre:/cli.md", "-"], input=f"key {secret}\n",
                       capture_output=True, text=True)
    assert p.returncode == errors.HookRefused.exit_code and secret not in p.stderr, p.stderr

    # 3. a dream that read the secret in three agents' transcripts (a recurring error quoting it)
    for k, agent in enumerate(["alice", "bob", "carol"]):
        t = tmp_path / "transcripts" / f"sess-{agent}.jsonl"
        cc_session(t, f"sess-{agent}", [
            ("user", "list the bucket"),
            ("tool", "Bash", {"command": "aws s3 ls"}, f"Exit code 255\nAn error occurred (InvalidAccessKeyId): "
             f"The AWS Access Key Id {secret} you provided does not exist in our records.", True),
            ("tool", "Bash", {"command": "aws configure"}, "ok", False)], start=f"2026-11-2{k}T10:00:00+00:00")
        memfs(db_path, "transcripts", "add", str(t), "--agent", agent, "--store", "team-sre")
    r = memfs(db_path, "dream", "run", "team-sre", "--engine", "local", "--since", "3650d")
    assert "Refused by the store's write hooks, not kept: /lessons/recurring-errors.md (pii-scan found AWS " \
           "access key" in r.stdout and not leaks(r.stdout.encode())
    memfs(db_path, "dream", "apply", "latest")

    # 4. a real `memfs serve`: create and update are refused with 422; then read all it serves
    with ServeProcess(db_path, tmp_path / "serve.log") as srv:
        ms = anthropic.Anthropic(api_key="x", base_url=srv.url, max_retries=0).beta.memory_stores
        [s] = [x for x in ms.list() if x.name == "team-sre"]
        with pytest.raises(anthropic.UnprocessableEntityError) as e:
            ms.memories.create(s.id, path="/api.md", content=f"key {secret}\n")
        assert not leaks(e.value.response.content)
        [deploy] = [x for x in ms.memories.list(s.id) if x.path == "/deploy.md"]
        with pytest.raises(anthropic.UnprocessableEntityError):
            ms.memories.update(deploy.id, memory_store_id=s.id, content=f"key {secret}\n")
        served = {}
        for path in ("/v1/memory_stores", f"/v1/memory_stores/{s.id}/memories?view=full&limit=100",
                     f"/v1/memory_stores/{s.id}/memory_versions?view=full&limit=100",
                     f"/v1/memfs/stores/{s.id}/conflicts", f"/v1/memfs/stores/{s.id}/log",
                     f"/v1/memfs/stores/{s.id}/search?q=AKIA&history=true", "/v1/dreams"):
            served[path] = srv.get(path)
        for m in json.loads(served[f"/v1/memory_stores/{s.id}/memories?view=full&limit=100"][1])["data"]:
            served[m["id"]] = srv.get(f"/v1/memory_stores/{s.id}/memories/{m['id']}")
        for v in json.loads(served[f"/v1/memory_stores/{s.id}/memory_versions?view=full&limit=100"][1])["data"]:
            served[v["id"]] = srv.get(f"/v1/memory_stores/{s.id}/memory_versions/{v['id']}")
        for d in json.loads(served["/v1/dreams"][1])["data"]:
            served[d["id"]] = srv.get(f"/v1/dreams/{d['id']}")
    assert [k for k, (status, body) in served.items() if status >= 400 and "search" not in k] == []
    assert [k for k, (_, body) in served.items() if leaks(body)] == []
    conflicts = json.loads(served[f"/v1/memfs/stores/{s.id}/conflicts"][1])["data"]
    assert {c["path"] for c in conflicts} == {"/new.md", "/deploy.md"}
    assert all(c["hook_id"] == 1 and c["content"] is None and c["sha256"] is None and c["agent"] == "alice"
               and "pii-scan found AWS access key" in c["reason"] for c in conflicts)

    # 5. the mount and its .memfs/: the refusal is told, the secret is not
    files = everything_under(mnt.path)
    files.update(memfs_tree(mnt))
    assert [p for p, data in files.items() if leaks(data)] == []
    log = (mnt / ".memfs" / "conflicts" / "log").read_text()
    assert log.count("a write hook refused this content, so it was not kept") == len(conflicts) >= 2
    assert "refused for agent=alice session=sa: refused by write hook 1: pii-scan found AWS access key" in log
    assert os.listdir(mnt / ".memfs" / "conflicts") == ["log"]

    # 6. nothing anywhere on disk: the database (checkpointed) and every log, the transcripts aside
    memfs(db_path, "umount", str(mnt.path))
    with Memfs(db_path) as m:
        assert all(c.sha256 is None for c in m.conflicts("team-sre"))
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    con.close()
    on_disk = everything_under(tmp_path, skip={tmp_path / "transcripts", mnt.path})
    assert Path(db_path) in on_disk and Path(mnt.log) in on_disk and tmp_path / "serve.log" in on_disk
    assert [str(p) for p, data in on_disk.items() if leaks(data)] == []
