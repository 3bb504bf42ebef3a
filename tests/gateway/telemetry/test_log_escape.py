"""A logged path or header cannot forge log lines (gateway.telemetry.log_escape)."""

from __future__ import annotations

import io
import logging

from gateway.telemetry.log_escape import EscapingLogRecord, escape_controls, install


def test_control_characters_are_escaped() -> None:
    assert escape_controls("/ws/x\nFAKE 200 admin\r\x1b[31m\u2028") == (
        "/ws/x\\nFAKE 200 admin\\r\\x1b[31m\\u2028"
    )
    assert escape_controls("/plain/path?q=1 ü") == "/plain/path?q=1 ü"


def test_every_logger_writes_one_line_per_record_and_keeps_tracebacks() -> None:
    install()
    assert logging.getLogRecordFactory() is EscapingLogRecord
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("test.log_escape")
    logger.addHandler(handler)
    try:
        logger.warning("refused a WebSocket to %s", "/ws/a\n2026-01-01 INFO forged line")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed at %s", "/x\ny")
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0] == "refused a WebSocket to /ws/a\\n2026-01-01 INFO forged line"
    assert lines[1] == "failed at /x\\ny"
    assert lines[2].startswith("Traceback")  # the traceback keeps its own lines
