"""ConverseStream events -> canonical stream events.

The transport de-frames AWS event-stream messages into ``WireEvent(event=:event-type,
data=payload)``; exception frames arrive as ``WireEvent("exception", {"type", "message",
...})``. Text and reasoning blocks have no ``contentBlockStart``: a part opens on its
first delta. ``messageStop`` carries the stop reason and ``metadata`` (after it) the
usage. A stream that ends before ``messageStop`` was cut short: an error, never a
silent end.
"""

from __future__ import annotations

from typing import Any

from gateway.base import types as t
from gateway.base.errors import UpstreamConnectionError
from gateway.base.types import PartStart, PartStop, TextDelta, ThinkingDelta, ToolArgsDelta
from gateway.codecs.base import WireEvent
from gateway.codecs.bedrock import maps
from gateway.codecs.bedrock.outbound import JSON_TOOL


class ConverseStreamParser:
    """One ConverseStream's events, statefully, as canonical events."""

    def __init__(self) -> None:
        self._parts: dict[int, int] = {}  # contentBlockIndex -> canonical part index
        self._kinds: dict[int, str] = {}  # contentBlockIndex -> tool_call/json/text/thinking
        self._real_tools = False
        self._started = False
        self.stopped = False
        self.failed = False  # an exception frame was reported: nothing more is owed

    def feed(self, event: WireEvent) -> list[t.StreamEvent]:
        data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}
        out: list[t.StreamEvent] = []
        if not self._started and event.event != "exception":
            self._started = True
            out.append(t.Start(id="", model=""))
        match event.event:
            case "contentBlockStart":
                out += self._start(data.get("contentBlockIndex", 0), data.get("start") or {})
            case "contentBlockDelta":
                out += self._delta(data.get("contentBlockIndex", 0), data.get("delta") or {})
            case "contentBlockStop":
                part = self._parts.get(data.get("contentBlockIndex", 0))
                if part is not None:
                    out.append(PartStop(part))
            case "messageStop":
                self.stopped = True
                fields = data.get("additionalModelResponseFields")
                sequence = fields.get("stop_sequence") if isinstance(fields, dict) else None
                reason = maps.finish_reason(data.get("stopReason"), not self._real_tools)
                out.append(t.Finish(reason, sequence))
            case "metadata":
                if data.get("usage"):
                    out.append(t.UsageEvent(maps.usage(data["usage"])))
            case "exception":
                self.failed = True
                out.append(t.ErrorEvent(maps.error(data.get("type"), data.get("message"), None)))
        return out  # messageStart and anything new add nothing but Start

    def _open(self, index: int, kind: str) -> int:
        part = len(self._parts)
        self._parts[index] = part
        self._kinds[index] = kind
        return part

    def _start(self, index: int, start: dict[str, Any]) -> list[t.StreamEvent]:
        use = start.get("toolUse")
        if not isinstance(use, dict) or index in self._parts:
            return []
        if use.get("name") == JSON_TOOL:
            return [PartStart(self._open(index, "json"), "text")]
        self._real_tools = True
        part = self._open(index, "tool_call")
        return [PartStart(part, "tool_call", use.get("toolUseId"), use.get("name"))]

    def _delta(self, index: int, delta: dict[str, Any]) -> list[t.StreamEvent]:
        out: list[t.StreamEvent] = []
        if "text" in delta:
            if not delta["text"]:
                return out
            if index not in self._parts:
                out.append(PartStart(self._open(index, "text"), "text"))
            out.append(TextDelta(self._parts[index], delta["text"]))
        elif "toolUse" in delta:
            fragment = (delta["toolUse"] or {}).get("input") or ""
            if not fragment or index not in self._parts:
                return out  # a fragment for a block that never started cannot be placed
            part = self._parts[index]
            if self._kinds[index] == "json":
                out.append(TextDelta(part, fragment))
            else:
                out.append(ToolArgsDelta(part, fragment))
        elif "reasoningContent" in delta:
            content = delta["reasoningContent"] or {}
            text, signature = content.get("text") or "", content.get("signature")
            redacted = content.get("redactedContent")
            if not (text or signature or redacted):
                return out
            if index not in self._parts:
                out.append(PartStart(self._open(index, "thinking"), "thinking"))
            out.append(ThinkingDelta(self._parts[index], text, signature, redacted))
        return out

    def finish(self) -> list[t.StreamEvent]:
        if self.stopped or self.failed:
            return []
        return [t.ErrorEvent(UpstreamConnectionError("Bedrock stream ended before messageStop"))]
