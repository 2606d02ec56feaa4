"""The cron line and the systemd unit in contrib/ run a command the CLI accepts."""

import shlex
from pathlib import Path

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"


def _command(line: str) -> list[str]:
    args = shlex.split(line.split(">>")[0])
    return args[args.index("dream"):]


def test_cron_and_systemd_commands_run(memfs_cli, store):
    cron = next(ln for ln in (CONTRIB / "cron" / "memfs-dream").read_text().splitlines()
                if ln.strip() and not ln.startswith("#") and "memfs dream" in ln)
    unit = next(ln for ln in (CONTRIB / "systemd" / "memfs-dream.service").read_text().splitlines()
                if ln.startswith("ExecStart="))
    timer = (CONTRIB / "systemd" / "memfs-dream.timer").read_text()
    assert "OnCalendar=" in timer and "WantedBy=timers.target" in timer
    for line in (cron, unit):
        args = _command(line)
        assert args[:3] == ["dream", "run", "--all-stores"] and "--min-sessions" in args
        r = memfs_cli(*args, "--engine", "local")
        assert r.exit_code == 12, r.output  # no store dreamed: cron logs it, systemd counts it a success
        assert r.output.startswith("team-sre: skipped: ") and "fewer than --min-sessions 5" in r.output
    assert "SuccessExitStatus=12" in (CONTRIB / "systemd" / "memfs-dream.service").read_text().splitlines()
