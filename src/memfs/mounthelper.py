"""`mount -t fuse.memfs` and /etc/fstab: the mount helper's calling convention.

mount(8) hands a `fuse.TYPE` mount to mount.fuse3, which runs `TYPE SOURCE MOUNTPOINT -o OPTIONS`
from PATH, i.e. `memfs SOURCE MOUNTPOINT -o store=team-sre=rw,agent=alice`. The `memfs` entry point
(`main`) recognises that shape (no memfs command is named like a database path) and turns it into
`memfs --db SOURCE mount MOUNTPOINT --store ...`. `helper` is the same, installed as
/sbin/mount.fuse.memfs for mount(8) to call directly (it then also gets -n, -v, -s, -f, -t)."""

import os
import sys

import click

from . import errors

# generic mount(8) options that mean nothing to memfs, or that mount.fuse3 itself handles
IGNORED = {"rw", "defaults", "auto", "noauto", "user", "users", "nouser", "owner", "group", "nofail",
           "_netdev", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "atime", "noatime", "relatime",
           "nodiratime", "strictatime", "lazytime", "async", "sync", "silent", "loud"}
IGNORED_PREFIXES = ("x-", "comment=", "setuid=", "drop_privileges")
VALUE_OPTIONS = {"agent": "--agent", "session": "--session", "log": "--log"}


def parse_options(source: str, mountpoint: str, options: str) -> list[str]:
    """SOURCE MOUNTPOINT and the -o string -> the arguments of `memfs` (global options, `mount`, ...).

    SOURCE is the database (a path or URL); `memfs` or `none` means the default one (or `db=`)."""
    db = None if source in ("memfs", "none", "") else source
    stores, rest, read_only = [], [], False
    for opt in filter(None, options.split(",")):
        key, sep, value = opt.partition("=")
        if key == "store" and sep:
            stores.append(value)
        elif key == "stores" and sep:  # several in one option: `stores=team-sre=rw:org=ro` (no ':' in names)
            stores.extend(filter(None, value.split(":")))
        elif key == "db" and sep:
            db = value
        elif key in VALUE_OPTIONS and sep:
            rest += [VALUE_OPTIONS[key], value]
        elif opt == "allow_other":
            rest.append("--allow-other")
        elif opt == "debug":
            rest.append("--debug")
        elif opt == "ro":
            read_only = True
        elif opt in IGNORED or opt.startswith(IGNORED_PREFIXES):
            continue
        else:
            raise errors.InvalidInput(f"unknown mount option {opt!r} (memfs takes store=NAME[=rw|ro], stores=, "
                                      "agent=, session=, db=, log=, allow_other, debug, ro)")
    if not stores:
        raise errors.InvalidInput("give the stores to mount: -o store=NAME[=rw|ro] (repeatable) or "
                                  "stores=NAME=rw:NAME=ro")
    if read_only:  # `ro` narrows every store; it never widens one
        stores = [s.rpartition("=")[0] if s.endswith(("=rw", "=ro")) else s for s in stores]
        stores = [s + "=ro" for s in stores]
    args = (["--db", db] if db else []) + ["mount", mountpoint]
    for s in stores:
        args += ["--store", s]
    return args + rest


def _split_helper_args(argv: list[str]) -> tuple[str, str, str]:
    """mount.fuse.memfs SOURCE DIR [-o OPTS] [-n] [-s] [-f] [-v] [-t TYPE] -> (SOURCE, DIR, OPTS)."""
    positional, options, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a in ("-o", "-t", "-N") and i + 1 < len(argv):
            if a == "-o":
                options.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("-o") and len(a) > 2:
            options.append(a[2:])
        elif a in ("-n", "-s", "-f", "-v", "-r", "-w"):
            pass
        elif a.startswith("-"):
            raise errors.InvalidInput(f"unknown mount helper flag {a}")
        else:
            positional.append(a)
        i += 1
    if len(positional) != 2:
        raise errors.InvalidInput("usage: mount.fuse.memfs SOURCE MOUNTPOINT -o store=NAME[=rw|ro],agent=NAME")
    return positional[0], positional[1], ",".join(options)


def _run_as_helper(argv: list[str]) -> None:
    from .cli import cli

    try:
        source, mountpoint, options = _split_helper_args(argv)
        args = parse_options(source, mountpoint, options)
    except errors.MemfsError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    cli.main(args, prog_name="memfs")


def looks_like_mount_call(argv: list[str]) -> bool:
    """`SOURCE MOUNTPOINT ...` where SOURCE is no memfs command: how mount.fuse3 runs a fuse.TYPE."""
    from .cli import cli

    # the stores are required, so a real mount call always carries -o
    return (len(argv) >= 3 and "-o" in argv and not argv[0].startswith("-") and argv[0] not in cli.commands
            and os.path.isdir(argv[1]))


def main() -> None:
    """The `memfs` command: the CLI, or the mount helper when called the way mount.fuse3 calls it."""
    argv = sys.argv[1:]
    try:
        os.getcwd()
    except OSError as e:  # run from inside a mount whose daemon is gone, say: one line, no traceback
        sys.exit(f"Error: the current directory cannot be read ({e.strerror}): cd elsewhere and run again")
    if looks_like_mount_call(argv):
        _run_as_helper(argv)
    from .cli import cli

    cli(prog_name="memfs")


def helper() -> None:
    """`mount.fuse.memfs`, for mount(8) to call directly when it is installed in /sbin."""
    _run_as_helper(sys.argv[1:])
