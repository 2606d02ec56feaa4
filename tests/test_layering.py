"""The store is the one door to the data, read from the source (ast), not from a promise:

- front ends import only public names of memfs.store, and never memfs.backends;
- nothing outside store/ and backends/ reaches `.db` of a Memfs or holds SQL in a string;
- every dependency pyproject.toml declares is imported somewhere in src/.
"""

import ast
import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "memfs"
FRONT_ENDS = ("memfs.cli", "memfs.fuse", "memfs.http", "memfs.mcp_server", "memfs.integrations", "memfs.replication",
              "memfs.dream", "memfs.export_sqlite")
INSIDE = ("memfs.store", "memfs.backends")
SQL = re.compile(r"\bSELECT\s|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b")  # as SQL is written here


def modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def is_under(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports(modname, path):
    """(imported module, [names]) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = modname if path.name == "__init__.py" else modname.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            yield mod, [a.name for a in node.names]


def violations(modname, path):
    out = []
    for mod, names in imports(modname, path):
        if is_under(mod, ("memfs.backends",)):
            out.append(f"imports {mod}")
        if mod == "memfs" and "backends" in names:
            out.append("imports memfs.backends")
        if is_under(mod, ("memfs.store",)):
            if mod != "memfs.store":
                out.append(f"imports {mod} (use memfs.store)")
            out += [f"imports the private {n} from memfs.store" for n in names if n.startswith("_")]
    return out


FRONT = [(n, p) for n, p in modules() if is_under(n, FRONT_ENDS)]
OUTSIDE = [(n, p) for n, p in modules() if not is_under(n, INSIDE)]


def test_the_lists_cover_the_tree():
    names = {n for n, _ in FRONT}
    assert {"memfs.cli", "memfs.fuse.ops", "memfs.http.app", "memfs.mcp_server", "memfs.replication",
            "memfs.dream.jobs", "memfs.integrations.memory_tool"} <= names
    assert len(OUTSIDE) > len(FRONT)


@pytest.mark.parametrize("modname,path", FRONT, ids=[n for n, _ in FRONT])
def test_front_ends_use_only_the_public_store(modname, path):
    found = violations(modname, path)
    assert not found, f"{modname}: " + "; ".join(found)


def test_a_violation_is_seen(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ..store import _like_prefix\nfrom ..backends import open_backend\nfrom ..store.writes import x\n")
    assert len(violations("memfs.cli.bad", bad)) == 3


def private_reaches(path):
    """`.db` on anything, a private attribute of a Memfs-looking receiver (m, self.m, c.m), SQL text."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            recv = ast.unparse(node.value)
            if node.attr == "db" and (recv == "m" or recv.endswith(".m") or recv in ("source", "target", "memfs")):
                out.append(f"line {node.lineno}: {recv}.db")
            elif (node.attr.startswith("_") and not node.attr.startswith("__")
                  and (recv == "m" or recv.endswith(".m"))):
                out.append(f"line {node.lineno}: {recv}.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            out.append(f"line {node.lineno}: SQL {node.value[:40]!r}")
    return out


@pytest.mark.parametrize("modname,path", OUTSIDE, ids=[n for n, _ in OUTSIDE])
def test_no_backend_no_private_store_no_sql_outside_the_store(modname, path):
    found = private_reaches(path)
    assert not found, f"{modname}: " + "; ".join(found)


def test_a_reach_past_the_door_is_seen(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(c):\n    c.m.db.one('SELECT 1 FROM nodes')\n    return c.m._store('x')\n")
    assert len(private_reaches(bad)) == 3


def imported_top_levels():
    out = set()
    for name, path in modules():
        for mod, _ in imports(name, path):
            out.add(mod.split(".")[0])
    return out


def test_every_declared_dependency_is_imported():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    by_dist: dict = {}
    for top, dists in importlib.metadata.packages_distributions().items():
        for d in dists:
            by_dist.setdefault(re.sub(r"[-_.]+", "-", d).lower(), set()).add(top)
    used = imported_top_levels()
    unused = []
    for spec in deps:
        dist = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", spec).group(0)).lower()
        tops = by_dist.get(dist)
        assert tops, f"{dist} is declared but not installed"
        if not tops & used:
            unused.append(dist)
    assert not unused, f"declared in pyproject.toml but imported nowhere in src/: {unused}"
