"""What each endpoint kind the gateway serves carries, declared once (``ENDPOINTS``).

A request's ``Call.endpoint`` (or a job's ``declared_as``: a Gemini client's image
output) names one of these. The guardrail plane reads a request's texts and decides
whether its guardrails can apply from the declaration alone, never from a list of its
own: an endpoint whose inputs or outputs a guardrail cannot read refuses a request a
guardrail of that mode applies to (400 naming the guardrail), and a new endpoint is
covered the day it is declared (``tests/gateway/features/guardrails/test_endpoint_matrix.py``
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
- ``why``: what a refusal says about the endpoint.

Every other policy of the request path reads the same declaration
(``gateway.core.service._serve``; ``docs/security.md``, "Every endpoint, every policy"):

- ``costs``: how an answer is priced (``TOKENS`` at the deployment's prices, and
  ``PER_IMAGE``, ``PER_SECOND`` of audio, ``PER_CHARACTER``, ``PER_SEARCH_UNIT`` where the
  model is priced so); empty: it costs nothing, so it holds no budget (it is still
  admitted: route, rpm, a spent budget). An endpoint that ``generates_text`` (tokens
  priced, a text answer) of a priced model with no known ceiling is refused for a
  budgeted key (``max_tokens_required``) rather than held at a guess.
- ``routed``: the request names a route (its ``model``): the key's route list and the
  route's teams (``route.call``), the key's, team's and owner's rpm, tpm and budget
  (``limits.admit``), the journal row naming key and route. Every endpoint declared
  today is routed; a new unrouted one must say what it is admitted against.
- ``owns``: the objects a request stores that only its key reads back (a stored
  response, an interaction, a conversation's items, an image file link): the IDOR
  surface (``tests/gateway/core/test_policy_matrix.py``).

The endpoints that generate nothing themselves (``RESOURCES``: model listings, what a
request stored read back, conversations, files and batches, signed file links, ``/mcp``)
are declared too, each with what admits it (``admission``), what it stores and whose it
is (``owns``: only the key that made one reads, changes or deletes it; another key gets
the 404 an unknown id gets) and how guardrails reach it (``guardrails``), said in words
even when none can (``why``): never left out. ``tests/gateway/features/guardrails/
test_endpoint_matrix.py`` and ``tests/gateway/core/test_policy_matrix.py`` derive what
the gateway serves from its route table, its sockets and the whole URL conf, and fail
for a ``/v1``, ``/v1beta``, ``/anthropic``, ``/openai``, ``/mcp`` or ``/a2a`` path that no
declaration names."""

from __future__ import annotations

from dataclasses import dataclass, field
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


Cost = Literal["tokens", "per_image", "per_second", "per_character", "per_search_unit"]
TOKENS: Cost = "tokens"
PER_IMAGE: Cost = "per_image"
PER_SECOND: Cost = "per_second"
PER_CHARACTER: Cost = "per_character"
PER_SEARCH_UNIT: Cost = "per_search_unit"
FREE: tuple[Cost, ...] = ()  # costs nothing: never holds a budget

Request = Literal["request"]
REQUEST: Request = "request"  # the parsed chat request's texts


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    inputs: tuple[Field, ...] | Request | None
    outputs: Output
    why: str = ""  # said in a refusal: what the endpoint carries that a guardrail cannot read
    socket: bool = False  # a WebSocket (Realtime): its own guard, event by event
    costs: tuple[Cost, ...] = (TOKENS,)  # how an answer is priced; FREE: never billed
    routed: bool = True  # names a route: route.call, team bound, rpm/tpm/budget, journal
    owns: tuple[str, ...] = ()  # what it stores that only its key reads back (IDOR)
    # derived once (read on every request): whether a request may cost money, so holds
    # part of a budget while it runs; whether its cost is output tokens of a text answer
    # (a hold then needs a known ceiling)
    billable: bool = field(init=False)
    generates_text: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "billable", bool(self.costs))
        object.__setattr__(self, "generates_text", self.outputs == TEXT and TOKENS in self.costs)


IMAGES = "its answer is images"
TRANSCRIPT = "its answer is a transcript post_call guardrails do not read"
PASSED = "the vendor's own bytes, relayed as they come"


def _declare(*endpoints: Endpoint) -> dict[str, Endpoint]:
    return {e.name: e for e in endpoints}


