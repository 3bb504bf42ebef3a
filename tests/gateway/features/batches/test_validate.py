"""The check of an OpenAI batch's input file (``gateway.features.batches.validate``), as
OpenAI reports it: each problem with its code, 1-based line and param; a model the key
may not use reported as one that is not there; the lines kept only when nothing is
wrong; an empty file and one past the most a batch holds refused whole."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest

from gateway.access import registry
from gateway.base.entries import MASTER
from gateway.features.batches import validate
from tests.gateway.entries import route, snapshot

CHAT = "/v1/chat/completions"
KEY = dataclasses.replace(MASTER, id=3, name="k", routes=frozenset({"chat"}))


@pytest.fixture(autouse=True)
def routes(snapshot_reset: None) -> None:
    off = dataclasses.replace(route("off", "m"), enabled=False)
    registry.install(snapshot(route("chat", "m"), route("other", "m"), off))


def line(custom_id: str = "a", **changes: Any) -> bytes:
    item: dict[str, Any] = {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT,
        "body": {"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
    }
    item.update(changes)
    return orjson.dumps(item)


def _codes(found: list[validate.Problem]) -> list[tuple[str, int | None, str | None]]:
    return [(p["code"], p["line"], p["param"]) for p in found]


def test_good_lines_are_kept_in_order() -> None:
    lines, found = validate.parse(KEY, [line("a"), b"  \n", line("b")], CHAT)
    assert found == [] and [custom_id for custom_id, _ in lines] == ["a", "b"]
    assert lines[0][1]["model"] == "chat"


def test_each_problem_as_openai_reports_it() -> None:
    source = [
        b"{not json",
        line("a"),
        line("a"),  # a duplicate custom_id
        line("c", method="GET", url="/v1/embeddings"),
        line("d", body={"model": "chat", "messages": "hi", "stream": True}),
        orjson.dumps({"custom_id": "", "url": CHAT, "body": []}),
        b"[1, 2]",
    ]
    lines, found = validate.parse(KEY, source, CHAT)
    assert [custom_id for custom_id, _ in lines] == ["a"]
    assert _codes(found) == [
        ("invalid_json_line", 1, None),
        ("duplicate_custom_id", 3, "custom_id"),
        ("invalid_request", 4, "method"),
        ("invalid_url", 4, "url"),
        ("streaming_unsupported", 5, "body.stream"),
        ("invalid_request", 5, "body.messages"),
        ("invalid_request", 6, "custom_id"),
        ("missing_required_parameter", 6, "method"),
        ("invalid_request", 6, "body"),
        ("invalid_request", 7, None),
    ]


@pytest.mark.parametrize(
    ("model", "code"),
    [("other", "model_not_found"), ("off", "model_not_found"), ("ghost", "model_not_found"),
     ("", "invalid_request"), (None, "invalid_request")],
)  # fmt: skip
def test_a_model_the_key_may_not_use_is_not_found(model: Any, code: str) -> None:
    found = validate.model_problem(KEY, model, 4)
    assert found is not None and found["code"] == code and found["line"] == 4
    assert found["param"] == "body.model"
    assert validate.model_problem(KEY, "chat", 4) is None
    assert validate.model_problem(MASTER, "other", 4) is None


def test_a_body_missing_what_its_endpoint_needs() -> None:
    embed = line(url="/v1/embeddings", body={"model": "chat"})
    assert _codes(validate.parse(KEY, [embed], "/v1/embeddings")[1]) == [
        ("invalid_request", 1, "body.input")
    ]
    responses = line(url="/v1/responses", body={"model": "chat"})
    assert validate.parse(KEY, [responses], "/v1/responses")[1] == []


def test_an_empty_file_and_too_many_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _codes(validate.parse(KEY, [b"\n", b" "], CHAT)[1]) == [
        ("empty_file", None, "input_file_id")
    ]
    monkeypatch.setattr(validate, "MAX_LINES", 2)
    lines, found = validate.parse(KEY, [line(str(i)) for i in range(3)], CHAT)
    assert lines == [] and _codes(found) == [("too_many_tasks", None, None)]


def test_the_problems_reported_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_ERRORS", 3)
    lines, found = validate.parse(KEY, [b"{"] * 10 + [line()], CHAT)
    assert lines == [] and len(found) == 3
