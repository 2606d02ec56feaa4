"""The README's and docs/' shell examples (```console blocks) run on a fresh database, in order,
page by page; a command that exits otherwise than the page shows, or prints something else (times,
ids and the like aside: tests/docs/consoledoc.py), fails the page. The convention for writers is in
docs/contributing.md. MEMFS_DOCS_UPDATE=1 writes what the commands printed into the pages instead
(for the writer to review with git diff)."""

import os
import sys
from pathlib import Path

import pytest

from consoledoc import Shell, describe, parse, update_page

ROOT = Path(__file__).resolve().parents[2]
BIN = os.path.dirname(sys.executable)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# Blocks that fail today because of a bug being fixed elsewhere, by (page, text of the block's
# first command): each with its reason. Remove the entry with the fix; a stale entry fails.
SKIPPED_FOR_BUGS = {}


def bug_reason(block):
    for (page, first), reason in SKIPPED_FOR_BUGS.items():
        if block.page.name == page and first in block.first:
            return reason
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples(page, tmp_path):
    blocks = [b for b in parse(page) if not b.skip and not bug_reason(b)]
    if not blocks:
        return
    shell = Shell(tmp_path / "run", extra_path=BIN, files=ROOT / "docs" / "examples", checkout=ROOT)
    results, failures = [], []
    try:
        for b in blocks:
            for c in b.commands:
                r = shell.run(c)
                results.append(r)
                if not r.ok:
                    failures.append(describe(page.relative_to(ROOT), r))
    finally:
        shell.close()
    if os.environ.get("MEMFS_DOCS_UPDATE") and failures:
        update_page(page, results)
        pytest.fail(f"rewrote {len(failures)} outputs in {page.name}: review with git diff")
    assert not failures, f"{len(failures)} examples differ from the page:\n\n" + "\n\n".join(failures[:8])


def test_skip_entries_name_real_blocks():
    blocks = [b for p in PAGES for b in parse(p)]
    for (page, first), reason in SKIPPED_FOR_BUGS.items():
        assert reason
        assert any(b.page.name == page and first in b.first for b in blocks), f"stale entry: {page}: {first}"


def test_skips_give_a_reason(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("<!-- console: skip needs a server -->\n```console\n$ memfs serve\n```\n\n"
                    "```console\n$ false\n(exit status 1)\n$ echo a \\\n  b\na b\n```\n")
    a, b = parse(page)
    assert a.skip == "needs a server" and b.skip is None
    assert [(c.text, c.exit, c.expected) for c in b.commands] == [("false", 1, []), ("echo a \\\n  b", 0, ["a b"])]


def test_the_runner_fails_on_a_wrong_exit_status_or_output(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("```console\n$ export X=1; cd /tmp\n$ echo $X $PWD\n1 /tmp\n$ echo hi; exit 3\nhi\n"
                    "$ echo hi\nho\n$ false\n$ printf 'a\\nb\\nc\\nmemstore_0123456789abcdef\\n'\na\n...\nmemstore_ffff0000ffff0000\n"
                    "$ echo 'revision 7 at 2026-12-07T03:00:00Z'\nrevision … at 2020-01-01T00:00:00Z\n```\n")
    shell = Shell(tmp_path / "run", extra_path=BIN)
    try:
        ok = [shell.run(c).ok for c in parse(page)[0].commands]
    finally:
        shell.close()
    assert ok == [True, True, False, False, False, True, True]
