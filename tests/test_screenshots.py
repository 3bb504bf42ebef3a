"""A test run never rewrites the tracked pictures in docs/screenshots/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import screenshots


def test_screenshots_go_to_a_scratch_folder_unless_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SWITCHYARD_UPDATE_SCREENSHOTS", raising=False)
    monkeypatch.delenv("SWITCHYARD_SCREENSHOT_DIR", raising=False)
    assert screenshots.DOCS not in (
        screenshots.screenshot_dir(),
        *screenshots.screenshot_dir().parents,
    )
    monkeypatch.setenv("SWITCHYARD_SCREENSHOT_DIR", str(tmp_path / "shots"))
    assert screenshots.screenshot_dir() == tmp_path / "shots"
    monkeypatch.setenv("SWITCHYARD_UPDATE_SCREENSHOTS", "1")
    assert screenshots.screenshot_dir() == screenshots.DOCS


def test_no_browser_test_writes_into_docs_directly() -> None:
    root = Path(__file__).resolve().parent
    hits = subprocess.run(
        ["grep", "-rln", "--include=*.py", '"docs" / "screenshots"', str(root)],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert [h for h in hits if not h.endswith("screenshots.py")] == []
