"""Every relative link in the README and docs/ leads to a file of the repository (and, with a
#fragment into a Markdown page, to a heading or anchor there); every docs/ page is linked from the
README."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "contrib").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def anchors(page: Path) -> set:
    text = page.read_text()
    out = set(re.findall(r'<a id="([^"]+)"', text))
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))  # GitHub's rule
    return out


def links(page: Path):
    in_code = False
    for no, line in enumerate(page.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                yield no, target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for no, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#") and not target[1:]:
            continue  # http:, https:, mailto:
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{page.relative_to(ROOT)}:{no}: {target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{page.relative_to(ROOT)}:{no}: {target} (no such heading in {dest.name})")
        elif not str(dest).startswith(str(ROOT)):
            broken.append(f"{page.relative_to(ROOT)}:{no}: {target} (outside the repository)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for _, t in links(ROOT / "README.md")}
    missing = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md")) if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_the_link_check_catches_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Title\n\n[ok](#title) [bad](nope.md) [frag](p.md#nowhere)\n```\n[in code](x.md)\n```\n")
    found = [t for _, t in links(page)]
    assert found == ["#title", "nope.md", "p.md#nowhere"]
    assert "title" in anchors(page) and "nowhere" not in anchors(page)


def test_the_readme_stays_short():
    """A newcomer reads it in five minutes; the rest belongs in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300
