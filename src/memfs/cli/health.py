"""`memfs stats` and `memfs reads`: a few lines each over `Memfs.stats` and `Memfs.file_reads`
(see docs/health.md)."""

import json
import time

import click

from .. import config
from .common import emit, output_options, pass_m, plural


@click.command()
@click.argument("store_names", metavar="[STORE]...", nargs=-1)
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="The window.")
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON.")
@click.option("--no-duplicates", is_flag=True, help="Leave out the duplicated-text figure (it reads every text "
              "file: about a second per 2,000 files).")
@pass_m
def stats(c, store_names, days, as_json, no_duplicates):
    """A store's health: size, growth, activity, files near the limit, duplicated text, idle files,
    conflicts, dreams (every live store when none is named)."""
    names = store_names or [s.name for s in c.m.list_stores(include_archived=False)]
    figures = [c.m.stats(n, days=days, duplicates=not no_duplicates) for n in names]
    if as_json:
        click.echo(json.dumps(figures[0] if len(store_names) == 1 else figures, indent=2))
    elif not figures:
        click.echo("no live store (memfs store create NAME)")
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
         lambda r: f"{plural(r['reads'], 'read', width=6)} {plural(r['sessions'], 'session', width=4)}  "
                   f"last {r['last_read']}  {r['path']}")


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def spark(values: list[int]) -> str:
    """A one-line trend: one block per value, scaled to the largest."""
    blocks = "·▁▂▃▄▅▆▇█"
    top = max(values or [0])
    return "".join(blocks[0 if not v else max(1, round(v / top * 8))] for v in values) if top else "·" * len(values)


def format_stats(d: dict) -> str:
    """`memfs stats STORE` as text."""
    per = [x["revisions"] for x in d["revisions_per_day"]]
    out = [f"store {d['store']}: {plural(d['files'], 'file')}, {_size(d['bytes'])}, {plural(d['revisions'], 'revision')}",
           f"revisions per day, last {d['days']} days ({d['revisions_per_day'][0]['day']} .. "
           f"{d['revisions_per_day'][-1]['day']}): {d['revisions_in_window']} in all",
           f"  {spark(per)}  (max {max(per or [0])}/day)",
           f"active in {d['days']} days: {plural(len(d['active_agents']), 'agent')}"
           + (f" ({', '.join(d['active_agents'][:8])}{', ...' if len(d['active_agents']) > 8 else ''})"
              if d["active_agents"] else "") + f", {plural(d['active_sessions'], 'session')}"]
    if d["nearest_size_limit"]:
        out.append(f"nearest the size limit ({_size(d['size_limit'])} a file):")
        out += [f"  {x['bytes']:>8} B  {x['share']:>6.1%}  {x['path']}" for x in d["nearest_size_limit"]]
    if d["duplicated"] is not None:
        dup = d["duplicated"]
        how = "unchanged since counted" if dup.get("cached") else f"{dup['seconds']:.2f} s"
        out.append(f"duplicated text: {dup['duplicated']} of {dup['paragraphs']} paragraphs ({dup['share']:.1%}) "
                   f"would be merged by a dream (every paragraph compared, {how})")
    out.append(f"not read or written in {d['days']} days: {plural(d['idle_files'], 'file')}"
               + (f" ({', '.join(d['idle_paths'][:5])}{', ...' if d['idle_files'] > 5 else ''})" if d["idle_files"]
                  else "") + f"; files ever read through a mount: {d['files_read']}")
    out.append(f"conflicts (stale writes refused): {d['conflicts']['in_window']} in {d['days']} days, "
               f"{d['conflicts']['total']} in all; refused by write hooks: {d['refusals']['in_window']} in "
               f"{d['days']} days, {d['refusals']['total']} in all")
    if d["dreams"]:
        out.append(f"dreams (newest first, {len(d['dreams'])} shown):")
        out += [f"  {j['id']}  {_day(j['created_at'])}  {j['engine']:<6} {j['status']:<9} {j['review']:<17} "
                f"{plural(j['sessions'], 'session')}, {plural(j['changes'], 'change')}" for j in d["dreams"]]
    else:
        out.append("dreams: none yet (memfs dream run " + d["store"] + ")")
    return "\n".join(out) + "\n"
