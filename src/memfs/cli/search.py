"""Search: `memfs grep`."""

import sys

import click

from .. import config
from .common import emit, output_options, pass_m


@click.command("grep")
@click.argument("store_name", metavar="STORE")
@click.argument("pattern")
@click.option("--history", is_flag=True, help="Search every version any file ever had, not only the current content.")
@click.option("-i", "--ignore-case", is_flag=True, help="Match without regard to case.")
@click.option("-F", "--fixed-strings", "fixed", is_flag=True, help="PATTERN is a plain string, not a regular expression.")
@click.option("--path", "prefix", default="/", metavar="PREFIX", help="Only files at or under this path.")
@click.option("--scan", is_flag=True, help="Do not use the full-text index: read every file (for comparison).")
@click.option("--reindex", is_flag=True, help="Rebuild the full-text index from the stored content first.")
@click.option("-n", "--limit", type=int, default=0, help="At most N matching lines (0: all).")
@output_options
@pass_m
def grep_cmd(c, store_name, pattern, history, ignore_case, fixed, prefix, scan, reindex, limit, fmt):
    """Print the lines of STORE's text files that match PATTERN (a Python regular expression), as
    PATH:LINE:TEXT; with --history, REV:PATH:LINE:TEXT for every version that had the line.

    Literal words in PATTERN are looked up in a full-text index first (SQLite FTS5, trigram), so
    only files that can match are read. Exits 1 when nothing matches, like grep."""
    if reindex:
        c.m.reindex_search()
    hits = c.m.grep(store_name, pattern, history=history, ignore_case=ignore_case, fixed=fixed, prefix=prefix,
                    use_index=False if scan else None, limit=limit or None)
    rows = [h.to_dict() for h in hits]
    for r in rows:
        r["time"] = config.fmt_time(r["created_at"])
    emit(rows, fmt, ["store", "path", "line", "text", "rev", "sha256", "agent", "session", "time"],
         (lambda r: f"{r['rev']}:{r['path']}:{r['line']}:{r['text']}") if history
         else (lambda r: f"{r['path']}:{r['line']}:{r['text']}"))
    if not hits:
        sys.exit(1)
