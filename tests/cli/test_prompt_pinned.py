"""Pinned memory: the files under /system/ of a store go into `memfs prompt`, whole, within a
byte budget that is enforced and reported."""

from memfs import prompt

CORE = b"# Core facts\n\n- Production deploys are frozen Friday 16:00 to Monday 09:00.\n"
TEAM = b"- The on-call rotation changes on Monday 10:00.\n"


def seed(m):
    sre = m.create_store("team-sre", "SRE notes")
    org = m.create_store("org", "Org-wide knowledge")
    m.write(sre, "/system/core.md", CORE)
    m.write(sre, "/system/team.md", TEAM)
    m.write(sre, "/system/big.md", b"x" * 3000 + b"\n")
    m.write(sre, "/system/logo.png", bytes(range(256)))
    m.write(sre, "/notes/not-pinned.md", b"not pinned\n")
    m.write(sre, "/systemic.md", b"not pinned either\n")
    m.write(org, "/system/policy.md", b"Never deploy on Fridays.\n")
    return sre, org


def test_pinned_files_within_the_budget(m):
    sre, org = seed(m)
    p = prompt.pinned(m, [sre, org], budget=len(CORE) + len(TEAM) + 30)
    assert [(s.name, path) for s, path, _ in p.included] == [("team-sre", "/system/core.md"),
                                                            ("team-sre", "/system/team.md"),
                                                            ("org", "/system/policy.md")]
    assert p.used == len(CORE) + len(TEAM) + len(b"Never deploy on Fridays.\n") <= p.budget
    assert [(s.name, path, size, why.split(",")[0]) for s, path, size, why in p.left_out] == [
        ("team-sre", "/system/big.md", 3001, "over the budget"), ("team-sre", "/system/logo.png", 256, "binary")]
    assert prompt.pinned(m, [sre, org], budget=0).included == []


def test_memfs_prompt_includes_pinned_memory_and_reports_the_budget(memfs_cli, m):
    seed(m)
    r = memfs_cli("prompt", "--store", "team-sre=rw", "--store", "org=ro")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "# Pinned memory" in out
    assert "## /mnt/memory/team-sre/system/core.md\n\n# Core facts\n\n- Production deploys are frozen" in out
    assert "## /mnt/memory/org/system/policy.md\n\nNever deploy on Fridays." in out
    assert "not pinned" not in out and "xxxx" in out  # big.md fits the default 4096 bytes
    assert "- not included (binary): /mnt/memory/team-sre/system/logo.png, 256 bytes: read it with cat" in out
    assert r.stderr.splitlines()[0] == f"pinned memory: 4 files, {len(CORE) + len(TEAM) + 3001 + 25} of 4096 bytes"

    r = memfs_cli("prompt", "--store", "team-sre=rw", "--store", "org=ro", "--budget", "200")
    pinned_part = r.stdout.split("# Pinned memory", 1)[1]
    included = [ln for ln in pinned_part.splitlines() if ln.startswith("## ")]
    assert included == ["## /mnt/memory/team-sre/system/core.md", "## /mnt/memory/team-sre/system/team.md",
                        "## /mnt/memory/org/system/policy.md"]
    assert "xxxx" not in r.stdout
    assert ("- not included (over the budget, 200 bytes left): /mnt/memory/team-sre/system/big.md, 3001 bytes: "
            "read it with cat") in r.stdout
    assert "left out team-sre:/system/big.md (3001 bytes): over the budget, 200 bytes left" in r.stderr
    used = sum(len(x) for x in (CORE, TEAM, b"Never deploy on Fridays.\n"))
    assert f"{used} of 200 bytes" in r.stderr and used <= 200

    r = memfs_cli("prompt", "--store", "team-sre=rw", "--budget", "-1")
    assert r.exit_code == 2 and r.output.strip().splitlines()[-1].startswith("Error: the pinned-memory budget")


def test_a_store_without_system_files_prompts_as_before(memfs_cli, m):
    m.create_store("plain", "no pins")
    r = memfs_cli("prompt", "--store", "plain=rw")
    assert r.exit_code == 0 and "Pinned memory" not in r.stdout and r.stderr == ""
