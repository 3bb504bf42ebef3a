"""Guardrails on a Gemini Live session (``gateway.features.gemini_live``, declared as the
``gemini_live`` endpoint in ``gateway.base.endpoints``): what ``realtime`` does for
OpenAI's Realtime events, for the Live API's messages. Resolved as for a Realtime
session (``realtime.begin``); the verdicts land on the session's journal row.

- pre_call and during_call, checked before a message goes upstream: ``setup``
  (``systemInstruction`` texts, each function declaration's name and description),
  ``clientContent`` (its turns' text parts), ``realtimeInput.text`` and ``toolResponse``
  (the strings of each function response). A rewrite (MASK) goes upstream in place of
  the original. Audio, images and video the client sends (``realtimeInput`` media, an
  ``inlineData`` part) cannot be read: refused, naming the guardrail.
- post_call: the server's messages carrying text (``modelTurn`` text parts,
  ``outputTranscription``) are held until the turn ends (``turnComplete``,
  ``generationComplete``, ``interrupted``), the turn's whole text checked, then sent on
  (the first held text carrying the rewritten whole when a guardrail masked it, the
  others emptied). Audio output (an ``inlineData`` part) cannot be read: refused (a
  session with post_call guardrails asks for ``responseModalities: ["TEXT"]``).

A refusal raises ``GuardrailBlocked``: the relay closes the session (1008)."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.base import socket_messages
from gateway.base.entries import KeyEntry, RouteEntry
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails import engine, texts
from gateway.features.guardrails.realtime import (
    SessionGuard,
    TranscriptionGuard,
    TranslationGuard,
    _setter,
    begin,
)

# each in both spellings: protobuf's JSON takes either, and google-genai sends the
# top-level ones in snake_case (``client_content``) with camelCase fields inside
CLIENT_TEXT = (
    "setup", "clientContent", "client_content", "realtimeInput", "realtime_input",
    "toolResponse", "tool_response",
)  # fmt: skip
CLIENT_MEDIA = ("audio", "video", "mediaChunks", "media_chunks")
TURN_ENDS = ("turnComplete", "generationComplete", "interrupted")
AUDIO_IN = "audio input (send text instead)"


class LiveGuard(SessionGuard):
    """One Live session's guardrails (see the module docstring)."""

    held_messages: list[dict[str, Any]]

    # -- the client's messages --
    async def client(self, message: str | bytes) -> str | bytes:
        if not self.pre or not any(socket_messages.names(message, name) for name in CLIENT_TEXT):
            return message
        event = socket_messages.event(message)
        if event is None:
            return message
        return await self._checked(message, event)

    def _client_slots(self, event: dict[str, Any], slots: texts.Slots) -> None:
        setup = event.get("setup")
        if isinstance(setup, dict):
            self._parts(_either(setup, "systemInstruction"), slots)
            for tool in setup.get("tools") or ():
                declarations = (
                    _either(tool, "functionDeclarations") if isinstance(tool, dict) else ()
                )
                for declared in declarations or ():
                    for name in ("name", "description"):
                        if isinstance(declared, dict) and isinstance(declared.get(name), str):
                            slots.add(declared[name], _setter(declared, name))
        content = _either(event, "clientContent")
        if isinstance(content, dict):
            for turn in content.get("turns") or ():
                self._parts(turn, slots)
        realtime_input = _either(event, "realtimeInput")
        if isinstance(realtime_input, dict):
            if any(realtime_input.get(name) for name in CLIENT_MEDIA):
                self._cannot_read(self.pre, "pre_call", AUDIO_IN)
            if isinstance(realtime_input.get("text"), str):
                slots.add(realtime_input["text"], _setter(realtime_input, "text"))
        response = _either(event, "toolResponse")
        if isinstance(response, dict):
            for answer in _either(response, "functionResponses") or ():
                if isinstance(answer, dict):
                    _strings(answer, "response", slots)

    def _parts(self, content: Any, slots: texts.Slots) -> None:
        if not isinstance(content, dict):
            return
        for part in content.get("parts") or ():
            if not isinstance(part, dict):
                continue
            if {"inlineData", "inline_data", "fileData", "file_data"} & part.keys():
                self._cannot_read(self.pre, "pre_call", AUDIO_IN)
            if isinstance(part.get("text"), str):
                slots.add(part["text"], _setter(part, "text"))

    # -- the server's messages --
    async def server(self, message: str | bytes) -> list[str | bytes]:
        if not self.post:
            return [message]
        if not socket_messages.names(message, "serverContent"):
            return [message]
        event = socket_messages.event(message)
        content = event.get("serverContent") if event is not None else None
        if event is None or not isinstance(content, dict):
            return [message]
        turn = content.get("modelTurn")
        for part in (turn or {}).get("parts") or () if isinstance(turn, dict) else ():
            if isinstance(part, dict) and "inlineData" in part:
                self._cannot_read(
                    self.post, "post_call", "audio output (ask for TEXT response modalities)"
                )
        held = getattr(self, "held_messages", None)
        if held is None:
            held = self.held_messages = []
        carries = _model_texts(event) or _transcript(event) is not None
        if carries:
            held.append(event)
        if not any(content.get(name) is True for name in TURN_ENDS):
            return [] if carries else [message]
        if not carries:
            held.append(event)
        self.held_messages = []
        return await self._release(held)

    async def _release(self, held: list[dict[str, Any]]) -> list[str | bytes]:
        said = [t for e in held for t in _model_texts(e)]
        heard = [t for e in held if (t := _transcript(e)) is not None]
        whole = ["".join(str(p.get("text")) for p in said), "".join(str(t["text"]) for t in heard)]
        checked = await engine.run(
            self.post, whole, self.context("response", "post_call"), self.notes
        )
        for pieces, old, new in ((said, whole[0], checked[0]), (heard, whole[1], checked[1])):
            if new != old and pieces:
                for index, piece in enumerate(pieces):
                    piece["text"] = new if index == 0 else ""
        return [orjson.dumps(e).decode() for e in held]


