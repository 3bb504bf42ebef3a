"""Switchyard, the gateway. One process-wide setting lives here because it must come
before any module imports httpx: httpx loads its command-line client (rich, click and
pygments, about 6 MB of every process) whenever those are installed, and spaCy, which
Presidio brings, installs them. The gateway never runs that client, so its module is
marked missing and httpx falls back to a stub ``httpx.main``."""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
