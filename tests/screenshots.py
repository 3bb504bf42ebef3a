"""Where browser tests put their screenshots.

A test run writes them to a scratch folder (``$TMPDIR/switchyard-screenshots``, or
``SWITCHYARD_SCREENSHOT_DIR``), so running the tests never dirties the checkout. The
README's pictures in ``docs/screenshots/`` are retaken only on purpose:
``SWITCHYARD_UPDATE_SCREENSHOTS=1 scripts/test.sh -m browser``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def screenshot_dir() -> Path:
    if os.environ.get("SWITCHYARD_UPDATE_SCREENSHOTS") == "1":
        folder = DOCS
    else:
        default = Path(tempfile.gettempdir()) / "switchyard-screenshots"
        folder = Path(os.environ.get("SWITCHYARD_SCREENSHOT_DIR") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
