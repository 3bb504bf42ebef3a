"""What an import plan looks like to a person: plain values (``2.5``, ``least_busy``,
``true``, never ``Decimal('2.500000')`` or ``Route.Strategy.LEAST_BUSY``), secrets
masked, and the rows of the console's preview table. It knows changes only by their
shape (``PlannedChange``), so the planner can use it without it using the planner."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

NONE = "—"
ENV_PREFIX = "os.environ/"


def plain(name: str, value: Any) -> str:
    """``value`` of field ``name`` as a person reads it (never a secret)."""
    if name in ("secret_ciphertext", "key_hash"):
        return "(secret)" if value else NONE
    if name == "secret":  # a reference may be shown, a literal never
        return value if str(value).startswith(ENV_PREFIX) else "(stored encrypted)"
    if name == "extra_headers" and isinstance(value, dict):  # values may be credentials
        return ", ".join(f"{k}: …" for k in value) or NONE
    if value is None or value == "":
        return NONE
    if isinstance(value, enum.Enum):  # TextChoices: the stored value
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        return "0" if text in ("-0", "0") else text
    if isinstance(value, float):
        return f"{int(value)}" if value.is_integer() else repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str) if value else NONE
    return str(value)


class PlannedChange(Protocol):
    """What the preview reads of a change (``plan.Change``)."""

    action: str
    route: str
    item: str
    fields: dict[str, tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the preview table: an object's first row carries its names."""

    action: str  # "create" | "update" | "delete"
    first: bool  # the first row of its object
    route: str
    item: str  # deployment "provider/model", provider or key name
    field: str
    before: str
    after: str


def change_rows(change: PlannedChange) -> list[Row]:
    if change.action == "unchanged":
        return []
    if change.action == "delete":
        return [Row("delete", True, change.route, change.item, "", "", "removed: not in the file")]
    fields = change.fields or {"": (None, None)}
    rows = []
    for index, (name, (old, new)) in enumerate(fields.items()):
        before = "" if change.action == "create" or not name else plain(name, old)
        after = plain(name, new) if name else ""
        rows.append(Row(change.action, index == 0, change.route, change.item, name, before, after))
    return rows


def table(
    changes: Sequence[PlannedChange], routes: Sequence[PlannedChange] | None = None
) -> list[Row]:
    """Rows for ``changes``; with ``routes`` (the plan's route changes), each
    deployment follows its route."""
    changes = list(changes)
    if routes is not None:
        order = {c.route: i for i, c in enumerate(routes)}
        changes.sort(key=lambda c: (order.get(c.route, len(order)), c.item != ""))
    return [row for change in changes for row in change_rows(change)]
