"""Every kind of alert a console template draws is styled by the console's own sheet,
loaded on every page: "Saved version 2." was an ``alert info``, a class only the
guardrails page's sheet defined, so it showed as plain text on the prompt page (#66)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_alert_kind_used_is_in_console_css() -> None:
    sheet = (ROOT / "console/static/console/console.css").read_text()
    templates = [*ROOT.glob("console/**/*.html"), *ROOT.glob("gateway/features/**/*.html")]
    used = {
        kind
        for path in templates
        for kind in re.findall(r'class="alert ([a-z-]+)', path.read_text())
        if "{" not in kind
    }
    assert used
    missing = sorted(kind for kind in used if not re.search(rf"\.alert\.{kind}\b", sheet))
    assert not missing, missing
