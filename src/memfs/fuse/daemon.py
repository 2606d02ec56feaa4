"""Mounting: the daemon's life (session row, FUSE loop, change feed, clean stop) and the
helpers `memfs mount`, `umount` and `mounts` use."""

from __future__ import annotations

import errno
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Callable, Optional

from .. import errors
from ..proc import pid_alive
from ..store import Identity, Memfs, Store

log = logging.getLogger("memfs.fuse")

SCOPES = ("rw", "ro")


def parse_store_specs(specs: list[str]) -> list[tuple[str, str]]:
    """['team-sre=rw', 'org=ro', 'notes'] -> [(name, scope)]; the default scope is rw."""
    out = []
    for spec in specs:
        name, sep, scope = spec.rpartition("=")
        if not sep:
            name, scope = spec, "rw"
        if scope not in SCOPES:
            raise errors.InvalidInput(f"--store {spec}: scope must be rw or ro")
        out.append((name, scope))
    if not out:
        raise errors.InvalidInput("give at least one --store NAME[=rw|ro]")
    return out


def resolve_stores(m: Memfs, specs: list[tuple[str, str]]) -> list[tuple[Store, str]]:
    out = []
    for name, scope in specs:
        s = m.get_store(name)
        out.append((s, "ro" if s.archived else scope))  # archived stores mount read-only
    slugs = [s.slug for s, _ in out]
    if len(set(slugs)) != len(slugs):
        raise errors.InvalidInput(f"two stores share a directory name ({', '.join(slugs)}); rename one")
    return out


def fuse_mounts() -> dict[str, str]:
    """Mountpoint -> fs type of every FUSE mount in /proc/mounts."""
    out = {}
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2].startswith("fuse"):
                out[parts[1].replace("\\040", " ")] = parts[2]
    return out


def is_mounted(mountpoint: str) -> bool:
    return os.path.realpath(mountpoint) in fuse_mounts()


def clear_dead_mount(mountpoint: str) -> bool:
    """A FUSE mount whose daemon died answers ENOTCONN; lazily unmount it so it can be reused."""
    try:
        os.stat(mountpoint)
        return False
    except OSError as e:
        if e.errno != errno.ENOTCONN:
            return False
    subprocess.run(["fusermount3", "-u", "-z", mountpoint], capture_output=True)
    return True


