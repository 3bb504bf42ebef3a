"""The README stays a user's guide: short enough to read, no development history in it,
and every link it and the docs pages it sends readers to make resolves (file and anchor)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(path: Path) -> set[str]:
    """GitHub's heading slugs: lower case, punctuation dropped, spaces to hyphens."""
    found, fence = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists() or anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def test_the_readme_is_a_guide_not_a_log() -> None:
    text = README.read_text()
    assert len(text.splitlines()) < 800, "move reference material to docs/"
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.findall(r"(?<![\w/&])#\d{1,4}\b", prose), "issue numbers belong in docs/"
    hashes = [
        h
        for h in re.findall(r"(?<![\w-])[0-9a-f]{7,40}(?![\w-])", prose)
        if re.search(r"\d", h) and re.search(r"[a-f]", h)
    ]
    assert not hashes, f"commit hashes belong in docs/: {hashes}"
    for heading in (
        "## Quick start",
        "## Console",
        "## Providers",
        "## Configuration",
        "## Benchmark",
    ):
        assert heading in text


def test_the_docs_call_the_gateway_on_the_quick_starts_port() -> None:
    """Examples that call the gateway (``/v1``, ``/api``) use the port the quick start
    serves on (4000); docs/prompts.md and docs/beyond-chat.md said 8000 (#66)."""
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    wrong = [
        f"{page.name}: {found.group(0)}"
        for page in pages
        for found in re.finditer(
            r"(?:localhost|127\.0\.0\.1):(\d+)/(?:v1|api)\b", page.read_text(encoding="utf-8")
        )
        if found.group(1) != "4000"
    ]
    assert not wrong, wrong


def test_the_alert_example_says_a_private_webhook_needs_the_operators_consent() -> None:
    """A LAN or loopback webhook is refused unless SWITCHYARD_ALERT_WEBHOOK_PRIVATE=1:
    the README says so where its alert example sets the webhook."""
    text = README.read_text(encoding="utf-8")
    example = text[: text.index('"webhook_url"')]
    example = example[example.rindex("set a budget alert webhook") :]
    assert "SWITCHYARD_ALERT_WEBHOOK_PRIVATE=1" in example
