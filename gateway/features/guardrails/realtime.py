"""Guardrails on a Realtime session (``/v1/realtime``, relayed event by event by
``gateway.edge.realtime_socket``; declared as the ``realtime`` endpoint in
``gateway.base.endpoints``).

``begin`` resolves what applies once the session is admitted (the ``default_on``
guardrails, the key's and its team's, the route's; a socket has no body to ask for
more): None when nothing does, and the relay then pays nothing more.

- pre_call and during_call (checked before an event is relayed, there being no answer
  to hold for a verdict): the client's texts, from ``conversation.item.create`` (its
  ``input_text`` / ``text`` parts, a function call's output), ``session.update`` (and
  the beta's ``transcription_session.update``: ``instructions``, each tool's name and
  description, the input transcription's ``prompt``, a reusable prompt's ``variables``)
  and ``response.create`` (the same, and its ``input`` items); a rewrite (MASK) goes
  upstream in place of
  the original. Audio the client sends (``input_audio_buffer.append``, an
  ``input_audio`` part) cannot be read: refused, naming the guardrail.
- post_call: the server's text (``response.text.delta`` / ``response.output_text.delta``,
  audio transcripts, function call arguments) is held, per content part, until its
  ``.done`` event, whose whole text is checked; then the held deltas go on (one delta
  of the rewritten text when a guardrail masked it, and every later event of the
  session carries the rewrite). Audio output cannot be read: refused (a session with
  post_call guardrails sets its output modalities to text).

A refusal raises ``GuardrailBlocked`` (or ``GuardrailUnavailable``): the relay sends the
Realtime ``error`` event naming the guardrail and closes the session (1008)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.access import registry
from gateway.base import socket_messages
from gateway.base.entries import GuardrailEntry, KeyEntry, RouteEntry
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails import engine, texts
from gateway.features.guardrails.kinds import Context
from gateway.features.guardrails.plane import applicable

CLIENT_TEXT = (
    "conversation.item.create",
    "session.update",
    "transcription_session.update",  # the beta's transcription session
    "response.create",
)
CLIENT_AUDIO = "input_audio_buffer.append"
# server text: the delta events (held) and the done event that ends each, with the
# field its whole text is in
DELTAS = (
    "response.text.delta",
    "response.output_text.delta",
    "response.audio_transcript.delta",
    "response.output_audio_transcript.delta",
    "response.function_call_arguments.delta",
)
DONE = {
    "response.text.done": "text",
    "response.output_text.done": "text",
    "response.audio_transcript.done": "transcript",
    "response.output_audio_transcript.done": "transcript",
    "response.function_call_arguments.done": "arguments",
}
AUDIO_OUT = ("response.audio.delta", "response.output_audio.delta")


def _setter(container: Any, where: Any) -> Callable[[str], None]:
    def set_item(value: str) -> None:
        container[where] = value

    return set_item


def _prompt_slots(inner: dict[str, Any], slots: texts.Slots) -> None:
    """The texts a session's settings (or a response's) send a model besides its
    instructions: the input transcription's ``prompt`` (GA ``audio.input.transcription``,
    the beta's ``input_audio_transcription``: free text the transcription model reads)
    and a reusable prompt's ``variables`` (a string, or an ``input_text`` part)."""
    audio = inner.get("audio")
    inputs = audio.get("input") if isinstance(audio, dict) else None
    for holder in (
        inputs.get("transcription") if isinstance(inputs, dict) else None,
        inner.get("input_audio_transcription"),
    ):
        if isinstance(holder, dict) and isinstance(holder.get("prompt"), str):
            slots.add(holder["prompt"], _setter(holder, "prompt"))
    prompt = inner.get("prompt")
    variables = prompt.get("variables") if isinstance(prompt, dict) else None
    for name, value in variables.items() if isinstance(variables, dict) else ():
        if isinstance(value, str):
            slots.add(value, _setter(variables, name))
        elif isinstance(value, dict) and isinstance(value.get("text"), str):
            slots.add(value["text"], _setter(value, "text"))


