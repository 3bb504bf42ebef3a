"""Running the guardrails of one mode over texts: in order (a rewrite feeds the next),
each within its timeout, with its failure policy and monitor mode, each verdict noted.

Failure policy: a check that fails (its service down, a 5xx, slower than its
``timeout``, an exception) refuses the request (``GuardrailUnavailable``) unless the
guardrail fails open; then the request goes on and the note says ``bypassed``, which the
journal keeps and ``/metrics`` counts (``switchyard_guardrail_bypass_total``). Nothing
passes silently. Monitor mode notes ``would_block`` / ``would_intervene`` and changes
nothing (a failure there is noted as ``error`` and never refuses)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from gateway.base.entries import GuardrailEntry
from gateway.base.errors import GatewayError, GuardrailBlocked, GuardrailUnavailable
from gateway.features.guardrails import kinds
from gateway.features.guardrails.kinds import Context, Verdict

log = logging.getLogger(__name__)

# how bad a verdict is: a note keeps the worst of the checks it counts
_RANK = {
    "none": 0,
    "would_intervene": 1,
    "intervened": 2,
    "error": 3,
    "would_block": 4,
    "blocked": 5,
}


class Notes:
    """One note per guardrail and mode, however often it ran (a stream runs its
    post_call checks many times): the worst verdict, the checks, their total time, what
    was found (entity types), whether a failure was let through."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}

    def add(
        self,
        entry: GuardrailEntry,
        mode: str,
        verdict: str,
        elapsed_ms: float,
        *,
        entities: Sequence[str] = (),
        reason: str = "",
        bypassed: bool = False,
        error: str = "",
    ) -> None:
        note = self.by_key.get((entry.name, mode))
        if note is None:
            note = self.by_key[(entry.name, mode)] = {
                "name": entry.name,
                "kind": entry.kind,
                "mode": mode,
                "verdict": verdict,
                "checks": 0,
                "latency_ms": 0.0,
            }
            if entry.monitor:
                note["monitor"] = True
        note["checks"] += 1
        note["latency_ms"] = round(note["latency_ms"] + elapsed_ms, 3)
        # the worst verdict is kept (the same one again, as most checks give: no lookup)
        if verdict != note["verdict"] and _RANK.get(verdict, 0) > _RANK.get(note["verdict"], 0):
            note["verdict"] = verdict
        if entities:
            note["entities"] = list(dict.fromkeys([*note.get("entities", ()), *entities]))
        if reason and verdict != "none":
            note["reason"] = reason[:300]
        if bypassed:
            note["bypassed"] = True
        if error:
            note["error"] = error[:300]

    def as_list(self) -> list[dict[str, Any]]:
        return list(self.by_key.values())

    def __bool__(self) -> bool:
        return bool(self.by_key)


def _what(context: Context) -> str:
    if context.mode == "pre_mcp_call":
        return (
            f"the tool call {context.tool}"
            if context.input_type == "request"
            else "the tool's result"
        )
    return "the request" if context.input_type == "request" else "the answer"


