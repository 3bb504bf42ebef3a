"""OpenAI's media endpoints as the mock upstream (``mock_upstream.MockUpstream``) serves
them, refusing what OpenAI refuses:

- ``POST */images/generations`` (JSON: ``prompt`` required, ``n`` 1-10,
  ``response_format`` b64_json | url, not for gpt-image models, which always answer
  b64_json) and ``*/images/edits`` (multipart/form-data only: ``image`` or ``image[]``
  file parts required, at most one ``mask``, ``prompt`` required; dall-e-2 takes PNGs
  under 4 MB, the others images under 50 MB); gpt-image answers report token usage;
- ``POST */audio/transcriptions`` and ``*/translations`` (multipart: ``file`` with an
  audio extension, at most 25 MB, and ``model`` required, ``response_format`` json | text | srt |
  verbose_json | vtt, ``timestamp_granularities[]`` only with verbose_json,
  ``stream=true`` only for transcriptions and not on whisper-1, answered with
  ``transcript.text.delta`` events and a ``transcript.text.done`` carrying usage);
- ``POST */audio/speech`` (JSON: ``model``, ``input`` at most 4096 characters, ``voice``
  required; audio sent in several chunks a few milliseconds apart, or with
  ``stream_format: "sse"`` ``speech.audio.delta`` events and ``speech.audio.done``).

Multipart bodies are read with the standard library's email parser (not the gateway's
parser), so a body the gateway mangles is refused here.
"""

from __future__ import annotations

import base64
import json
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
AUDIO = bytes(range(256)) * 64  # 16 KiB of "audio"
MB = 1024 * 1024
AUDIO_EXTENSIONS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "wav", "webm")
TRANSCRIPT = "The quick brown fox jumps over the lazy dog."
MEDIA_PATHS = (
    "/images/generations",
    "/images/edits",
    "/audio/transcriptions",
    "/audio/translations",
    "/audio/speech",
)


class Refused(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param, self.status = param, status

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": str(self),
                "type": "invalid_request_error",
                "param": self.param,
                "code": None,
            }
        }


def handles(path: str) -> bool:
    return path.endswith(MEDIA_PATHS)