def begin(
    key: KeyEntry, route: RouteEntry, request_id: str, kind: type[SessionGuard] | None = None
) -> SessionGuard | None:
    """The guardrails of a session (a ``kind``: ``SessionGuard`` unless told), or None (no
    guardrail defined, none applies)."""
    snapshot = registry.current()
    if not snapshot.guardrails:
        return None
    entries = applicable(snapshot, key, route, [])
    reads = [e for e in entries if e.modes & {"pre_call", "during_call", "post_call"}]
    return (kind or SessionGuard)(key, route, reads, request_id) if reads else None


class SessionGuard:
    """One session's guardrails (see the module docstring)."""

    deltas: tuple[str, ...] = DELTAS  # the server's text events held
    dones: dict[str, str] = DONE  # and those that end them (the field of the whole text)

    def __init__(
        self, key: KeyEntry, route: RouteEntry, entries: list[GuardrailEntry], request_id: str
    ) -> None:
        self.key, self.route, self.request_id = key, route, request_id
        self.pre = [e for e in entries if e.modes & {"pre_call", "during_call"}]
        self.post = [e for e in entries if "post_call" in e.modes]
        self.notes = engine.Notes()
        self.held: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self.changed: dict[str, str] = {}  # every server text a guardrail rewrote

    def context(self, input_type: str, mode: str) -> Context:
        return Context(
            input_type=input_type,  # type: ignore[arg-type]
            mode=mode,
            key=self.key,
            route=self.route.name,
            model=self.route.name,
            request_id=self.request_id,
        )

    def _cannot_read(self, entries: list[GuardrailEntry], mode: str, what: str) -> None:
        entry = entries[0]
        raise GuardrailBlocked(
            f"guardrail {entry.name!r} ({mode}) applies to this session and cannot read "
            f"{what}; the session is refused rather than relayed unchecked",
            guardrail=entry.name,
            code="guardrail_not_applicable",
        )

    # -- the client's events --
    async def client(self, message: str | bytes) -> str | bytes:
        """The event to relay upstream (rewritten, or the same), or a refusal raised."""
        if not self.pre:
            return message
        if socket_messages.names(message, CLIENT_AUDIO):
            self._cannot_read(self.pre, "pre_call", "audio input (send input_text instead)")
        if not any(socket_messages.names(message, name) for name in CLIENT_TEXT):
            return message
        event = socket_messages.event(message)
        if event is None or event.get("type") not in CLIENT_TEXT:
            return message
        return await self._checked(message, event)

    async def _checked(self, message: str | bytes, event: dict[str, Any]) -> str | bytes:
        """``event`` (``message`` read) with its texts through the pre_call guardrails:
        rewritten, or ``message`` itself when none changed them."""
        slots = texts.Slots()
        self._client_slots(event, slots)
        if not slots.texts:
            return message
        checked = await engine.run(
            self.pre, slots.texts, self.context("request", "pre_call"), self.notes
        )
        if checked is slots.texts or not slots.write(checked):
            return message
        return orjson.dumps(event).decode()

    def _client_slots(self, event: dict[str, Any], slots: texts.Slots) -> None:
        kind = event.get("type")
        if kind == "conversation.item.create":
            self._item_slots(event.get("item"), slots)
            return
        inner = event.get("response" if kind == "response.create" else "session")
        if not isinstance(inner, dict):
            return
        if isinstance(inner.get("instructions"), str):
            slots.add(inner["instructions"], _setter(inner, "instructions"))
        _prompt_slots(inner, slots)
        for tool in inner.get("tools") or ():
            for name in ("name", "description"):
                if isinstance(tool, dict) and isinstance(tool.get(name), str):
                    slots.add(tool[name], _setter(tool, name))
        for item in inner.get("input") or ():
            self._item_slots(item, slots)

    def _item_slots(self, item: Any, slots: texts.Slots) -> None:
        if not isinstance(item, dict):
            return
        if isinstance(item.get("output"), str):  # a function call's output
            slots.add(item["output"], _setter(item, "output"))
        for part in item.get("content") or ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_audio" or "audio" in part:
                self._cannot_read(self.pre, "pre_call", "audio input (send input_text instead)")
            if isinstance(part.get("text"), str):
                slots.add(part["text"], _setter(part, "text"))

    # -- the server's events --
    async def server(self, message: str | bytes) -> list[str | bytes]:
        """The events to send the client now (none while a text is held), or a
        refusal raised."""
        if not self.post:
            return [message]
        if any(socket_messages.names(message, name) for name in AUDIO_OUT):
            self._cannot_read(
                self.post, "post_call", "audio output (set the session's output to text)"
            )
        delta = any(socket_messages.names(message, name) for name in self.deltas)
        done = not delta and any(socket_messages.names(message, name) for name in self.dones)
        if not (delta or done or self.changed):
            return [message]
        event = socket_messages.event(message)
        kind = event.get("type") if event is not None else None
        if event is None:
            return [message]
        if kind in self.deltas:
            self.held.setdefault(self._part(event), []).append(event)
            return []
        if kind in self.dones:
            return await self._done(event, self.dones[kind])
        rewritten, _ = texts.rewrite_body(event, self.changed)  # echoes of a rewritten text
        return [orjson.dumps(rewritten).decode()]

    @staticmethod
    def _part(event: dict[str, Any]) -> tuple[Any, ...]:
        kind = str(event.get("type"))
        return (
            kind.rsplit(".", 1)[0],
            event.get("response_id"),
            event.get("item_id"),
            event.get("output_index"),
            event.get("content_index"),
        )

    async def _done(self, event: dict[str, Any], field: str) -> list[str | bytes]:
        held = self.held.pop(self._part(event), [])
        text = event.get(field)
        if not isinstance(text, str):  # no whole text to check: the deltas joined
            text = "".join(str(e.get("delta") or "") for e in held)
        checked = await engine.run(
            self.post, [text], self.context("response", "post_call"), self.notes
        )
        out: list[str | bytes] = []
        if checked[0] != text:
            self.changed[text] = checked[0]
            if held:
                held = [{**held[0], "delta": checked[0]}]
            event[field] = checked[0]
        out.extend(orjson.dumps(e).decode() for e in held)
        out.append(orjson.dumps(event).decode())
        return out

    def finished(self, record: Any) -> None:
        if self.notes:
            record.guardrails = self.notes.as_list()


