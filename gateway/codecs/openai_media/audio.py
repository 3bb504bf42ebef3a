"""OpenAI's Audio API: transcriptions and translations (multipart: ``file``,
``model``, ``prompt``, ``response_format``, ``temperature``, ``language``,
``timestamp_granularities[]``, ``stream`` for transcriptions) and speech (JSON:
``model``, ``input``, ``voice``, ``response_format``, ``speed``, ``instructions``,
``stream_format``). What a request must hold, as OpenAI refuses it, and what an answer
says it used (seconds of audio, tokens) for pricing."""

from __future__ import annotations

import io
from typing import Any

import mutagen
import orjson

from gateway.base.errors import InvalidRequest

# OpenAI's limit on an uploaded audio file (25 MB).
MAX_AUDIO_BYTES = 25 * 1024 * 1024
TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")
TRANSLATION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
AUDIO_EXTENSIONS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "wav", "webm")
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SPEECH_MEDIA = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
MAX_SPEECH_CHARS = 4096
GRANULARITIES = ("word", "segment")


def _float(value: str | None, name: str, low: float, high: float) -> None:
    if value is None:
        return
    try:
        number = float(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a number", param=name) from None
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}", param=name)


def check_transcription(
    fields: dict[str, str], files: list[tuple[str, int]], translation: bool
) -> bool:
    """Refuse what OpenAI refuses in a transcription (or translation) form; whether a
    stream is asked. ``files``: (filename, size) of the ``file`` parts."""
    if not files:
        raise InvalidRequest(
            "file is required: the audio as a file part named 'file'", param="file"
        )
    if len(files) > 1:
        raise InvalidRequest("exactly one file part 'file'", param="file")
    filename, size = files[0]
    if size > MAX_AUDIO_BYTES:
        raise InvalidRequest(
            f"the audio file is larger than {MAX_AUDIO_BYTES // (1024 * 1024)} MB", param="file"
        )
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in AUDIO_EXTENSIONS:
        raise InvalidRequest(
            f"Invalid file format. Supported formats: {AUDIO_EXTENSIONS}", param="file"
        )
    if not fields.get("model"):
        raise InvalidRequest("model is required", param="model")
    allowed = TRANSLATION_FORMATS if translation else TRANSCRIPT_FORMATS
    response_format = fields.get("response_format")
    if response_format is not None and response_format not in allowed:
        raise InvalidRequest(f"response_format must be one of {', '.join(allowed)}",
                             param="response_format")  # fmt: skip
    _float(fields.get("temperature"), "temperature", 0, 1)
    granularities = fields.get("timestamp_granularities[]")
    if granularities is not None:
        if translation:
            raise InvalidRequest("translations take no timestamp_granularities",
                                 param="timestamp_granularities")  # fmt: skip
        if any(g not in GRANULARITIES for g in granularities.split(",")):
            raise InvalidRequest("timestamp_granularities: word and/or segment",
                                 param="timestamp_granularities")  # fmt: skip
        if response_format != "verbose_json":
            raise InvalidRequest("timestamp_granularities needs response_format verbose_json",
                                 param="timestamp_granularities")  # fmt: skip
    stream = (fields.get("stream") or "false").lower()
    if stream not in ("true", "false"):
        raise InvalidRequest("stream must be true or false", param="stream")
    if stream == "true" and translation:
        raise InvalidRequest("translations cannot be streamed", param="stream")
    return stream == "true"


def check_speech(body: dict[str, Any]) -> str:
    """Refuse what OpenAI refuses in a speech body; the audio's media type."""
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise InvalidRequest("input is required and must be a non-empty string", param="input")
    if len(text) > MAX_SPEECH_CHARS:
        raise InvalidRequest(f"input is longer than {MAX_SPEECH_CHARS} characters", param="input")
    voice = body.get("voice")
    if not (isinstance(voice, str) and voice) and not (
        isinstance(voice, dict) and isinstance(voice.get("id"), str)
    ):
        raise InvalidRequest('voice is required (a voice name or {"id": ...})', param="voice")
    response_format = body.get("response_format", "mp3")
    if response_format not in SPEECH_FORMATS:
        raise InvalidRequest(f"response_format must be one of {', '.join(SPEECH_FORMATS)}",
                             param="response_format")  # fmt: skip
    speed = body.get("speed")
    if speed is not None and (
        not isinstance(speed, int | float) or isinstance(speed, bool) or not 0.25 <= speed <= 4
    ):
        raise InvalidRequest("speed must be a number from 0.25 to 4.0", param="speed")
    stream_format = body.get("stream_format")
    if stream_format is not None and stream_format not in ("sse", "audio"):
        raise InvalidRequest("stream_format must be sse or audio", param="stream_format")
    if stream_format == "sse":
        return "text/event-stream"
    return SPEECH_MEDIA[str(response_format)]


# What an upload whose headers say nothing is taken to be: 128 kbit/s (16,000 bytes a
# second), a common bitrate for compressed speech; the journal says it is an estimate.
ESTIMATE_BYTES_PER_SECOND = 16_000
FROM_UPSTREAM, FROM_HEADERS, ESTIMATED = "upstream", "file headers", "estimated from size"


def file_seconds(data: bytes | memoryview) -> tuple[float, str]:
    """The length of an uploaded audio file in seconds and where it comes from: its
    headers, read by ``mutagen`` without decoding (WAV, MP3, M4A/MP4, Ogg Vorbis/Opus,
    FLAC, ...), or, when the format is unknown or the headers are broken, an estimate
    from its size (``ESTIMATE_BYTES_PER_SECOND``). Parses a whole upload at worst (an
    MP3 without a VBR header is scanned): call it off the event loop."""
    try:
        found = mutagen.File(io.BytesIO(data))
        length = getattr(getattr(found, "info", None), "length", None)
    except Exception:  # a malformed upload: mutagen raises many kinds; it still is priced
        length = None
    if isinstance(length, int | float) and length > 0:
        return float(length), FROM_HEADERS
    return len(data) / ESTIMATE_BYTES_PER_SECOND, ESTIMATED


class Used:
    """What an audio answer says it used: seconds of audio, tokens in and out."""

    __slots__ = ("seconds", "input_tokens", "output_tokens")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.input_tokens = 0
        self.output_tokens = 0

    def read(self, data: Any) -> None:
        """From a JSON answer, a ``transcript.text.done`` or ``speech.audio.done`` event."""
        if not isinstance(data, dict):
            return
        duration = data.get("duration")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            self.seconds = float(duration)
        usage = data.get("usage")
        if not isinstance(usage, dict):
            return
        if usage.get("type") == "duration" and isinstance(usage.get("seconds"), int | float):
            self.seconds = float(usage["seconds"])
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        if isinstance(tokens_in, int):
            self.input_tokens = tokens_in
        if isinstance(tokens_out, int):
            self.output_tokens = tokens_out

    def read_body(self, body: bytes) -> None:
        """From an answer's bytes when they are JSON (``text``, ``srt`` and ``vtt``
        answers say nothing of what they used)."""
        if body[:1] != b"{":
            return
        try:
            self.read(orjson.loads(body))
        except orjson.JSONDecodeError:
            return

    def read_event(self, data: bytes) -> None:
        """From one SSE ``data:`` payload (only the final events carry usage)."""
        if b'"usage"' in data:
            try:
                self.read(orjson.loads(data))
            except orjson.JSONDecodeError:
                return
