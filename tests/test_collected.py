"""Every test file runs: pytest skips folders named by `norecursedirs` (by default build, dist,
venv, node_modules, dot-folders, ...) without a word, which is how tests/dist/test_wheel.py went
unrun by `make test` for a whole session."""

import fnmatch
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_file_sits_where_pytest_does_not_look(pytestconfig):
    patterns = pytestconfig.getini("norecursedirs")
    files = list(TESTS.rglob("test_*.py"))
    assert len(files) > 50
    hidden = [str(p.relative_to(TESTS)) for p in files
              if any(fnmatch.fnmatch(d, pat) for d in p.relative_to(TESTS).parts[:-1] for pat in patterns)]
    assert not hidden, f"pytest never collects these (norecursedirs {patterns}): {hidden}"
