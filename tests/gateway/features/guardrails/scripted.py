"""A guardrail kind whose verdict its params script (``scripted``), for the tests of the
engine and of what runs it (agent messages, MCP calls): ``{"block": word}`` blocks a
text holding the word, ``{"mask": word}`` rewrites it to ``[MASKED]`` (or ``{"with": text}``), ``{"fail":
True}`` raises, ``{"slow": seconds}`` sleeps before passing, ``{"texts": n}`` answers
``n`` rewritten texts whatever it was given. Each check's texts and context are kept
in ``SEEN``."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from gateway.base.entries import MASTER, GuardrailEntry, KeyEntry
from gateway.features.guardrails import kinds

NAME = "scripted"
SEEN: list[tuple[str, list[str], kinds.Context]] = []


class ScriptedChecker(kinds.Checker):
    local = False

    async def check(self, texts: list[str], context: kinds.Context) -> kinds.Verdict:
        SEEN.append((self.entry.name, list(texts), context))
        params = self.entry.params
        if params.get("fail"):
            raise ConnectionError("service down")
        if params.get("slow"):
            await asyncio.sleep(float(params["slow"]))
        if "texts" in params:
            return kinds.Verdict("intervened", texts=["x"] * int(params["texts"]))
        word = params.get("block")
        if word and any(word in text for text in texts):
            return kinds.Verdict("blocked", reason=f"said {word}", entities=("WORD",))
        word = params.get("mask")
        if word and any(word in text for text in texts):
            masked = [text.replace(word, params.get("with", "[MASKED]")) for text in texts]
            return kinds.Verdict("intervened", texts=masked, entities=("WORD",))
        return kinds.NONE


class ScriptedKind(kinds.Kind):
    def validate(self, params: Any) -> dict[str, Any]:
        return dict(params)

    def build(self, entry: GuardrailEntry) -> kinds.Checker:
        return ScriptedChecker(entry)


_ids = iter(range(70_000, 80_000))


def guardrail(name: str, modes: tuple[str, ...] = ("pre_call",), **extra: Any) -> GuardrailEntry:
    """A scripted guardrail: ``params`` its script; the entry's other fields as given."""
    return GuardrailEntry(
        id=next(_ids),
        name=name,
        kind=NAME,
        modes=frozenset(modes),
        params=extra.pop("params", {}),
        **extra,
    )


def key(*guardrails: str, pk: int = 31) -> KeyEntry:
    return dataclasses.replace(MASTER, id=pk, name=f"key{pk}", guardrails=guardrails)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], kinds.Context]]:
    """The scripted kind registered for one test; the checks it saw."""
    monkeypatch.setitem(kinds.KINDS, NAME, ScriptedKind(NAME, "Scripted", "none"))
    SEEN.clear()
    return SEEN
