"""Run the shell examples of the README and docs/ and compare them with what the pages show.

The convention (docs/contributing.md has it for writers):

- a fenced block opening with ```console is an example; a line starting with `$ ` is a command (a
  trailing `\\` continues it on the next line), the lines after it, up to the next command, are
  what it prints (stdout and stderr together);
- a command exits 0 unless its output ends with the line `(exit status N)`;
- in the output, a line `...` stands for any number of lines and `…` inside a line for any text;
  times, random ids (`memstore_…`, `drm_…`, `apikey_…`, `ses_…`, `req_…`), API secrets, pids,
  durations and `ls -l` dates are compared as placeholders, and runs of spaces as one space;
- `<!-- console: skip REASON -->` on the line before the opening fence leaves a block out (it
  needs a network, a server left running, PostgreSQL, a real Claude...); REASON is required.

Each page runs in a fresh temporary HOME (so a fresh default database), commands in order, each
in bash with the working directory and exported variables of the commands before it. The home
directory prints as /home/me, the login name is `me`, ~/memfs is the checkout, and the files of
docs/examples are in the home directory.
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HOME_SHOWN = "/home/me"
EXIT_RE = re.compile(r"^\(exit status (\d+)\)$")
SKIP_RE = re.compile(r"^<!--\s*console:\s*skip\s+(.+?)\s*-->$")

# variable parts, replaced by placeholders on both sides before comparing
NORMALIZE = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d ( \d{4}|\d\d:\d\d)"), "<date>"),
    (re.compile(r"\b(memstore|drm|apikey|ses|req|msg|memver|mem)_[0-9a-f]{8,}\b"), r"\1_<id>"),
    (re.compile(r"sk-memfs-[A-Za-z0-9_\-…]+"), "sk-memfs-<secret>"),
    (re.compile(r"\bpid \d+"), "pid <n>"),
    (re.compile(r"\b\d+(\.\d+)? ?(s|ms)\b"), "<n> s"),
    (re.compile(r"[ \t]+"), " "),
]


@dataclass
class Command:
    text: str
    line: int                      # of the `$ ` line in the page
    expected: list = field(default_factory=list)
    exit: int = 0


@dataclass
class Block:
    page: Path
    line: int                      # of the opening fence
    commands: list
    skip: str | None = None

    @property
    def first(self):
        return self.commands[0].text if self.commands else ""


def parse(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            if lines[i].lstrip().startswith("```"):  # skip other fenced blocks whole
                fence = lines[i].lstrip()[:3]
                i += 1
                while i < len(lines) and not lines[i].lstrip().startswith(fence):
                    i += 1
            i += 1
            continue
        prev = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        m = SKIP_RE.match(prev)
        start, i, body = i, i + 1, []
        while i < len(lines) and lines[i].strip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        cmds, k = [], 0
        while k < len(body):
            no, text = body[k]
            if text.startswith("$ "):
                cmd = text[2:]
                while cmd.endswith("\\") and k + 1 < len(body):
                    k += 1
                    cmd = cmd + "\n" + body[k][1]
                cmds.append(Command(cmd, no))
            elif cmds:
                cmds[-1].expected.append(text)
            k += 1
        for c in cmds:
            while c.expected and not c.expected[-1].strip():
                c.expected.pop()
            if c.expected and EXIT_RE.match(c.expected[-1].strip()):
                c.exit = int(EXIT_RE.match(c.expected.pop().strip()).group(1))
        blocks.append(Block(page, start + 1, cmds, m.group(1) if m else None))
        i += 1
    return blocks


def normalize(line: str) -> str:
    for rx, rep in NORMALIZE:
        line = rx.sub(rep, line)
    return line.strip()


def _line_matches(expected: str, actual: str) -> bool:
    e, a = normalize(expected), normalize(actual)
    if "…" not in e:
        return e == a
    return re.fullmatch(".*?".join(re.escape(part) for part in e.split("…")), a) is not None


def matches(expected: list[str], actual: list[str]) -> bool:
    """`...` lines match any run of lines; every other line must match one actual line."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and _line_matches(expected[0], actual[0]) and matches(expected[1:], actual[1:])


