"""The README's Layout section names every module of src/memfs/, each on a line saying what it is for."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "memfs"


def layout_lines() -> dict:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, "README.md has no '## Layout' section"
    block = re.search(r"```\n(.*?)```", m.group(1), re.S)
    assert block, "the Layout section has no code block"
    out = {}
    for line in block.group(1).splitlines():
        path, _, what = line.strip().partition(" ")
        out[path] = what.strip()
    return out


def modules() -> list[str]:
    return sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py"))


def test_every_module_has_a_line_saying_what_it_is_for():
    lines = layout_lines()
    missing = [m for m in modules() if m not in lines
               and not (m.endswith("/__init__.py") and m[:-len("__init__.py")] in lines)]
    assert not missing, f"modules missing from README.md's Layout section: {missing}"
    empty = [p for p, what in lines.items() if not what]
    assert not empty, f"Layout lines that do not say what the module is for: {empty}"


def test_no_line_names_a_module_that_is_gone():
    known = set(modules()) | {m[:-len("__init__.py")] for m in modules() if m.endswith("/__init__.py")}
    stale = [p for p in layout_lines() if p not in known]
    assert not stale, f"README.md's Layout names modules that do not exist: {stale}"
