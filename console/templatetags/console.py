"""Small formatting filters for the console (durations, money, token counts)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from gateway.access import roles
from gateway.access.alert_thresholds import shown

register = template.Library()


@register.filter
def ms(value: float | str | None) -> str:
    """12 ms, 1.24 s; an em dash when unknown."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms"


def significant_usd(amount: Decimal, min_places: int = 0) -> str:
    """Dollars to two significant digits, with at least ``min_places`` decimals before
    trailing zeros are dropped: $0.0000042, $0.000001, $0.012."""
    places = max(min_places, -amount.adjusted() + 1)
    return f"${amount.quantize(Decimal(1).scaleb(-places)).normalize():f}"


@register.filter
def usd(value: Decimal | float | str | None) -> str:
    """$1,234.50 and $0.25 to the cent; under a cent, two significant digits
    ($0.0042, $0.000001) so that a tiny cost never reads as "$0."; $0.00 for nothing."""
    if value is None or value == "":
        return "—"
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if amount == 0:
        return "$0.00"
    if amount < 0:  # -$0.18, never $-0.18
        return "-" + str(usd(-amount))
    if abs(amount) < Decimal("0.01"):
        return significant_usd(amount)
    return f"${amount:,.2f}"


BRIEF_FLOOR = Decimal("0.0001")


@register.filter
def usd_brief(value: Decimal | float | str | None) -> str:
    """Money for a narrow figure (the dashboard's Spend card): to the cent, a sub-cent
    amount to at most four decimals ($0.0004), and "<$0.0001" below that, so the figure
    never needs more room than "$0.0004" has; the exact amount goes in a tooltip."""
    if value is None or value == "":
        return "—"
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if amount == 0 or abs(amount) >= Decimal("0.01"):
        to_the_cent: str = usd(amount)
        return to_the_cent
    if abs(amount) < BRIEF_FLOOR:
        return "<$0.0001" if amount > 0 else "-<$0.0001"
    places = min(4, -amount.adjusted() + 1)  # two significant digits, four decimals at most
    return f"${amount.quantize(Decimal(1).scaleb(-places)).normalize():f}"


@register.filter
def compact(value: int | float | None) -> str:
    """1.2k, 3.4M."""
    if value is None:
        return "—"
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


@register.filter
def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"


@register.filter
def status_class(status: int) -> str:
    if not status:
        return "pending"
    if status < 400:
        return "ok"
    if status < 500:
        return "warn"
    return "bad"


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    return mapping.get(key) if mapping else None


@register.filter
def can(user: Any, ability: str) -> bool:
    """``{% if user|can:"teams.view" %}``: whether the user's role has the ability
    (gateway/access/roles.py), so a page shows only what its reader may use."""

    return roles.actor_for_user(user).can(ability)


@register.filter
def may_change_route(user: Any, route: Any) -> bool:
    """``{% if user|may_change_route:route %}``: editors change the routes of their
    teams only; admins and owners any (the view checks the same rule)."""

    return roles.may_change_route(roles.actor_for_user(user), route)


@register.filter
def console_role(user: Any) -> str:
    """The user's role, or "" without console access."""

    return roles.actor_for_user(user).role or ""


@register.filter
def thresholds(value: Any) -> str:
    """Budget alert thresholds for a form field: "" (the default), "none", "50, 80, 100"."""

    return shown(value)


@register.filter
def budget_period(period_id: str | None) -> str:
    """A budget period's id as words: ``m2026-11`` "November 2026", ``d2026-11-27``
    "27 Nov 2026", anything else (``total``) "total" (the alerts page showed the ids)."""
    from datetime import date

    text = str(period_id or "")
    try:
        if text.startswith("m"):
            return date.fromisoformat(text[1:] + "-01").strftime("%B %Y")
        if text.startswith("d"):
            day = date.fromisoformat(text[1:])
            return f"{day.day} {day.strftime('%b %Y')}"
    except ValueError:
        return text
    return "total" if text in ("", "total", "t") else text
