"""What every command shares: the context (database, identity), the error translation, the
listing formats, and how revisions print. Every command module of the package imports
from here, so that none of them imports another."""

import csv
import functools
import json
import os
import sys

import click

from .. import config, errors
from ..dream.engines.text import plural  # noqa: F401  (the one rule for "1 file", "2 files")
from ..store import Memfs, sqlite_path

STATUS_HELP = """Exit codes: 0 ok, 1 error, 2 bad input, 3 not found, 4 already exists,
5 precondition failed (stale), 6 read-only, 7 database busy, 8 disk full, 9 refused by a write hook,
10 schema too new, 11 database unreachable, 12 a dream had nothing to read."""


class Ctx:
    def __init__(self, db, agent, session):
        self.db_path = config.db_path(db)
        self.identity = config.identity(agent, session)
        self.create = False  # only `memfs init` makes a new database
        self._m = None

    def existing_db(self) -> str:
        """The database, which must be there unless this command creates it: a typo in --db is
        an error, not a new empty database whose listings are all empty."""
        path = sqlite_path(self.db_path)
        if not self.create and path is not None and not os.path.exists(path):
            raise errors.NotFound(f"no database at {path} (run `memfs init`)")
        return self.db_path

    @property
    def m(self) -> Memfs:
        if self._m is None:
            self._m = Memfs(self.existing_db(), identity=self.identity)
        return self._m


class OneLineUsageError(click.ClickException):
    """A usage error (a bad option value, a missing argument) as one line, like every other error."""

    exit_code = 2


def _one_line(e: click.UsageError) -> OneLineUsageError:
    hint = f" (see {e.ctx.command_path} --help)" if e.ctx is not None else ""
    return OneLineUsageError(e.format_message().strip() + hint)


class MemfsGroup(click.Group):
    """Turns library errors into one line on stderr and a documented exit code, never a traceback."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as e:  # a bad option of `memfs` itself
            raise _one_line(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:  # `memfs dream` alone: the help, as click prints it
            raise
        except click.UsageError as e:
            raise _one_line(e) from None
        except errors.MemfsError as e:
            click.echo(f"Error: {e.message}", err=True)
            sys.exit(e.exit_code)
        except BrokenPipeError:  # `memfs log | head`: the reader went away; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except OSError as e:
            click.echo(f"Error: {e.strerror or e}{': ' + e.filename if getattr(e, 'filename', None) else ''}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)


pass_m = click.make_pass_decorator(Ctx)


def output_options(f):
    """Every listing prints a table by default, or --json (an array), --nl (JSON lines), --csv."""

    @click.option("--json", "fmt", flag_value="json", help="Output a JSON array.")
    @click.option("--nl", "fmt", flag_value="nl", help="Output newline-delimited JSON.")
    @click.option("--csv", "fmt", flag_value="csv", help="Output CSV with a header row.")
    @functools.wraps(f)
    def wrapper(*a, fmt=None, **kw):
        return f(*a, fmt=fmt, **kw)

    return wrapper


def emit(rows: list[dict], fmt, columns: list[str], table=None):
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
    elif fmt == "nl":
        for r in rows:
            click.echo(json.dumps(r, default=str))
    elif fmt == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    else:
        for r in rows:
            click.echo(table(r) if table else "  ".join(str(r.get(c, "")) for c in columns))


def split_ref(ref: str, need_path=True):
    """STORE:PATH -> (store, path). A missing path is the store root."""
    store, sep, path = ref.partition(":")
    if not store:
        raise errors.InvalidInput(f"expected STORE:PATH, got {ref!r}")
    if need_path and not sep:
        raise errors.InvalidInput(f"expected STORE:PATH, got {ref!r}")
    return store, (path or "/")


def rev_dict(r):
    d = r.to_dict()
    d["time"] = config.fmt_time(r.created_at)
    return d


def rev_line(r):
    who = r.agent or "-"
    if r.session:
        who += f"/{r.session}"
    what = r.path if not r.old_path else f"{r.old_path} -> {r.path}"
    h = (r.sha256 or "-")[:12]
    msg = f"  ({r.message})" if r.message else ""
    if r.merged_from:  # a merge's revision: the branch revision it brought in
        msg = f"  merged from {r.merged_from_store or 'a deleted branch'} revision {r.merged_from}" + msg
    return f"{r.id:>7}  {config.fmt_time(r.created_at)}  {r.store_name or ''}  {r.op:<7} {what}  {h}  {who} [{r.actor}]{msg}"