ENDPOINTS: dict[str, Endpoint] = _declare(
    # every client dialect's chat (OpenAI, Responses over HTTP and WebSocket, Anthropic,
    # Gemini, Interactions) and batch lines
    Endpoint("chat", REQUEST, TEXT, owns=("response", "interaction", "conversation")),
    Endpoint("compact", REQUEST, TEXT),  # /v1/responses/compact: the input items
    # the prompt goes to a counting endpoint (free: no budget held, still admitted)
    Endpoint("count_tokens", REQUEST, NOTHING, costs=FREE),
    # the Responses API's count (/v1/responses/input_tokens): its input items, likewise
    Endpoint("input_tokens", REQUEST, NOTHING, costs=FREE),
    # a Responses WebSocket turn stored without generating: nothing goes upstream (the
    # turn that sends it is checked); its texts are read all the same
    Endpoint("prepare", REQUEST, NOTHING, costs=FREE, owns=("response",)),
    Endpoint("completions", (Field("prompt"),), TEXT),
    Endpoint("embeddings", (Field("input"),), NOTHING),
    Endpoint(
        "rerank",
        (Field("query"), Field("documents", key="text")),
        NOTHING,
        costs=(PER_SEARCH_UNIT, TOKENS),
    ),
    # an image made or edited; response_format "url": a signed link to the key's file
    *(
        Endpoint(
            name,
            (Field("prompt"),),
            UNREADABLE,
            IMAGES,
            costs=(TOKENS, PER_IMAGE),
            owns=("image_file",),
        )
        for name in ("image_generation", "image_edit")
    ),
    Endpoint("gemini_images", (Field("prompt"),), UNREADABLE, IMAGES, costs=(TOKENS, PER_IMAGE)),
    Endpoint("gemini_native_images", REQUEST, UNREADABLE, IMAGES),
    Endpoint(
        "transcription",
        (Field("prompt"),),
        UNREADABLE,
        TRANSCRIPT,
        costs=(TOKENS, PER_SECOND),
    ),
    Endpoint("translation", (Field("prompt"),), UNREADABLE, TRANSCRIPT, costs=(TOKENS, PER_SECOND)),
    Endpoint(
        "speech",
        (Field("input"),),
        UNREADABLE,
        "its answer is audio",
        costs=(TOKENS, PER_CHARACTER),
    ),
    # /v1/realtime: text events both ways are checked, audio is refused
    # (gateway.features.guardrails.realtime)
    Endpoint("realtime", REQUEST, TEXT, "audio", socket=True),
    # /v1/realtime/client_secrets (and the beta transcription_sessions, translations'):
    # a session's settings, relayed for a secret the gateway seals (gateway.core.
    # realtime_secrets); free: the session it opens is priced when it runs, guarded there
    Endpoint(
        "realtime_client_secret",
        None,
        NOTHING,
        "a Realtime session's settings (the session is checked as it runs)",
        costs=FREE,
    ),
    # the Gemini Live API's socket (gateway.features.gemini_live): text both ways is
    # checked, audio, images and video refused (gateway.features.guardrails.live)
    Endpoint("gemini_live", REQUEST, TEXT, "audio, images or video", socket=True),
    # /{vendor}/... (gateway.features.passthrough): a vendor API's own request, its body
    # sent as it came and its answer relayed as it comes. Routed on the first route the
    # key may call with a deployment on the provider reached; priced by the usage the
    # answer reports. A body of a known shape (chat in its vendor's format, the strings
    # of an embeddings or moderation body, none) is read as a chat request; any other
    # is declared apart, and a pre_call guardrail applying refuses it.
    Endpoint("passthrough", REQUEST, UNREADABLE, PASSED),
    Endpoint(
        "passthrough_opaque", None, UNREADABLE, f"a vendor body of no shape it reads; {PASSED}"
    ),
)


def declared(name: str) -> Endpoint | None:
    return ENDPOINTS.get(name)


# --- the endpoints that generate nothing: what admits them, what they own ----------------

Admission = Literal["key", "key_rate", "mcp_grant", "a2a_grant", "signed_link"]
KEY: Admission = "key"  # a usable key (401 in the caller's format), its own objects only
KEY_RATE: Admission = "key_rate"  # ...and the key's rate limit (a new batch: its budget too)
MCP_GRANT: Admission = "mcp_grant"  # a key or MCP OAuth token; servers and tools it is granted
# a key granted the agent (a2a_allowed within its team's), its rate limit and budget
A2A_GRANT: Admission = "a2a_grant"
SIGNED_LINK: Admission = "signed_link"  # no key: the signed link is the credential, its key's

