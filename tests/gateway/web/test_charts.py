"""The dashboard's charts (``gateway.web.charts``): the first and last axis labels stay inside
the chart."""

from __future__ import annotations

import re

from gateway.web.charts import WIDTH, Series, bar_chart


def tick_labels(svg: str) -> list[tuple[float, str, str]]:
    return [
        (float(x), anchor, text)
        for x, anchor, text in re.findall(
            r'<text x="([\d.]+)" y="\d+" class="tick" text-anchor="(\w+)">([^<]*)</text>', svg
        )
    ]


def test_the_first_and_last_axis_labels_stay_inside_the_chart() -> None:
    labels = [f"Sun {h:02d}:00" for h in range(28)]
    svg = str(bar_chart("Requests", labels, Series([1] * 28, "bar")))
    ticks = tick_labels(svg)
    assert ticks[0] == (0.0, "start", "Sun 00:00")  # was centred on x=10.7: cut in half
    for x, anchor, _ in ticks[1:]:
        assert anchor == "middle" and 0 < x < WIDTH
    few = tick_labels(str(bar_chart("Requests", ["10:00", "11:00"], Series([1, 2], "bar"))))
    assert [a for _, a, _ in few] == ["middle", "middle"]
    last = tick_labels(
        str(bar_chart("x", ["a"] * 5 + ["Saturday 23:00 to Sunday 00:00"], Series([1] * 6, "b")))
    )
    assert last[-1][:2] == (float(WIDTH), "end")
