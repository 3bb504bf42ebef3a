"""What each endpoint kind the gateway serves carries, declared once (``ENDPOINTS``).

A request's ``Call.endpoint`` (or a job's ``declared_as``: a Gemini client's image
output) names one of these. The guardrail plane reads a request's texts and decides
whether its guardrails can apply from the declaration alone, never from a list of its
own: an endpoint whose inputs or outputs a guardrail cannot read refuses a request a
guardrail of that mode applies to (400 naming the guardrail), and a new endpoint is
covered the day it is declared (``tests/gateway/guardrails/test_endpoint_matrix.py``
fails for a served endpoint missing here, and for a declared one it does not cover).

Why here, in ``base``: the declaration is read by the pipeline (``core``), by features
(``guardrails``, ``media``) and by the edge (the served paths), and imports nothing; the
floor is the one layer all of them may import without a feature importing another.

- ``inputs``: where the texts a pre_call / during_call guardrail reads are. ``REQUEST``:
  the job's parsed chat request (``Job.guard_request``: messages, system, tools); a
  tuple of ``Field``: strings of the job's body (``Job.guarded_body``); ``None``: the
  endpoint carries nothing a guardrail can read (a pre_call one applying is refused).
- ``outputs``: ``TEXT`` (a post_call guardrail reads the answer), ``NOTHING`` (no text
  comes back: vectors, scores, a count; post_call has nothing to check),
  ``UNREADABLE`` (audio, images: a post_call guardrail applying is refused).
- ``why``: what a refusal says about the endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Output = Literal["text", "nothing", "unreadable"]
TEXT: Output = "text"
NOTHING: Output = "nothing"
UNREADABLE: Output = "unreadable"


@dataclass(frozen=True, slots=True)
class Field:
    """A body field a guardrail reads: a string, or a list of strings; ``key``: a list
    item may also be an object whose ``key`` is the string (rerank's ``{"text": ...}``
    documents)."""

    name: str
    key: str = ""


Request = Literal["request"]
REQUEST: Request = "request"  # the parsed chat request's texts


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    inputs: tuple[Field, ...] | Request | None
    outputs: Output
    why: str = ""  # said in a refusal: what the endpoint carries that a guardrail cannot read
    socket: bool = False  # a WebSocket (Realtime): its own guard, event by event


def _declare(*endpoints: Endpoint) -> dict[str, Endpoint]:
    return {e.name: e for e in endpoints}


ENDPOINTS: dict[str, Endpoint] = _declare(
    # every client dialect's chat (OpenAI, Responses over HTTP and WebSocket, Anthropic,
    # Gemini, Interactions) and batch lines
    Endpoint("chat", REQUEST, TEXT),
    Endpoint("compact", REQUEST, TEXT),  # /v1/responses/compact: the input items
    Endpoint("count_tokens", REQUEST, NOTHING),  # the prompt goes to a counting endpoint
    # a Responses WebSocket turn stored without generating: nothing goes upstream (the
    # turn that sends it is checked); its texts are read all the same
    Endpoint("prepare", REQUEST, NOTHING),
    Endpoint("completions", (Field("prompt"),), TEXT),
    Endpoint("embeddings", (Field("input"),), NOTHING),
    Endpoint("rerank", (Field("query"), Field("documents", key="text")), NOTHING),
    Endpoint("image_generation", (Field("prompt"),), UNREADABLE, "its answer is images"),
    Endpoint("image_edit", (Field("prompt"),), UNREADABLE, "its answer is images"),
    Endpoint("gemini_images", (Field("prompt"),), UNREADABLE, "its answer is images"),
    Endpoint("gemini_native_images", REQUEST, UNREADABLE, "its answer is images"),
    Endpoint(
        "transcription",
        (Field("prompt"),),
        UNREADABLE,
        "its answer is a transcript post_call guardrails do not read",
    ),
    Endpoint(
        "translation",
        (Field("prompt"),),
        UNREADABLE,
        "its answer is a transcript post_call guardrails do not read",
    ),
    Endpoint("speech", (Field("input"),), UNREADABLE, "its answer is audio"),
    # /v1/realtime: text events both ways are checked, audio is refused
    # (gateway.guardrails.realtime)
    Endpoint("realtime", REQUEST, TEXT, "audio", socket=True),
)


def declared(name: str) -> Endpoint | None:
    return ENDPOINTS.get(name)