def run(db: str, mountpoint: str, specs: list[tuple[str, str]], *, agent: Optional[str], session: Optional[str],
        log_path: Optional[str] = None, ready_fd: Optional[int] = None, debug: bool = False,
        allow_other: bool = False, drop_branches: bool = False) -> int:
    """Mount and serve until unmounted or signalled. Returns an exit status. `drop_branches`:
    the stores are time-travel snapshots (memfs mount --at), deleted when the mount ends."""
    import pyfuse3
    import trio

    from .ops import MemfsOps

    ident = Identity(agent=agent or "agent", session=session, actor="agent")
    m = Memfs(db, identity=ident)
    mounts = resolve_stores(m, specs)
    mountpoint = os.path.realpath(mountpoint)
    sess = m.open_session(session, agent=ident.agent, kind="mount",
                          stores={s.name: scope for s, scope in mounts}, mountpoint=mountpoint, log_path=log_path)
    m.identity = ident = Identity(agent=ident.agent, session=sess.session_id, actor="agent")
    ops = MemfsOps(m, mounts, single=len(mounts) == 1, owner=f"mount-{sess.id}",
                   open_store=lambda: Memfs(db, identity=m.identity))
    ops.worker.start()
    options = set(pyfuse3.default_options)
    options |= {"fsname=memfs", "subtype=memfs", "noatime"}
    if allow_other:  # FUSE mounts are private to the mounting user unless asked otherwise
        options.add("allow_other")
    if debug:
        options.add("debug")
    try:
        pyfuse3.init(ops, mountpoint, options)
    except Exception as e:
        m.close_session(sess.id)
        _drop(m, mounts, drop_branches)
        hint = ("" if os.access("/dev/fuse", os.R_OK | os.W_OK) and "fuse_session_mount" not in str(e) else
                " (FUSE needs /dev/fuse and the right to mount: CAP_SYS_ADMIN, or a setuid fusermount3; "
                "in a container: --device /dev/fuse --cap-add SYS_ADMIN)")
        raise errors.MemfsError(f"cannot mount on {mountpoint}: {e}{hint}") from None
    log.info("mounted %s on %s (session %s, agent %s, pid %d)",
             ", ".join(f"{s.name}={sc}" for s, sc in mounts), mountpoint, sess.session_id, ident.agent, os.getpid())
    if ready_fd is not None:
        os.write(ready_fd, json.dumps({"ok": True, "session": sess.session_id, "pid": os.getpid()}).encode() + b"\n")
        os.close(ready_fd)

    async def main():
        async with trio.open_nursery() as nursery:
            async def stop_on_signal():
                with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                    async for sig in sigs:
                        log.info("signal %d: committing open files and unmounting", sig)
                        await ops.commit_all()
                        pyfuse3.terminate()
                        return

            nursery.start_soon(stop_on_signal)
            nursery.start_soon(ops.follow_changes)
            await pyfuse3.main()
            nursery.cancel_scope.cancel()

    status = 0
    try:
        trio.run(main)
    except BaseException:
        log.exception("the mount loop failed")
        status = 1
    finally:
        try:
            trio.run(ops.commit_all)
        except BaseException:
            log.exception("committing open files at unmount failed")
        pyfuse3.close(unmount=True)
        ops.worker.stop()
        m.close_session(sess.id)
        _drop(m, mounts, drop_branches)
        log.info("unmounted %s (%d commits, %d refused, %d store transactions; requests: %s)", mountpoint,
                 ops.stats["commits"], ops.stats["conflicts"], ops.worker.batches,
                 json.dumps(dict(sorted(ops.requests.items()))))
        log.info("kernel lookups at unmount: %d inodes held, %d forgets beyond the lookups answered",
                 ops.lookups.held, ops.lookups.unmatched)
        m.close()
    return status


def _drop(m: Memfs, mounts, drop: bool) -> None:
    """A time-travel mount's snapshot copies go with it."""
    for s, _ in mounts if drop else ():
        try:
            m.drop_branch(s)
        except errors.MemfsError as e:
            log.warning("could not remove the snapshot %s: %s", s.name, e.message)


def spawn(db: str, mountpoint: str, specs: list[tuple[str, str]], *, agent, session, log_path: str,
          timeout: float = 30.0, allow_other: bool = False, drop_branches: bool = False) -> dict:
    """Start the daemon in the background (like sshfs) and return once the mount is ready."""
    r, w = os.pipe()
    cmd = [sys.executable, "-m", "memfs.fuse.daemon", "--db", db, "--mountpoint", mountpoint,
           "--ready-fd", str(w), "--log", log_path]
    for name, scope in specs:
        cmd += ["--store", f"{name}={scope}"]
    if agent:
        cmd += ["--agent", agent]
    if session:
        cmd += ["--session", session]
    if allow_other:
        cmd.append("--allow-other")
    if drop_branches:
        cmd.append("--drop-branches")
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), mode=0o700, exist_ok=True)
    with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as logf:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, pass_fds=(w,),
                                start_new_session=True)
    os.close(w)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while b"\n" not in buf and time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.1)
            if ready:
                chunk = os.read(r, 4096)
                if not chunk:  # the daemon closed its end: it said something or exited
                    break
                buf += chunk
    finally:
        os.close(r)
    line = buf.split(b"\n", 1)[0]
    if line:
        msg = json.loads(line)
        if msg.get("ok"):
            return {"pid": proc.pid, "session": msg["session"], "log": log_path}
        raise errors.MemfsError(msg.get("error", "the mount failed"))
    if proc.poll() is None:
        proc.terminate()
        raise errors.MemfsError(f"the mount did not become ready within {timeout:.0f} s; see {log_path}")
    raise errors.MemfsError(f"the mount daemon exited with status {proc.returncode}; see {log_path}")


