"""Replaying a logged request that carried documents: a PDF is named in the prompt
(the playground sends text), a text document keeps its text, in every client dialect."""

from __future__ import annotations

import orjson

from console.playground.replay import prefill_from_log

PDF_URL = "data:application/pdf;base64,JVBERi0xLjQ="


def replay(dialect: str, body: dict) -> dict:
    return prefill_from_log("smart", dialect, "req-1", orjson.dumps(body).decode())


def test_documents_replay_as_their_name_or_their_text() -> None:
    anthropic = replay(
        "anthropic",
        {
            "model": "smart",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "title": "q3.pdf",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBERi0xLjQ=",
                            },
                        },
                        {"type": "document", "source": {"type": "text", "data": "Notes."}},
                        {"type": "text", "text": "Compare."},
                    ],
                }
            ],
        },
    )
    assert "replay_error" not in anthropic
    assert anthropic["messages"] == [
        {"role": "user", "content": "[document q3.pdf]\nNotes.\nCompare."}
    ]
    chat = replay(
        "openai",
        {
            "model": "smart",
            "messages": [
                {"role": "user", "content": [{"type": "file", "file": {"file_data": PDF_URL}}]}
            ],
        },
    )
    assert chat["messages"] == [{"role": "user", "content": "[document application/pdf]"}]
    responses = replay(
        "responses",
        {
            "model": "smart",
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_file", "filename": "a.pdf", "file_data": PDF_URL}],
                }
            ],
        },
    )
    assert responses["messages"] == [{"role": "user", "content": "[document a.pdf]"}]
