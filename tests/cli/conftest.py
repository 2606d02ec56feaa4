"""Fixtures for the CLI tests: run a command expecting success, or expecting one documented error."""

import pytest


@pytest.fixture
def ok(memfs_cli):
    """ok('ls', 'team-sre:') -> result; fails the test unless the command exits 0."""

    def run(*args, **kw):
        r = memfs_cli(*args, **kw)
        assert r.exit_code == 0, f"memfs {' '.join(args)} -> {r.exit_code}\n{r.output}"
        return r

    return run


@pytest.fixture
def fails(memfs_cli):
    """fails(code, 'cat', 'x:/y') -> result; the command must exit with `code` and print exactly
    one line, `Error: ...`, on stderr, and no traceback anywhere."""

    def run(code, *args, **kw):
        r = memfs_cli(*args, **kw)
        assert r.exit_code == code, f"memfs {' '.join(args)} -> {r.exit_code}, expected {code}\n{r.output}"
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and len(lines[0]) > len("Error: "), r.stderr
        assert "Traceback" not in r.output
        return r

    return run
