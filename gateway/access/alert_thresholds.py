"""Budget alert thresholds as a key, a team, a user or the global default holds them:
percentages of the budget (``[50, 80, 100]``), each once, ascending. Given as a list of
numbers or a comma-separated string; ``None`` (or an empty string) on a key, team or
user means "the global default", ``[]`` (or ``none``) no alerts. The alerts themselves
are ``gateway.features.alerts``'s."""

from __future__ import annotations

MAX_THRESHOLDS = 10
HIGHEST = 1000  # percent: an alert at 10x the budget (a "total" budget long exceeded)


def parse_thresholds(value: object) -> list[int] | None:
    """``value`` as stored (``None``: the default), or a ``ValueError`` naming the problem."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        if value.strip().lower() == "none":
            return []
        items: list[object] = [v.strip().rstrip("%") for v in value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValueError("a list of percentages such as [50, 80, 100]")
    out: set[int] = set()
    for item in items:
        if isinstance(item, bool):
            raise ValueError("a list of percentages such as [50, 80, 100]")
        try:
            number = int(item) if isinstance(item, int | str) else int(str(item))
        except ValueError:
            raise ValueError(f"{item!r} is not a whole percentage") from None
        if not 1 <= number <= HIGHEST:
            raise ValueError(f"{number}: a threshold is between 1 and {HIGHEST} percent")
        out.add(number)
    if len(out) > MAX_THRESHOLDS:
        raise ValueError(f"at most {MAX_THRESHOLDS} thresholds")
    return sorted(out)


def shown(value: object) -> str:
    """A stored value for a form field: "" (the default), "none", or "50, 80, 100"."""
    if value is None:
        return ""
    if isinstance(value, list) and not value:
        return "none"
    return ", ".join(str(v) for v in value) if isinstance(value, list) else ""
