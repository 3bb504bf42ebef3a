"""One pass for many markers over a long text: what it finds is what str's own searches
find, and without Hyperscan it says it cannot tell instead of finding nothing."""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base import marker_scan

EXACT = ("sk-", "sy-", '"headers"', 'url"', "secret-Value-1", "\u0130", "\u212a")
CASELESS = ("bearer", "authorization", "api-key")


@pytest.fixture
def fresh() -> Iterator[None]:
    marker_scan.scanner.cache_clear()
    marker_scan._locator.cache_clear()
    marker_scan._unavailable = False
    yield
    marker_scan.scanner.cache_clear()
    marker_scan._locator.cache_clear()
    marker_scan._unavailable = False


def expected(text: str) -> frozenset[str]:
    exact = {m for m in EXACT if m in text}
    caseless = {m for m in CASELESS if re.search(re.escape(m), text, re.ASCII | re.IGNORECASE)}
    return frozenset(exact | caseless)


def test_it_finds_exact_markers_as_written_and_caseless_ones_in_any_ascii_case(fresh) -> None:
    scan = marker_scan.scanner(EXACT, CASELESS)
    assert scan is not None
    text = "x" * 20_000 + ' "HEADERS" BeArEr sk- Sk- "x-API-Key" secret-value-1 \u212a'
    assert scan.found(text) == {"bearer", "api-key", "sk-", "\u212a"}
    assert scan.found("nothing here " * 2000) == frozenset()
    assert scan.found("") == frozenset()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *EXACT,
                *CASELESS,
                "BEARER",
                "Api-Key",
                "SK-",
                "s",
                "k",
                "-",
                '"',
                "é",
                "\u0131",
                "autho",
                "rization",
                "secret-",
                "Value-1",
                "\U0001f600",
                "\udc80",
                " ",
            ]
        ),
        max_size=20,
    ).map("".join)
)
def test_what_it_finds_is_what_searching_for_each_finds(text: str) -> None:
    scan = marker_scan.scanner(EXACT, CASELESS)
    assert scan is not None
    assert scan.found(text) == expected(text)


def test_without_hyperscan_there_is_no_scanner(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_hyperscan(name: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "hyperscan":
            raise ImportError("No module named 'hyperscan'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hyperscan)
    assert marker_scan.scanner(EXACT, CASELESS) is None
    assert marker_scan._unavailable  # not tried again on every text
    assert marker_scan.marker_starts('"model":' * 10, '"model":') is None


def str_starts(text: str, marker: str) -> list[int]:
    """Every start of ``marker`` in ``text`` by ``str.find`` (overlapping ones too)."""
    starts, at = [], text.find(marker)
    while at >= 0:
        starts.append(at)
        at = text.find(marker, at + 1)
    return starts


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(['"model":', '"model"', "model", "aa", "a", ":", "\n", "x" * 50])),
    st.sampled_from(['"model":', "aa"]),
)
def test_marker_starts_are_where_str_find_finds_the_marker(pieces: list[str], marker: str) -> None:
    """Every occurrence, in order, overlapping ones too ("aa" in "aaa"); a text that is
    not ASCII is left to str.find (its utf-8 offsets are not its characters')."""
    text = "".join(pieces)
    assert marker_scan.marker_starts(text, marker) == str_starts(text, marker)
    assert marker_scan.marker_starts(text + "é", marker) is None


def test_no_markers_is_no_scanner(fresh) -> None:
    assert marker_scan.scanner((), ()) is None
    assert not marker_scan._unavailable


def test_each_thread_scans_with_its_own_scratch(fresh) -> None:
    import threading

    scan = marker_scan.scanner(EXACT, CASELESS)
    assert scan is not None
    results: list[frozenset[str] | None] = []

    def work() -> None:
        for _ in range(200):
            results.append(scan.found("a bearer and sk- " * 2000))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [frozenset({"bearer", "sk-"})] * 800
