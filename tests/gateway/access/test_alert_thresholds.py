"""Budget alert thresholds as a key, team, user or the default holds them
(``gateway.access.alert_thresholds``): whole percentages from 1 to ``HIGHEST``, each
once, ascending; ``None`` (or blank) is "the default", ``[]`` (or ``none``) no alerts;
anything else a ``ValueError`` naming what is wrong. ``shown`` writes a stored value back
into the form field it came from."""

from __future__ import annotations

import pytest

from gateway.access.alert_thresholds import HIGHEST, MAX_THRESHOLDS, parse_thresholds, shown


@pytest.mark.parametrize(
    "value, stored",
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("none", []),
        (" None ", []),
        ([], []),
        ("80, 50,100", [50, 80, 100]),
        ("50%, 80 %", [50, 80]),
        ([100, 50, 50, 80], [50, 80, 100]),
        ((1, HIGHEST), [1, HIGHEST]),
        (["90", 10], [10, 90]),
    ],
)
def test_thresholds_are_stored_once_ascending(value, stored) -> None:
    assert parse_thresholds(value) == stored


@pytest.mark.parametrize(
    "value, said",
    [
        ("50, lots", "'lots' is not a whole percentage"),
        ("50.5", "'50.5' is not a whole percentage"),
        ([0], "0: a threshold is between 1 and"),
        ([HIGHEST + 1], f"{HIGHEST + 1}: a threshold is between 1 and {HIGHEST}"),
        ("-5", "-5: a threshold is between"),
        ([True], "a list of percentages"),
        (50, "a list of percentages"),
        ({"a": 50}, "a list of percentages"),
        (list(range(1, MAX_THRESHOLDS + 2)), f"at most {MAX_THRESHOLDS} thresholds"),
    ],
)
def test_what_is_refused_is_named(value, said) -> None:
    with pytest.raises(ValueError) as refused:
        parse_thresholds(value)
    assert said in str(refused.value)


def test_the_same_value_counts_once_toward_the_most() -> None:
    assert parse_thresholds([50] * (MAX_THRESHOLDS + 5)) == [50]


@pytest.mark.parametrize(
    "stored, field", [(None, ""), ([], "none"), ([50, 80, 100], "50, 80, 100"), ("x", "")]
)
def test_a_stored_value_is_shown_as_the_form_takes_it_back(stored, field) -> None:
    assert shown(stored) == field
    if field:
        assert parse_thresholds(field) == stored