def _daemon_pids(mp: str) -> list[int]:
    """The background daemons serving `mp`, found by their command line (no database needed)."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            args = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0") if d.isdigit() else []
        except OSError:
            continue
        if b"memfs.fuse.daemon" in args and b"--mountpoint" in args:
            i = args.index(b"--mountpoint") + 1
            if i < len(args) and os.path.realpath(os.fsdecode(args[i])) == mp:
                pids.append(int(d))
    return pids


def stop(open_m: Callable[[], Memfs], mountpoint: str, timeout: float = 30.0) -> str:
    """Ask the daemon to commit everything open and unmount; fall back to fusermount3. Works
    while the database is unreachable too (the daemon is then found by its command line)."""
    mp = os.path.realpath(mountpoint)
    try:
        m = open_m()
        live = [s for s in m.sessions(active=True) if s.mountpoint == mp and s.kind == "mount"]
    except errors.Unavailable:
        m, live = None, [SimpleNamespace(pid=pid, id=None) for pid in _daemon_pids(mp)]
    for s in live:
        if pid_alive(s.pid):
            os.kill(s.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and (is_mounted(mp) or pid_alive(s.pid)):
                time.sleep(0.02)
            if not is_mounted(mp):
                return f"unmounted {mp}"
        elif m is not None:
            m.close_session(s.id)
    if is_mounted(mp):
        p = subprocess.run(["fusermount3", "-u", mp], capture_output=True, text=True)
        if p.returncode != 0:
            raise errors.MemfsError(f"cannot unmount {mp}: {p.stderr.strip()}")
        return f"unmounted {mp}"
    raise errors.NotFound(f"{mp} is not a memfs mount")


def live_mounts(m: Memfs) -> list[dict]:
    """Mount sessions of this host that are still open. A session whose daemon is gone (killed)
    is closed here, as restic treats a lock whose process has died."""
    mounted = fuse_mounts()
    host = socket.gethostname()
    out = []
    for s in m.sessions(active=True):
        if s.kind != "mount" or s.host != host:
            continue
        alive = pid_alive(s.pid)
        if not alive:
            m.close_session(s.id)
        state = "live" if alive and s.mountpoint in mounted else (
            "dead (run fusermount3 -u)" if s.mountpoint in mounted else "gone")
        out.append({"mountpoint": s.mountpoint, "pid": s.pid, "agent": s.agent, "session": s.session_id,
                    "stores": s.stores, "state": state, "log": s.log_path})
    return out


def _main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="memfs-mount-daemon")
    p.add_argument("--db", required=True)
    p.add_argument("--mountpoint", required=True)
    p.add_argument("--store", action="append", default=[])
    p.add_argument("--agent")
    p.add_argument("--session")
    p.add_argument("--log")
    p.add_argument("--ready-fd", type=int)
    p.add_argument("--debug", action="store_true")
    p.add_argument("--allow-other", action="store_true")
    p.add_argument("--drop-branches", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(a.db, a.mountpoint, parse_store_specs(a.store), agent=a.agent, session=a.session,
                   log_path=a.log, ready_fd=a.ready_fd, debug=a.debug, allow_other=a.allow_other,
                   drop_branches=a.drop_branches)
    except errors.MemfsError as e:
        log.error("%s", e.message)
        if a.ready_fd is not None:
            try:
                os.write(a.ready_fd, json.dumps({"ok": False, "error": e.message}).encode() + b"\n")
            except OSError:
                pass
        return e.exit_code


if __name__ == "__main__":
    sys.exit(_main())
