"""Money in the console goes through the ``usd`` filter (to the cent from a cent, two
significant digits below): templates that printed ``${{ x|floatformat:6 }}`` showed
"$1.234560" in the batches and evaluation pages (#66)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_template_formats_dollars_by_hand() -> None:
    templates = [*ROOT.glob("console/**/templates/**/*.html"), *ROOT.glob("gateway/**/*.html")]
    by_hand = [
        f"{path.relative_to(ROOT)}: {found.group(0)}"
        for path in templates
        for found in re.finditer(r"\$\{\{[^}]*floatformat[^}]*\}\}", path.read_text())
    ]
    assert templates and not by_hand, by_hand