@dataclass
class Result:
    command: Command
    output: list
    exit: int

    @property
    def ok(self):
        return self.exit == self.command.exit and matches(self.command.expected, self.output)


class Shell:
    """Commands of one page, one bash each, sharing the working directory and exported variables."""

    def __init__(self, root: Path, extra_path: str = "", files: Path | None = None, checkout: Path | None = None):
        self.root = root
        self.home = root / "home" / "me"
        self.home.mkdir(parents=True)
        if checkout:  # pages say "with a checkout in ~/memfs" (contrib/ scripts)
            os.symlink(checkout, self.home / "memfs")
        if files and files.is_dir():  # docs/examples: the scripts pages run as `python NAME.py`
            for f in files.iterdir():
                shutil.copy(f, self.home / f.name)
        self.state = root / "state.sh"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MEMFS_", "ANTHROPIC_", "PYTEST_", "VIRTUAL_ENV"))}
        env.update(HOME=str(self.home), USER="me", LOGNAME="me", LC_ALL="C.UTF-8", TZ="UTC", COLUMNS="100",
                   PATH=extra_path + os.pathsep + env.get("PATH", "/usr/bin:/bin"))
        self.env = env
        self.state.write_text(f"cd {self.home}\n")

    def run(self, cmd: Command, timeout=120) -> Result:
        # the state is read through BASH_ENV so that the command is line 1 (bash's messages say so)
        script = (f"{cmd.text}\n__rc=$?\n"
                  f"{{ export -p; echo \"cd '$PWD'\"; }} > {self.state}.new 2>/dev/null\nexit $__rc\n")
        try:
            p = subprocess.run(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**self.env, "BASH_ENV": str(self.state)},
                               stdin=subprocess.DEVNULL, timeout=timeout)
            out, rc = p.stdout, p.returncode  # stderr joined in order, as a terminal shows it
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode() + f"\n<timed out after {timeout} s>", -1
        new = Path(f"{self.state}.new")
        if new.exists():
            new.replace(self.state)
        out = out.replace(str(self.home), HOME_SHOWN)
        lines = [line.rstrip() for line in out.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return Result(cmd, lines, rc)

    def close(self):
        """Unmount what the page mounted and left (a failed example), so its daemon ends."""
        with open("/proc/mounts") as f:
            mine = [line.split()[1] for line in f if line.split()[1].startswith(str(self.root))]
        for mp in sorted(mine, key=len, reverse=True):
            subprocess.run(["fusermount3", "-u", "-z", mp], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def describe(page: Path, r: Result) -> str:
    shown = "\n".join(r.command.expected)
    got = "\n".join(r.output)
    return (f"{page}:{r.command.line}: $ {r.command.text}\n"
            f"  exit status: page shows {r.command.exit}, got {r.exit}\n"
            f"  the page shows:\n{_indent(shown)}\n  it printed:\n{_indent(got)}")


def _indent(text):
    return "\n".join("    | " + line for line in text.splitlines()) or "    | (nothing)"


def update_page(page: Path, results: list[Result]) -> int:
    """Write what the commands printed into the page, for those that did not match (a writer's
    tool: MEMFS_DOCS_UPDATE=1). Returns the number of commands rewritten."""
    lines = page.read_text().splitlines()
    changed = 0
    for r in sorted((r for r in results if not r.ok), key=lambda r: -r.command.line):
        c = r.command
        start = c.line + c.text.count("\n")  # index of the first output line (0-based)
        end = start
        while end < len(lines) and not lines[end].startswith("$ ") and lines[end].strip() != "```":
            end += 1
        new = list(r.output) + ([f"(exit status {r.exit})"] if r.exit else [])
        lines[start:end] = new
        changed += 1
    page.write_text("\n".join(lines) + "\n")
    return changed
