"""Small formatting filters for the console (durations, money, token counts)."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def ms(value: float | None) -> str:
    """12 ms, 1.24 s; an em dash when unknown."""
    if value is None or value == "":
        return "—"
    value = float(value)
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms"


@register.filter
def usd(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    value = Decimal(value)
    if value == 0:
        return "$0"
    if value < Decimal("0.01"):
        return f"${value:.5f}".rstrip("0")
    return f"${value:,.2f}"


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
def get_item(mapping: dict, key: str):
    return mapping.get(key) if mapping else None
