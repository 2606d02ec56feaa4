"""`memfs transcripts …`: register and list the agent transcripts that dreams read."""

from __future__ import annotations

import click

from .. import config, errors
from .. import transcripts as T
from .common import emit, output_options, pass_m, plural


@click.group()
def transcripts():
    """Register agent transcripts (Claude Code, stream-json, Messages API, Managed Agents) for dreaming."""


@transcripts.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--session", help="Record the files as this session (default: the id inside each file).")
@click.option("--agent", "agent_opt", help="The agent whose sessions these are.")
@click.option("--store", "stores", multiple=True, help="A store these sessions worked on (repeatable).")
@click.option("--reassign", is_flag=True, help="Files registered already as another agent's or session's: "
              "change them to this --agent and --session.")
@pass_m
def transcripts_add(c, paths, session, agent_opt, stores, reassign):
    """Register transcript files, or every transcript under folders (a Claude Code projects folder too)."""
    out = T.register(c.m, paths, session=session, agent=agent_opt, stores=list(stores), reassign=reassign)
    n = 0
    for r in out:
        if r.skipped:
            click.echo(f"skipped {r.path}: {r.skipped}")
            continue
        n += 1
        st = r.session.stats()
        click.echo(f"registered {r.format} session {r.session_id}: {plural(st['lines'], 'line')}, "
                   f"{plural(st['turns'], 'turn')}, {plural(st['tool_calls'], 'tool call')}, "
                   f"{plural(st['errors'], 'error')}, {plural(st['corrections'], 'correction')}, "
                   f"{st['unparseable']} unparseable, {st['malformed']} malformed  {r.path}")
        for p in r.session.problems[:20]:
            click.echo(f"  line {p.ref.line or p.ref.pointer}: {p.kind}: {p.reason}")
    click.echo(f"{plural(n, 'transcript')} registered, {plural(len(out) - n, 'file')} skipped")
    refused = sum(1 for r in out if r.refused)
    if refused:
        raise errors.AlreadyExists(f"{refused} {'file is' if refused == 1 else 'files are'} registered already as "
                                   "another agent's or session's: not changed (--reassign to change)")


@transcripts.command("ls")
@click.option("--session", "session_f", help="Only this session's files.")
@click.option("--store", "store_f", help="Only transcripts registered for this store.")
@output_options
@pass_m
def transcripts_ls(c, session_f, store_f, fmt):
    """List registered transcripts, oldest first."""
    rows = []
    for t in c.m.transcripts(session_ids=[session_f] if session_f else None, store=store_f):
        d = dict(t.__dict__)
        d.update({k: t.stats.get(k, 0) for k in ("turns", "errors", "corrections", "unparseable", "malformed")})
        d["started"], d["ended"] = config.fmt_time(t.started_at), config.fmt_time(t.ended_at)
        rows.append(d)
    emit(rows, fmt, ["session_id", "format", "agent", "turns", "errors", "corrections", "unparseable", "malformed",
                     "started", "path"],
         lambda r: f"{r['session_id'][:36]:<36} {r['format']:<14} {r['agent'] or '-':<10} "
                   f"{plural(r['turns'], 'turn', width=5).rstrip()}, {plural(r['errors'], 'error')}, "
                   f"{plural(r['corrections'], 'correction')}, {r['unparseable']} unparseable, "
                   f"{r['malformed']} malformed  {r['started']}  {r['path']}")


@transcripts.command("show")
@click.argument("ref", metavar="PATH|SESSION")
@pass_m
def transcripts_show(c, ref):
    """The errors and corrections of a transcript file or a registered session, with line references."""
    import os

    sessions = [T.load(ref)] if os.path.exists(ref) else T.sessions_for(c.m, [ref])
    if not sessions:
        raise errors.NotFound(f"no transcript file or registered session {ref!r}")
    for s in sessions:
        st = s.stats()
        click.echo(f"{s.format} session {s.session_id} ({s.source}): {plural(st['turns'], 'turn')}, "
                   f"{plural(st['errors'], 'error')}, {plural(st['corrections'], 'correction')}, "
                   f"{plural(st['unparseable'], 'unparseable line')}")
        for p in s.problems:
            click.echo(f"  {p.kind:<11} {p.ref}: {p.reason}")
        for f in s.findings():
            first = (f.text or "").strip().splitlines()[0][:100] if (f.text or "").strip() else ""
            click.echo(f"  {f.kind:<11} {f.ref}  {f.subkind or f.tool or ''}: {first}")
