"""The sections of scripts/bench that are benchmarks of their own (scripts/bench_*.py): which script
each runs with which arguments, and the tables for those that report JSON. Imported by scripts/bench;
not a benchmark itself. Each script stays runnable alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rich import box
from rich.console import Console
from rich.table import Table

HERE = os.path.dirname(os.path.abspath(__file__))

# the sections scripts/bench runs through a script, in order; the paraphrase figures also belong to --only dream
SECTIONS = ("api", "dream", "paraphrase", "pg", "branches", "reads", "stats")
PART_OF = {"paraphrase": "dream"}


def subs(quick: bool) -> list[tuple[str, str, list[str], bool]]:
    """(section, script, arguments, reports JSON) for each section."""
    return [
        ("api", "bench_api.py", ["--clients", "16", "--seconds", "2" if quick else "5"], False),
        ("dream", "bench_dream.py", ["--transcripts", "100", "--files", "200"] if quick else [], False),
        ("paraphrase", "bench_paraphrase.py", [], True),
        ("pg", "bench_pg.py", ["--revisions", "800", "--rounds", "20"] if quick else [], False),
        ("branches", "bench_branches.py", ["--files", "500", "--changed", "50", "--repeat", "1"] if quick else [], True),
        ("reads", "bench_reads.py", ["--files", "500", "--rounds", "5"] if quick else [], True),
        ("stats", "bench_stats.py", ["--files", "500", "--repeat", "1"] if quick else [], True),
    ]


def wanted(section: str, only: str | None) -> bool:
    return only in (None, section, PART_OF.get(section))


def run(con: Console, err: Console, section: str, script: str, args: list[str], as_json: bool) -> dict:
    """Run one script and print its figures; returns what goes into the JSON results under `section`."""
    con.print(f"\n[bold]{section}[/bold] ({' '.join([script, *args])})")
    cmd = [sys.executable, os.path.join(HERE, script), *args, *(["--json"] if as_json else [])]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if not as_json:
        con.print(p.stdout.rstrip(), markup=False, highlight=False)
        if p.returncode != 0:
            err.print(f"[red]{script} failed ({p.returncode}): {p.stderr.strip()[-500:]}[/red]")
        return {"exit": p.returncode, "output": p.stdout}
    try:
        res = json.loads(p.stdout)
    except ValueError:
        # bench_reads.py exits 1 when a target is missed, with its JSON; anything else without JSON is a failure
        err.print(f"[red]{script} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-500:]}[/red]")
        return {"exit": p.returncode, "error": (p.stderr or p.stdout).strip()[-2000:]}
    REPORTS[section](con, res)
    return {"exit": p.returncode, **res}


def _ms(x) -> str:
    return f"{x * 1000:,.0f}" if isinstance(x, (int, float)) else "-"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}×" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "-"


def report_branches(con: Console, r: dict) -> None:
    kinds = [k for k in ("sqlite", "postgresql") if k in r]
    n, c = r["files"], r["changed"]
    t = Table(title=f"Branches of a store of {n:,} files; ms (lower is better)", box=box.SIMPLE_HEAD,
              title_justify="left")
    t.add_column("figure")
    for k in kinds:
        t.add_column({"sqlite": "SQLite", "postgresql": "PostgreSQL"}[k], justify="right")
    rows = [("create a branch", "create_s"), ("  baseline: write the files once, 1 transaction", "seed_s"),
            ("  branch ÷ baseline", ("create_s", "seed_s")),
            (f"merge plan (dry run), {c} changed files", "plan_s"),
            (f"merge {c} changed files ({c // 2} line-merged)", "merge_s"),
            (f"  baseline: the branch's edit of those {c}, 1 transaction", "edit_s"),
            ("  merge ÷ baseline", ("merge_s", "edit_s"))]
    for label, key in rows:
        if isinstance(key, tuple):
            t.add_row(label, *[_ratio(r[k].get(key[0]), r[k].get(key[1])) for k in kinds])
        else:
            t.add_row(label, *[_ms(r[k].get(key)) for k in kinds])
    con.print(t)
    runs = r[kinds[0]].get("runs", 1) if kinds else 1
    con.print(f"  Files of ~1 KB in 20 directories; on the branch {c} files get a line appended, {c // 2} of them also "
              "changed in the store meanwhile (merged line by line).")
    con.print(f"  {'One run' if runs == 1 else f'Median of {runs} runs, a new branch each'}; the write of the files once: "
              "one run." + ("" if "postgresql" in r else " PostgreSQL: not installed here, not measured."))


def report_paraphrase(con: Console, r: dict) -> None:
    b, tg = r["baseline"], r.get("targets", {})
    t = Table(title=f"Paraphrase finder (dream, local engine), threshold {r['threshold']}: {r['pairs']} labelled pairs",
              box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("figure")
    t.add_column("finder", justify="right")
    t.add_column(f"baseline: {b['method']}", justify="right")
    t.add_column("target", justify="right")
    for key in ("precision", "recall"):
        goal = tg.get(key)
        mark = "" if goal is None else (" ✓" if r[key] >= goal else " ✗")
        t.add_row(key, f"{r[key]:.3f}{mark}", f"{b[key]:.3f}", f"≥ {goal}" if goal is not None else "")
    not_same = r["pairs"] - r["same"]
    t.add_row(f"false merges (of {not_same} not the same fact)", str(r["fp"]), str(b["fp"]), "")
    t.add_row(f"missed (of {r['same']} same fact)", str(r["fn"]), str(b["fn"]), "")
    con.print(t)
    con.print(f"  The labelled pairs of tests/dream/data/paraphrase_pairs.txt: {r['same']} same fact, {r['related']} related, "
              f"{r['unrelated']} unrelated; {r['seconds']} s.")
    a = r.get("all_pairs")
    if a:
        con.print(f"  All {a['texts'] * (a['texts'] - 1) // 2:,} pairs of the fixture's {a['texts']} texts, searched as a "
                  f"dream does: {a['found']} merged, {a['not_labelled_same']} of them not labelled same fact.")


def report_reads(con: Console, r: dict) -> None:
    t = Table(title=f"Read counting: warm grep -r over {r['files']:,} files on a mount; ms (lower is better)",
              box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("figure")
    t.add_column("counting reads", justify="right")
    t.add_column("baseline: MEMFS_READ_COUNTS=0", justify="right")
    t.add_column("counting ÷ not", justify="right")
    t.add_column("target", justify="right")
    on, off = r["grep_warm_counting_s"], r["grep_warm_not_counting_s"]
    t.add_row("grep -r warm", f"{on * 1000:.1f}", f"{off * 1000:.1f}",
              _ratio(on, off) + (" ✓" if r["ok"] else " ✗"), f"≤ {1 + r['target']:.2f}×")
    con.print(t)
    con.print(f"  Median of {r['rounds']} rounds alternating between two mounts of one store; the counting mount "
              f"recorded {r['reads_recorded']:,} reads of {r['files_with_reads']:,} files.")


def report_stats(con: Console, r: dict) -> None:
    d = r["duplicated"]
    t = Table(title=f"memfs stats on a store of {r['files']:,} notes ({d['paragraphs']:,} paragraphs); ms (lower is "
                    "better)", box=box.SIMPLE_HEAD, title_justify="left")
    t.add_column("figure")
    t.add_column("ms", justify="right")
    t.add_column("target", justify="right")
    t.add_row("memfs stats STORE (a process)", _ms(r["stats_s"]) + (" ✓" if r["ok"] else " ✗"), f"< {_ms(r['target_s'])}")
    t.add_row("  baseline: memfs stats STORE --no-duplicates", _ms(r["no_duplicates_s"]), "")
    t.add_row("  baseline: memfs --version (start-up alone)", _ms(r["start_s"]), "")
    t.add_row("the duplicated-text figure, in-process", _ms(r["duplicated_first_s"]), "")
    t.add_row("  again, files unchanged (kept per store)", _ms(r["duplicated_again_s"]), "")
    con.print(t)
    con.print(f"  Duplicated text: {d['duplicated']} of {d['paragraphs']:,} paragraphs ({d['share']:.1%}), every paragraph "
              f"compared; {r['planted_exact']} notes repeat a paragraph of another, {r['planted_paraphrase']} restate one "
              f"in other words. " + ("One run." if r["repeat"] == 1 else f"Median of {r['repeat']} runs."))


REPORTS = {"branches": report_branches, "paraphrase": report_paraphrase, "reads": report_reads, "stats": report_stats}
