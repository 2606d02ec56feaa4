"""docs/cli.md is what scripts/cli-reference prints from today's click commands."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli-reference")], capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    assert (ROOT / "docs" / "cli.md").read_text() == p.stdout, \
        "docs/cli.md is out of date: run `make cli-reference` (or scripts/cli-reference > docs/cli.md)"


def test_every_command_is_in_the_reference():
    from memfs.cli import cli
    import click

    text = (ROOT / "docs" / "cli.md").read_text()
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        assert f"\n## memfs {name}\n" in text, name