def _either(container: dict[str, Any], name: str) -> Any:
    """``container[name]`` (camelCase), or its snake_case spelling's value."""
    if name in container:
        return container[name]
    return container.get(re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), name))


def _model_texts(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The text parts of a message's ``modelTurn`` (thoughts aside)."""
    turn = (event.get("serverContent") or {}).get("modelTurn")
    if not isinstance(turn, dict):
        return []
    return [
        p
        for p in turn.get("parts") or ()
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]


def _transcript(event: dict[str, Any]) -> dict[str, Any] | None:
    heard = (event.get("serverContent") or {}).get("outputTranscription")
    return heard if isinstance(heard, dict) and isinstance(heard.get("text"), str) else None


def _strings(container: Any, where: Any, slots: texts.Slots) -> None:
    """Every string under ``container[where]``, each with its setter."""
    value = container[where]
    if isinstance(value, str):
        slots.add(value, _setter(container, where))
    elif isinstance(value, dict):
        for name in value:
            _strings(value, name, slots)
    elif isinstance(value, list):
        for index in range(len(value)):
            _strings(value, index, slots)


__all__ = ["GuardrailBlocked", "LiveGuard"]


class Sessions:
    """The relayed sessions' guardrails as ``hooks.session_guards`` asks for them: the
    Realtime events' (``realtime``; a transcription session's ``realtime_transcription``,
    a translation session's ``realtime_translation``), the Gemini Live messages'
    (``LiveGuard``, here)."""

    def begin(
        self, key: KeyEntry, route: RouteEntry, request_id: str, protocol: str = "realtime"
    ) -> SessionGuard | None:
        if protocol == "gemini_live":
            return begin(key, route, request_id, LiveGuard)
        if protocol == "realtime_transcription":
            return begin(key, route, request_id, TranscriptionGuard)
        if protocol == "realtime_translation":
            return begin(key, route, request_id, TranslationGuard)
        return begin(key, route, request_id)
