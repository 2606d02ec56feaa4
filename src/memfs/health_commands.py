"""`memfs stats` and `memfs reads`: a few lines each over `Memfs.stats` and `Memfs.file_reads`
(see docs/health.md). Registered on the main group at the end of memfs/cli.py."""

import json

import click

from . import config
from .clitools import emit, output_options, pass_m


@click.command()
@click.argument("store_names", metavar="[STORE]...", nargs=-1)
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="The window.")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON.")
@pass_m
def stats(c, store_names, days, as_json):
    """A store's health: size, growth, activity, files near the limit, duplicated text, idle files,
    conflicts, dreams (every live store when none is named)."""
    from .stats_store import format_stats

    names = store_names or [s.name for s in c.m.list_stores(include_archived=False)]
    figures = [c.m.stats(n, days=days) for n in names]
    if as_json:
        click.echo(json.dumps(figures[0] if len(store_names) == 1 else figures, indent=2))
    else:
        click.echo("\n".join(format_stats(d) for d in figures), nl=False)


@click.command()
@click.argument("store_name", metavar="STORE")
@output_options
@pass_m
def reads(c, store_name, fmt):
    """How often each file of STORE was read through a mount, by how many sessions, and when last."""
    rows = [{"path": r.path, "reads": r.reads, "sessions": r.sessions, "last_read": config.fmt_time(r.last_read)}
            for r in c.m.file_reads(store_name).values()]
    emit(rows, fmt, ["path", "reads", "sessions", "last_read"],
         lambda r: f"{r['reads']:>6} reads {r['sessions']:>4} sessions  last {r['last_read']}  {r['path']}")