Guarding = Literal["pre_mcp_call", "message_parts", "when_used", "no_text"]
PRE_MCP_CALL: Guarding = "pre_mcp_call"  # each tool call's arguments and result
# the text parts of each agent message (pre_call) and of its answers and events (post_call)
MESSAGE_PARTS: Guarding = "message_parts"
WHEN_USED: Guarding = "when_used"  # stored texts, read when a request sends them upstream
NO_TEXT: Guarding = "no_text"  # carries no text a guardrail reads (said why, not omitted)


@dataclass(frozen=True, slots=True)
class Resource:
    """An endpoint that generates nothing itself, declared as every endpoint is: what
    admits a request (``admission``), the objects it stores and that only their key
    reads back (``owns``), and how guardrails reach it (``guardrails``) with ``why`` in
    words: an endpoint no guardrail reads says so here, it is never left out."""

    name: str
    admission: Admission
    guardrails: Guarding
    why: str
    owns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.why:
            raise ValueError(f"{self.name}: say how guardrails reach it, or why none can")


def _declare_resources(*resources: Resource) -> dict[str, Resource]:
    return {r.name: r for r in resources}


RESOURCES: dict[str, Resource] = _declare_resources(
    # GET /v1/models[/{id}] (also /anthropic/, /openai/), /v1beta/models[/{model}]
    Resource("models", KEY, NO_TEXT, "a listing of the routes the key may call (route.call)"),
    # GET /v1/responses/{id}[/input_items], DELETE it, POST .../{id}/cancel
    Resource(
        "stored_responses",
        KEY,
        NO_TEXT,
        "reads back, deletes or cancels what a chat stored: its guardrails read it then",
        owns=("response",),
    ),
    # GET /v1beta/interactions/{id} (and /v1/), DELETE it, POST .../{id}/cancel
    Resource(
        "stored_interactions",
        KEY,
        NO_TEXT,
        "reads back, deletes or cancels what a chat stored: its guardrails read it then",
        owns=("interaction",),
    ),
    # /v1/conversations[/{id}[/items[/{item_id}]]]: GET, POST, DELETE
    Resource(
        "conversations",
        KEY,
        WHEN_USED,
        "items are stored, not sent upstream: a Responses request that names the "
        "conversation carries them as its input, where its guardrails read them",
        owns=("conversation",),
    ),
    # /v1/files[/{id}[/content]] (also /openai/, /anthropic/)
    Resource(
        "files",
        KEY_RATE,
        NO_TEXT,
        "a file is stored, never sent upstream as it is: a batch's lines are guarded "
        "each as a chat request when the batch runs",
        owns=("file",),
    ),
    # /v1/batches[/{id}[/cancel]], /v1/messages/batches[/{id}[/results|/cancel]]
    Resource(
        "batches",
        KEY_RATE,
        NO_TEXT,
        "a batch names a file: each of its lines is a chat request, guarded as one when "
        "it runs (a guardrail applying keeps a batch off an upstream's native batch API)",
        owns=("batch",),
    ),
    # GET /v1/images/files/{id}?key=&expires=&signature=
    Resource(
        "file_link",
        SIGNED_LINK,
        NO_TEXT,
        "an image an answer linked to: the request that made it was guarded",
        owns=("image_file",),
    ),
    # /mcp and /mcp/{server}: the gateway's MCP server
    Resource(
        "mcp",
        MCP_GRANT,
        PRE_MCP_CALL,
        "each tool call's arguments go to the pre_mcp_call guardrails before the call, "
        "its result after it",
        owns=("mcp_session",),
    ),
    # /a2a/{agent}: a remote A2A agent served by the gateway (gateway.features.a2a)
    Resource(
        "a2a",
        A2A_GRANT,
        MESSAGE_PARTS,
        "each message's text parts go to the pre_call guardrails before it is relayed, "
        "each answer's and streamed event's to the post_call ones",
        owns=("a2a_task",),
    ),
)


def every_name() -> set[str]:
    """The name of every declaration, generating or not."""
    return set(ENDPOINTS) | set(RESOURCES)
