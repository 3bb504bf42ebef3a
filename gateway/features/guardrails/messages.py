"""Guardrails on the text parts of agent-to-agent messages (``hooks.MessageGuard``):
what applies is the ``default_on`` guardrails and the key's and its team's; the message
sent is checked by those with mode ``pre_call`` or ``during_call``, what comes back
(an answer, each streamed event) by those with ``post_call``. The verdicts are noted on
the call's own journal record."""

from __future__ import annotations

from typing import Any

from gateway.access import registry
from gateway.base.entries import GuardrailEntry, KeyEntry
from gateway.features.guardrails import engine
from gateway.features.guardrails.kinds import Context
from gateway.features.guardrails.plane import applicable

INPUT_MODES = ("pre_call", "during_call")
OUTPUT_MODES = ("post_call",)


class MessageGuardrails:
    """The one ``hooks.MessageGuard``."""

    def begin(self, key: KeyEntry, target: str, *, record: Any = None) -> Check | None:
        snapshot = registry.current()
        if not snapshot.guardrails:
            return None
        found = applicable(snapshot, key, None, [])
        inputs = [e for e in found if any(m in e.modes for m in INPUT_MODES)]
        outputs = [e for e in found if any(m in e.modes for m in OUTPUT_MODES)]
        if not inputs and not outputs:
            return None
        request_id = getattr(record, "request_id", "") or ""
        return Check(inputs, outputs, key, target, request_id, record)


class Check:
    """One agent call's checks (``hooks.MessageCheck``)."""

    def __init__(
        self,
        inputs: list[GuardrailEntry],
        outputs: list[GuardrailEntry],
        key: KeyEntry,
        target: str,
        request_id: str,
        record: Any,
    ) -> None:
        self.inputs, self.outputs = inputs, outputs
        self.key, self.target, self.request_id, self.record = key, target, request_id, record
        self.notes = engine.Notes()

    async def _run(
        self, entries: list[GuardrailEntry], texts: list[str], input_type: str, mode: str
    ) -> list[str]:
        if not entries or not any(texts):
            return texts
        context = Context(
            input_type=input_type,  # type: ignore[arg-type]
            mode=mode,
            key=self.key,
            route=self.target,
            request_id=self.request_id,
        )
        try:
            return await engine.run(entries, texts, context, self.notes)
        finally:
            if self.record is not None:
                self.record.guardrails = self.notes.as_list() or None

    async def check_input(self, texts: list[str]) -> list[str]:
        return await self._run(self.inputs, texts, "request", "pre_call")

    async def check_output(self, texts: list[str]) -> list[str]:
        return await self._run(self.outputs, texts, "response", "post_call")
