"""The README and docs/ as a reader meets them on a code host: links that lead somewhere, a short
front door, no paths of the machine they were written on, and a module map that names every module.

Anchors follow GitHub's heading slugs: lowercase, punctuation other than `-` and `_` dropped,
spaces turned into `-`, and a repeated heading gets `-1`, `-2`, ...
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
DATA_README = ROOT / "data" / "README.md"
README_MAX_LINES = 220

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# a local absolute path: /work/, /tmp/, /root/, /home/ not preceded by a name character ("videos/workouts" is fine)
LOCAL_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|root|home)/")
# a checkout hash: 7-40 hex digits (with a digit and a letter) on a line that speaks of a checkout
HASH_CONTEXT = re.compile(r"PYTHONPATH|checkout|commit", re.IGNORECASE)
HEX = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def doc_files() -> list[Path]:
    return [README, DATA_README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code removed: where Markdown links live."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, INLINE_CODE.sub("", line)))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (Markdown emphasis, code marks and link targets dropped)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.lower().strip()
    text = re.sub(r"[^\w\- ]", "", text)  # \w keeps letters, digits and _
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown text, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines_keep_code(text):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def prose_lines_keep_code(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code blocks, inline code kept (a heading's `code` is part of its slug)."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def broken_links(path: Path, text: str | None = None) -> list[str]:
    """`file:line: target (why)` for every relative link or anchor of `path` that leads nowhere."""
    text = path.read_text(encoding="utf-8") if text is None else text
    problems = []
    for number, line in prose_lines(text):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            if file_part.startswith("/"):
                problems.append(f"{path.name}:{number}: {target} (absolute link)")
                continue
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{path.name}:{number}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
                problems.append(f"{path.name}:{number}: {target} (no heading #{anchor} in {linked.name})")
    return problems


def local_references(text: str) -> list[str]:
    """Lines that name a local absolute path or a checkout hash."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if LOCAL_PATH.search(line):
            found.append(f"{number}: local path: {line.strip()}")
        if HASH_CONTEXT.search(line) and HEX.search(line):
            found.append(f"{number}: checkout hash: {line.strip()}")
    return found


def package_modules() -> list[str]:
    """Every module of pose_action/ as the module map names it (`extraction/pose`, `runs`, `commands/<name>`)."""
    package = ROOT / "pose_action"
    names = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            continue  # a subpackage's __init__ is the subpackage itself
        names.append("/".join(parts))
    return names


# ----------------------------------------------------------------------------- the checks, on this repository


def test_readme_and_docs_exist() -> None:
    assert README.is_file()
    for page in ("benchmarks.md", "design.md", "guide/extraction.md", "guide/inspect.md", "guide/training.md",
                 "guide/inference.md", "guide/synth.md"):
        assert (DOCS / page).is_file(), f"docs/{page} is missing"


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_readme_is_a_short_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines, at most {README_MAX_LINES}"


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_local_paths_or_checkout_hashes(path: Path) -> None:
    assert local_references(path.read_text(encoding="utf-8")) == []


def test_module_map_names_every_module() -> None:
    design = (DOCS / "design.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in design.splitlines() if line.startswith("| `"))
    named = set(re.findall(r"`([\w/<>]+)`", table))
    missing = [name for name in package_modules()
               if name not in named and not (name.startswith("commands/") and "commands/<name>" in named)]
    assert missing == [], f"docs/design.md's module map does not name: {', '.join(missing)}"


# ----------------------------------------------------------------------------- the checker itself can fail


def test_slugs_follow_github() -> None:
    assert slug("Several people in a frame (`--max-people`)") == "several-people-in-a-frame---max-people"
    assert slug("Calibrated confidence and \"no action\"") == "calibrated-confidence-and-no-action"
    assert slug("ud810_ps7") == "ud810_ps7"
    assert anchors("# Usage\n## Usage\n```\n# not a heading\n```\n## Usage\n") == {"usage", "usage-1", "usage-2"}


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("# Guide\n\n## Splits\n", encoding="utf-8")
    page = tmp_path / "page.md"
    text = ("[ok](guide.md#splits) [missing file](nowhere.md) [missing anchor](guide.md#models)\n"
            "[own anchor](#page) [own missing](#nope) [web](https://example.org/x.md)\n"
            "`[in code](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n# Page\n")
    page.write_text(text, encoding="utf-8")
    problems = broken_links(page)
    assert [problem.split(": ", 1)[1] for problem in problems] == [
        "nowhere.md (no such file)", "guide.md#models (no heading #models in guide.md)",
        "#nope (no heading #nope in page.md)"]


def test_local_paths_and_hashes_are_reported() -> None:
    text = ("see /work/main/data\nPYTHONPATH=<checkout of 282adfb> python x.py\n"
            "../shared/videos/workouts and data/bench/workouts are fine\nan id 1234567 alone is fine\n")
    assert [line.split(":")[0] for line in local_references(text)] == ["1", "2"]