def form_parts(content_type: str, raw: bytes) -> list[tuple[str, str | None, str, bytes]]:
    """(name, filename, content type, value) of each part."""
    if not content_type.startswith("multipart/form-data"):
        raise Refused("Invalid Content-Type header, expected multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise Refused("could not parse multipart form")
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        parts.append((str(name), filename, part.get_content_type(), payload))
    return parts


def _fields(parts: list[tuple[str, str | None, str, bytes]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, filename, _kind, value in parts:
        if filename is None:
            out.setdefault(name, []).append(value.decode())
    return out


def _one(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _images_answer(model: str, n: int, response_format: str | None) -> dict[str, Any]:
    gpt_image = model.startswith("gpt-image")
    if gpt_image and response_format is not None:
        raise Refused("Unknown parameter: 'response_format'.", "response_format")
    data = []
    for _ in range(n):
        if response_format == "url":
            data.append({"url": "https://images.example/mock.png", "revised_prompt": "a cat"})
        else:
            data.append({"b64_json": base64.b64encode(PNG).decode()})
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if gpt_image:
        answer["usage"] = {
            "input_tokens": 50,
            "output_tokens": 272 * n,
            "total_tokens": 50 + 272 * n,
            "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
        }
        answer["output_format"] = "png"
    return answer


def _count(value: Any) -> int:
    n = 1 if value is None else int(value)
    if not 1 <= n <= 10:
        raise Refused(f"Invalid 'n': integer below minimum value or above maximum ({n}).", "n")
    return n


def generations(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Refused("We could not parse the JSON body of your request.")
    if not body.get("prompt"):
        raise Refused("Missing required parameter: 'prompt'.", "prompt")
    format_ = body.get("response_format")
    if format_ not in (None, "b64_json", "url"):
        raise Refused(f"Invalid value: '{format_}'.", "response_format")
    return _images_answer(str(body.get("model") or "dall-e-2"), _count(body.get("n")), format_)


def edits(content_type: str, raw: bytes) -> tuple[dict[str, Any], list]:
    parts = form_parts(content_type, raw)
    fields = _fields(parts)
    images = [p for p in parts if p[0] in ("image", "image[]") and p[1] is not None]
    if not images:
        raise Refused("Missing required parameter: 'image'.", "image")
    if any(not p[3] for p in images):
        raise Refused("Invalid file 'image': empty file.", "image")
    if len([p for p in parts if p[0] == "mask"]) > 1:
        raise Refused("Only one mask may be given.", "mask")
    if not _one(fields, "prompt"):
        raise Refused("Missing required parameter: 'prompt'.", "prompt")
    model = _one(fields, "model") or "dall-e-2"
    for _name, filename, _kind, value in images:
        if model == "dall-e-2" and (not value.startswith(PNG[:8]) or len(value) >= 4 * MB):
            raise Refused("Invalid input image - format must be a PNG under 4 MB.", "image")
        if len(value) >= 50 * MB:
            raise Refused(f"Image {filename} is larger than 50 MB.", "image")
    answer = _images_answer(model, _count(_one(fields, "n")), _one(fields, "response_format"))
    return answer, parts


def _transcription_fields(content_type: str, raw: bytes, translation: bool):  # type: ignore[no-untyped-def]
    parts = form_parts(content_type, raw)
    fields = _fields(parts)
    files = [p for p in parts if p[0] == "file" and p[1] is not None]
    if not files:
        raise Refused("Missing required parameter: 'file'.", "file")
    if len(files[0][3]) > 25 * MB:
        raise Refused("Maximum content size limit (26214400) exceeded.", "file", status=413)
    filename = files[0][1] or ""
    if filename.rsplit(".", 1)[-1].lower() not in AUDIO_EXTENSIONS:
        raise Refused(f"Invalid file format. Supported formats: {list(AUDIO_EXTENSIONS)}", "file")
    model = _one(fields, "model")
    if not model:
        raise Refused("Missing required parameter: 'model'.", "model")
    format_ = _one(fields, "response_format") or "json"
    if format_ not in ("json", "text", "srt", "verbose_json", "vtt"):
        raise Refused(f"Invalid value: '{format_}'.", "response_format")
    if "timestamp_granularities[]" in fields and format_ != "verbose_json":
        raise Refused("timestamp_granularities requires response_format verbose_json",
                      "timestamp_granularities")  # fmt: skip
    stream = (_one(fields, "stream") or "false") == "true"
    if stream and (translation or model == "whisper-1"):
        raise Refused("Streaming is not supported for this model.", "stream")
    return fields, model, format_, stream, len(files[0][3])


def transcription(content_type: str, raw: bytes, translation: bool):  # type: ignore[no-untyped-def]
    """(content type, body) or, streamed, (content type, list of SSE events)."""
    fields, model, format_, stream, size = _transcription_fields(content_type, raw, translation)
    text = TRANSCRIPT if not translation else "Translated: " + TRANSCRIPT
    seconds = round(size / 16000, 3) or 1.0
    if "whisper" in model:  # whisper-1 and Whisper servers report seconds, not tokens
        usage: dict[str, Any] = {"type": "duration", "seconds": seconds}
    else:
        usage = {"type": "tokens", "input_tokens": 120, "output_tokens": 11, "total_tokens": 131}
    if stream:
        events = [
            {"type": "transcript.text.delta", "delta": word + " ", "logprobs": []}
            for word in text.split()
        ]
        events.append({"type": "transcript.text.done", "text": text, "usage": usage})
        return "text/event-stream", [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    if format_ == "text":
        return "text/plain; charset=utf-8", (text + "\n").encode()
    if format_ == "srt":
        return "text/plain; charset=utf-8", f"1\n00:00:00,000 --> 00:00:02,000\n{text}\n\n".encode()
    if format_ == "vtt":
        body = f"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n{text}\n\n"
        return "text/plain; charset=utf-8", body.encode()
    if format_ == "verbose_json":
        answer: dict[str, Any] = {
            "task": "translate" if translation else "transcribe",
            "language": "english",
            "duration": seconds,
            "text": text,
            "segments": [{"id": 0, "start": 0.0, "end": seconds, "text": text}],
        }
        if "word" in ",".join(fields.get("timestamp_granularities[]", [])):
            answer["words"] = [
                {"word": w, "start": i * 0.1, "end": i * 0.1 + 0.1}
                for i, w in enumerate(text.split())
            ]
        answer["usage"] = usage
        return "application/json", json.dumps(answer).encode()
    return "application/json", json.dumps({"text": text, "usage": usage}).encode()


def speech(body: Any) -> tuple[str, list[bytes]]:
    if not isinstance(body, dict):
        raise Refused("We could not parse the JSON body of your request.")
    for name in ("model", "input", "voice"):
        if not body.get(name):
            raise Refused(f"Missing required parameter: '{name}'.", name)
    if len(body["input"]) > 4096:
        raise Refused("Input is longer than 4096 characters.", "input")
    format_ = body.get("response_format", "mp3")
    kinds = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac",
             "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"}  # fmt: skip
    if format_ not in kinds:
        raise Refused(f"Invalid value: '{format_}'.", "response_format")
    pieces = [AUDIO[i : i + 4096] for i in range(0, len(AUDIO), 4096)]
    if body.get("stream_format") == "sse":
        events = [
            {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
            for piece in pieces
        ]
        usage = {"input_tokens": 14, "output_tokens": 101, "total_tokens": 115}
        events.append({"type": "speech.audio.done", "usage": usage})
        return "text/event-stream", [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    return kinds[format_], pieces
