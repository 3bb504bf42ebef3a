"""Ages written the short way (``90m``, ``12h``, ``30d``): the log query's ``since``
filter, ``prune_logs --older-than`` and ``rebuild_rollups --since``.

A pure parser, in ``telemetry`` with the log query that reads it, so the journal's
retention and the management commands above take it from here."""

from __future__ import annotations

import re
from datetime import timedelta

AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d`` (also ``s`` and ``w``) as a timedelta; ValueError else."""
    match = AGE.match(text.strip())
    if not match:
        raise ValueError(f"not an age like 90m, 12h or 30d: {text!r}")
    return timedelta(**{AGE_UNITS[match.group(2).lower()]: float(match.group(1))})
