"""A column's tokens/s is measured over its generation time, not divided by nearly
nothing: an answer that arrived in one piece (0 ms from first token to end) read
"TOKENS/S 14037.1" (#66); it reads "—"."""

from __future__ import annotations

from console.playground.run import ColumnRun


def column(first_token: float, finished: float) -> ColumnRun:
    run = ColumnRun(index=0, route="echo", dialect="openai", body={})
    run.started, run.first_token, run.finished = 10.0, first_token, finished
    run.reader.fold.output_tokens = 14
    return run


def test_no_rate_for_an_answer_that_came_in_one_piece() -> None:
    assert column(10.2, 10.201).metrics()["tokens_per_sec"] is None


def test_a_rate_over_a_real_generation_time() -> None:
    assert column(10.2, 11.2).metrics()["tokens_per_sec"] == 14.0


def test_costs_read_to_the_cent_and_unpriced_is_not_free() -> None:
    """The playground's cost: "$0.0123" read to four decimals, and a deployment with no
    price showed "$0" as if free (#66)."""
    from console.playground.views import format_cost

    assert format_cost("0.012345") == "$0.01"
    assert format_cost("1.5") == "$1.50"
    assert format_cost("0.0000042") == "$0.0000042"
    assert format_cost("0", unpriced=True) == "unpriced"
    assert format_cost("0") == "$0.00"