# a transcription session's transcript of the client's audio: deltas, then the whole
TRANSCRIPT_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPT_DONE = "conversation.item.input_audio_transcription.completed"
# a translation session's audio in, and what it sends: translated audio, transcript
# deltas of either side (no event ends them with a whole text to check)
TRANSLATION_AUDIO = "session.input_audio_buffer.append"
TRANSLATION_OUT = (
    "session.output_audio.delta",
    "session.output_transcript.delta",
    "session.input_transcript.delta",
)


class TranscriptionGuard(SessionGuard):
    """A transcription session (``/v1/realtime?intent=transcription``): its input is
    audio, which pre_call guardrails cannot read (refused at the first
    ``input_audio_buffer.append``, as in any session); its transcript is the answer
    post_call guardrails check, as a response's text: the deltas held until the
    ``completed`` event's whole transcript is checked."""

    deltas = (*DELTAS, TRANSCRIPT_DELTA)
    dones = {**DONE, TRANSCRIPT_DONE: "transcript"}


class TranslationGuard(SessionGuard):
    """A translation session (``/v1/realtime/translations``): audio in, translated audio
    and transcript deltas out, none of which the guardrails can read whole: refused at
    the first audio a pre_call guardrail would have to read, and at the first output a
    post_call one would."""

    async def client(self, message: str | bytes) -> str | bytes:
        if self.pre and socket_messages.names(message, TRANSLATION_AUDIO):
            self._cannot_read(self.pre, "pre_call", "a translation session's audio input")
        return await super().client(message)

    async def server(self, message: str | bytes) -> list[str | bytes]:
        if self.post and any(socket_messages.names(message, name) for name in TRANSLATION_OUT):
            self._cannot_read(self.post, "post_call", "a translation session's output")
        return await super().server(message)
