"""Running the guardrails of one mode (``gateway.features.guardrails.engine``): in order,
a rewrite feeding the next; a block refused naming the guardrail; a failure (an error,
slower than the timeout, a rewrite of the wrong length) refusing unless the guardrail
fails open (noted ``bypassed``); monitor mode noting what it would have done and
changing nothing; one note per guardrail and mode keeping the worst verdict."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base.errors import GuardrailBlocked, GuardrailUnavailable
from gateway.features.guardrails import engine
from gateway.features.guardrails.kinds import Context
from tests.gateway.features.guardrails.scripted import guardrail

REQUEST = Context(input_type="request", mode="pre_call")


def _run(entries, texts, context=REQUEST, notes=None):  # type: ignore[no-untyped-def]
    notes = notes if notes is not None else engine.Notes()
    return asyncio.run(engine.run(entries, texts, context, notes)), notes


def test_a_rewrite_feeds_the_next_guardrail(scripted) -> None:  # type: ignore[no-untyped-def]
    first = guardrail("mask", params={"mask": "cat"})
    second = guardrail("pass")
    texts, notes = _run([first, second], ["a cat", "no"])
    assert texts == ["a [MASKED]", "no"]
    assert scripted[1][1] == ["a [MASKED]", "no"]  # the second saw the rewrite
    assert [(n["name"], n["verdict"]) for n in notes.as_list()] == [
        ("mask", "intervened"), ("pass", "none"),
    ]  # fmt: skip
    assert notes.as_list()[0]["entities"] == ["WORD"]


def test_a_block_is_refused_naming_the_guardrail(scripted) -> None:  # type: ignore[no-untyped-def]
    notes = engine.Notes()
    with pytest.raises(GuardrailBlocked) as refused:
        _run([guardrail("words", params={"block": "boom"})], ["boom"], notes=notes)
    assert refused.value.message == "guardrail 'words' blocked the request: said boom"
    assert notes.as_list()[0]["verdict"] == "blocked"
    answer = Context(input_type="response", mode="post_call")
    with pytest.raises(GuardrailBlocked, match="blocked the answer"):
        _run([guardrail("words", params={"block": "boom"})], ["boom"], answer)
    tool = Context(input_type="request", mode="pre_mcp_call", tool="web__fetch")
    with pytest.raises(GuardrailBlocked, match="blocked the tool call web__fetch"):
        _run([guardrail("words", params={"block": "boom"})], ["boom"], tool)


def test_a_failure_refuses_unless_the_guardrail_fails_open(scripted) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GuardrailUnavailable, match="could not check the request") as refused:
        _run([guardrail("down", params={"fail": True})], ["hi"])
    assert "ConnectionError: service down" in refused.value.message
    texts, notes = _run([guardrail("down", params={"fail": True}, fail_open=True)], ["hi"])
    assert texts == ["hi"]
    (note,) = notes.as_list()
    assert note["verdict"] == "error" and note["bypassed"] is True
    assert note["error"] == "ConnectionError: service down"


def test_slower_than_the_timeout_is_a_failure(scripted) -> None:  # type: ignore[no-untyped-def]
    slow = guardrail("slow", params={"slow": 1}, timeout=0.01)
    with pytest.raises(GuardrailUnavailable, match="no verdict within 0.01s"):
        _run([slow], ["hi"])


def test_a_rewrite_of_the_wrong_length_is_a_failure(scripted) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GuardrailUnavailable, match="different number of texts"):
        _run([guardrail("odd", params={"texts": 3})], ["a", "b"])


def test_monitor_mode_changes_nothing(scripted) -> None:  # type: ignore[no-untyped-def]
    watching = [
        guardrail("b", params={"block": "x"}, monitor=True),
        guardrail("m", params={"mask": "x"}, monitor=True),
        guardrail("f", params={"fail": True}, monitor=True),
    ]
    texts, notes = _run(watching, ["x"])
    assert texts == ["x"]
    assert [(n["verdict"], n.get("monitor")) for n in notes.as_list()] == [
        ("would_block", True), ("would_intervene", True), ("error", True),
    ]  # fmt: skip
    assert "bypassed" not in notes.as_list()[2]


def test_during_call_only_notes_a_rewrite(scripted) -> None:  # type: ignore[no-untyped-def]
    during = Context(input_type="request", mode="during_call")
    texts, notes = _run([guardrail("m", ("during_call",), params={"mask": "x"})], ["x"], during)
    assert texts == ["x"] and notes.as_list()[0]["verdict"] == "would_intervene"


def test_the_request_settings_reach_only_their_guardrail(scripted) -> None:  # type: ignore[no-untyped-def]
    asked = Context(input_type="request", mode="pre_call", extra={"a": {"level": 2}, "b": 3})
    _run([guardrail("a"), guardrail("b"), guardrail("c")], ["hi"], asked)
    assert [seen[2].extra for seen in scripted] == [{"level": 2}, {}, {}]


def test_a_note_keeps_the_worst_verdict_and_counts_the_checks() -> None:
    entry = guardrail("g", ("post_call",))
    notes = engine.Notes()
    assert not notes
    notes.add(entry, "post_call", "none", 1.0)
    notes.add(entry, "post_call", "intervened", 2.5, entities=["EMAIL"], reason="masked")
    notes.add(entry, "post_call", "none", 1.0, entities=["EMAIL", "PHONE"])
    (note,) = notes.as_list()
    assert note["verdict"] == "intervened" and note["checks"] == 3
    assert note["latency_ms"] == 4.5 and note["entities"] == ["EMAIL", "PHONE"]
    assert note["reason"] == "masked" and notes


def test_a_check_known_to_find_nothing_is_noted_as_a_verdict_of_none() -> None:
    """``found_nothing`` notes what ``run`` notes of a check that finds nothing: a new
    note, or one check more (and its time) on the note there, its verdict kept."""
    entry, other = guardrail("g", ("post_call",)), guardrail("h", ("post_call",))
    noted, found = engine.Notes(), engine.Notes()
    noted.add(entry, "post_call", "intervened", 2.5, entities=["EMAIL"], reason="masked")
    found.add(entry, "post_call", "intervened", 2.5, entities=["EMAIL"], reason="masked")
    for _ in range(2):
        for note in (entry, other):
            noted.add(note, "post_call", "none", 0.25)
        engine.found_nothing([entry, other], "post_call", found, 0.25)
    assert found.as_list() == noted.as_list()
    assert [note["checks"] for note in found.as_list()] == [3, 2]
