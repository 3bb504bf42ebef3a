"""One log record, one line: control characters in a logged message are escaped.

Paths and headers reach log messages decoded (``%0A`` in a WebSocket path became a real
line break in "refused a WebSocket to ..."), so an unauthenticated request could write
lines of its choosing into the server log. ``install`` replaces the log record factory
of the process: every record's message, whoever logs it (the gateway, Django, channels,
uvicorn), has its control characters written as escapes (``\\n``, ``\\x1b``, ``\\u2028``).
A traceback is added by the formatter after the message and keeps its lines.
"""

from __future__ import annotations

import logging

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_controls(text: str) -> str:
    """``text`` with control characters and line separators escaped."""
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


class EscapingLogRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return escape_controls(super().getMessage())


def install() -> None:
    """Make every log record of this process escape its message (idempotent)."""
    if logging.getLogRecordFactory() is logging.LogRecord:
        logging.setLogRecordFactory(EscapingLogRecord)
