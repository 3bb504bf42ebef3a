"""Inline SVG charts rendered on the server (no chart library, no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD_TOP, PAD_BOTTOM = 600, 140, 8, 18
TICK_CHAR_WIDTH = 6.2  # a generous average width of a 10 px sans-serif character


@dataclass(slots=True)
class Series:
    values: Sequence[float]
    css: str  # class name, coloured by the stylesheet


def _scale(top: float, headroom: float = PAD_TOP) -> float:
    return (HEIGHT - headroom - PAD_BOTTOM) / top if top > 0 else 0.0


def bar_chart(
    title: str,
    labels: Sequence[str],
    total: Series,
    overlay: Series | None = None,
    *,
    value_label: str = "",
    headroom: float = PAD_TOP,
    top: float | None = None,
) -> SafeString:
    """Bars of ``total`` with ``overlay`` (e.g. errors) drawn over them; each bar has a
    tooltip. The y maximum is printed top-left; ``headroom`` above the tallest bar keeps
    it clear of a first bar that is the tallest (bars sorted largest first). ``top``: the
    value of a full bar when the figures have a scale (a score of 1 to 5: 5), unless a
    figure is larger."""
    count = max(1, len(total.values))
    top = max([float(v) for v in total.values] + [0.0, top or 0.0])
    scale = _scale(top, headroom)
    slot = WIDTH / count
    bar_width = max(1.0, slot * 0.72)
    base = HEIGHT - PAD_BOTTOM
    rects = []
    for i, value in enumerate(total.values):
        x = i * slot + (slot - bar_width) / 2
        h = float(value) * scale
        tip = f"{labels[i]}: {value:g}" if isinstance(value, float) else f"{labels[i]}: {value}"
        rects.append(_rect(x, base - h, bar_width, h, total.css, tip))
        if overlay is not None and overlay.values[i]:
            oh = float(overlay.values[i]) * scale
            tip = f"{labels[i]}: {overlay.values[i]} errors"
            rects.append(_rect(x, base - oh, bar_width, oh, overlay.css, tip))
    bars = format_html_join("", "<rect {}><title>{}</title></rect>", rects)
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" class="tick" text-anchor="{}">{}</text>',
        (
            (*_tick_position(i * slot + slot / 2, labels[i]), labels[i])
            for i in _tick_indexes(count)
        ),
    )
    top_label = f"{top:,.6f}".rstrip("0").rstrip(".") if top < 1 else f"{top:,.4g}"
    top_label = f"{top_label} {value_label}".strip()
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" '
        'aria-label="{}"><line x1="0" x2="{}" y1="{}" y2="{}" class="axis"/>{}{}'
        '<text x="2" y="12" class="max">{}</text></svg>',
        WIDTH,
        HEIGHT,
        title,
        WIDTH,
        base,
        base,
        bars,
        ticks,
        top_label,
    )


def _rect(x: float, y: float, w: float, h: float, css: str, tip: str) -> tuple[SafeString, str]:
    attrs = format_html(
        'x="{}" y="{}" width="{}" height="{}" class="{}" rx="1.5"',
        f"{x:.1f}",
        f"{y:.1f}",
        f"{w:.1f}",
        f"{max(h, 0.0):.1f}",
        css,
    )
    return attrs, tip


def _tick_position(center: float, label: str) -> tuple[str, int, str]:
    """(x, y, text-anchor) of a tick label under its bar: centred, unless that would
    cut it at the chart's left or right edge (the first label of the week view, "Sun
    14:00", is wider than its bar's slot), then aligned to that edge."""
    half = len(label) * TICK_CHAR_WIDTH / 2
    if center - half < 0:
        return "0", HEIGHT - 4, "start"
    if center + half > WIDTH:
        return str(WIDTH), HEIGHT - 4, "end"
    return f"{center:.1f}", HEIGHT - 4, "middle"


def _tick_indexes(count: int, wanted: int = 6) -> range:
    step = max(1, count // wanted)
    return range(0, count, step)