async def run(
    entries: Sequence[GuardrailEntry], texts: list[str], context: Context, notes: Notes
) -> list[str]:
    """The texts after every guardrail of ``entries`` (rewritten or the same list), or
    a refusal raised (``GuardrailBlocked`` / ``GuardrailUnavailable``)."""
    for entry in entries:
        started = time.perf_counter()
        try:
            checker = kinds.checker(entry)
            own = context
            if context.extra:  # the request's settings for this guardrail, only its own
                extra = context.extra.get(entry.name)
                own = dataclasses.replace(context, extra=extra if isinstance(extra, dict) else {})
            if checker.local:
                verdict = await checker.check(texts, own)
            else:
                verdict = await asyncio.wait_for(checker.check(texts, own), entry.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure takes the failure policy
            elapsed = (time.perf_counter() - started) * 1000
            _failed(entry, context, notes, exc, elapsed)
            continue
        elapsed = (time.perf_counter() - started) * 1000
        if verdict.action == "none":  # most checks: noted, nothing else (``_apply``'s last case)
            notes.add(entry, context.mode, "none", elapsed)
        else:
            texts = _apply(entry, context, notes, verdict, texts, elapsed)
    return texts


def found_nothing(
    entries: Sequence[GuardrailEntry], mode: str, notes: Notes, elapsed_ms: float
) -> None:
    """Note a check of ``entries`` their checkers knew to find nothing without running
    it (``Checker.finds_nothing``), as ``run`` notes a verdict of none."""
    by_key = notes.by_key
    for entry in entries:
        note = by_key.get((entry.name, mode))
        if note is None:
            notes.add(entry, mode, "none", elapsed_ms)
        else:  # ``add`` of a verdict of none to a note there: a check more, its time
            note["checks"] += 1
            note["latency_ms"] = round(note["latency_ms"] + elapsed_ms, 3)


def known_clean(
    entries: Sequence[GuardrailEntry], texts: list[str], mode: str, notes: Notes
) -> bool:
    """Whether every check of ``entries`` would find nothing in ``texts``, known without
    running it (each a local kind that says so of each text: ``Checker.finds_nothing_in``):
    then noted as checks that found nothing (``found_nothing``), not run, and no context
    made for them. A service's check always runs (it may fail, and its failure policy
    refuse the request); so does a check of no text."""
    if not texts:
        return False
    started = time.perf_counter()
    for entry in entries:
        checker = kinds.checker(entry)
        if not checker.local or not checker.finds_nothing_in(texts):
            return False
    found_nothing(entries, mode, notes, (time.perf_counter() - started) * 1000)
    return True


def _failed(
    entry: GuardrailEntry, context: Context, notes: Notes, exc: BaseException, elapsed: float
) -> None:
    if isinstance(exc, TimeoutError):
        message = f"no verdict within {entry.timeout:g}s"
    elif isinstance(exc, GatewayError):
        message = exc.message
    else:
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if entry.monitor or entry.fail_open:
        log.warning(
            "guardrail %s failed (%s); %s",
            entry.name,
            message,
            "monitor only" if entry.monitor else "failing open",
        )
        notes.add(
            entry,
            context.mode,
            "error",
            elapsed,
            bypassed=entry.fail_open and not entry.monitor,
            error=message,
        )
        return
    notes.add(entry, context.mode, "error", elapsed, error=message)
    raise GuardrailUnavailable(
        f"guardrail {entry.name!r} could not check {_what(context)} ({message}); the "
        "request was refused because this guardrail fails closed",
        guardrail=entry.name,
    ) from None


def _apply(
    entry: GuardrailEntry,
    context: Context,
    notes: Notes,
    verdict: Verdict,
    texts: list[str],
    elapsed: float,
) -> list[str]:
    mode = context.mode
    if verdict.action == "blocked":
        if entry.monitor:
            notes.add(
                entry,
                mode,
                "would_block",
                elapsed,
                entities=verdict.entities,
                reason=verdict.reason,
            )
            return texts
        notes.add(entry, mode, "blocked", elapsed, entities=verdict.entities, reason=verdict.reason)
        reason = f": {verdict.reason}" if verdict.reason else ""
        raise GuardrailBlocked(
            f"guardrail {entry.name!r} blocked {_what(context)}{reason}", guardrail=entry.name
        )
    if verdict.action == "intervened" and verdict.texts is not None:
        if entry.monitor or mode == "during_call":  # during_call runs beside the upstream call
            notes.add(
                entry,
                mode,
                "would_intervene",
                elapsed,
                entities=verdict.entities,
                reason=verdict.reason,
            )
            return texts
        if len(verdict.texts) != len(texts):
            _failed(
                entry,
                context,
                notes,
                ValueError("a rewrite returned a different number of texts"),
                elapsed,
            )
            return texts
        notes.add(
            entry, mode, "intervened", elapsed, entities=verdict.entities, reason=verdict.reason
        )
        return list(verdict.texts)
    notes.add(entry, mode, "none", elapsed)
    return texts
