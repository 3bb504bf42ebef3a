"""Canonical request, response and stream-event types: the spine every dialect maps to.

No Django imports here: codecs (``gateway.codecs``, both directions of each wire format)
translate to and from these types and nothing else, so any inbound dialect can reach
any upstream. Tool-call arguments are kept as parsed JSON (a dict); a provider that
receives arguments it cannot parse keeps the raw text under ``ToolCall.raw_arguments``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]

# Canonical finish reasons; dialects map to and from these.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "stop_sequence", "error"]


# --- message parts ---------------------------------------------------------------------

# A prompt-cache breakpoint on a part, tool or system block: the upstream may cache the
# prompt up to and including it, for this long ("5m" or "1h", Anthropic's
# ``cache_control.ttl``; Bedrock's ``cachePoint.ttl``). None: no breakpoint there.
CacheTTL = Literal["5m", "1h"]


# Where an assistant's text stands in its turn (OpenAI Responses' ``phase`` on output
# message items): ``commentary`` said on the way (before tool calls), ``final_answer``.
Phase = Literal["commentary", "final_answer"]


@dataclass(slots=True)
class Text:
    text: str
    kind: Literal["text"] = "text"
    cache: CacheTTL | None = None  # a prompt-cache breakpoint after this part
    phase: Phase | None = None  # an assistant's text only; None: not said


@dataclass(slots=True)
class Image:
    """An image given by URL or by base64 data with its media type."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    kind: Literal["image"] = "image"
    cache: CacheTTL | None = None  # a prompt-cache breakpoint after this part


@dataclass(slots=True)
class Document:
    """A file the model reads (a PDF, a text file...): base64 ``data`` with its media
    type, a ``url``, or ``text`` (text documents are decoded to text when parsed).
    ``filename`` is the name the caller gave (Anthropic's ``title``); hints such as
    ``cache_control`` or ``citations`` are not carried."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    text: str | None = None
    filename: str | None = None
    kind: Literal["document"] = "document"
    cache: CacheTTL | None = None  # a prompt-cache breakpoint after this part

    def content_type(self) -> str:
        """The content type as a caller would name it (``application/pdf``,
        ``application/pdf by URL``)."""
        if self.text is not None:
            return self.media_type or "text/plain"
        if self.url is not None:
            return f"{self.media_type or 'document'} by URL"
        return self.media_type or "application/pdf"

    def name(self) -> str:
        """The caller's file name, or one made from the media type (``document.pdf``)."""
        if self.filename:
            return self.filename
        subtype = (self.media_type or "application/pdf").split("/")[-1]
        return f"document.{subtype.split('+')[0].split('.')[-1] or 'pdf'}"


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    kind: Literal["tool_call"] = "tool_call"
    cache: CacheTTL | None = None  # a prompt-cache breakpoint after this part


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Image | Document] = field(default_factory=list)
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"
    cache: CacheTTL | None = None  # a prompt-cache breakpoint after this part


# Marks a Thinking signature (or redacted data) that carries OpenAI's encrypted reasoning
# (the Responses codec packs it so); any other signature is Claude's.
OPENAI_REASONING_PREFIX = "openai-reasoning:"
# OpenAI's encrypted_content as a client got it from OpenAI itself, unpacked: a Fernet
# token (version byte 0x80, then a 64-bit timestamp whose high bytes are zero).
FERNET_PREFIX = "gAAAAA"


@dataclass(slots=True)
class Thinking:
    """Model reasoning. ``signature`` round-trips Anthropic's signed thinking;
    ``redacted`` carries Anthropic's encrypted ``redacted_thinking`` data."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    kind: Literal["thinking"] = "thinking"

    def openai_encrypted(self) -> bool:
        """Whether this carries OpenAI's encrypted reasoning (only OpenAI reads it)."""
        return any(
            v and v.startswith((OPENAI_REASONING_PREFIX, FERNET_PREFIX))
            for v in (self.signature, self.redacted)
        )

    def claude_signed(self) -> bool:
        """Signed or redacted thinking a Claude upstream can verify (Anthropic's API,
        Bedrock and Vertex accept each other's signatures; OpenAI's are not theirs).
        On a fallback to another family, the rest is dropped, never sent to fail."""
        return bool(self.signature or self.redacted) and not self.openai_encrypted()

    def family(self) -> str | None:
        """Whose verifier this reasoning needs: ``"openai"`` (encrypted reasoning items),
        ``"claude"`` (signed or redacted thinking), None (plain text, anyone's)."""
        if self.openai_encrypted():
            return "openai"
        return "claude" if self.signature or self.redacted else None


Part = Text | Image | Document | ToolCall | ToolResult | Thinking


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)
    name: str | None = None

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, Text))


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    # Schema enforcement of the call's arguments (OpenAI ``function.strict``, Anthropic
    # ``strict``); None: the caller did not say, the upstream's default applies.
    strict: bool | None = None
    cache: CacheTTL | None = None  # a prompt-cache breakpoint after this tool


ToolChoiceMode = Literal["auto", "required", "tool", "none"]


@dataclass(slots=True)
class ToolChoice:
    """``auto`` (model decides), ``required`` (must call some tool; Anthropic ``any``),
    ``tool`` (must call ``name``), ``none`` (must not call tools)."""

    mode: ToolChoiceMode = "auto"
    name: str | None = None
    parallel: bool | None = None  # False: at most one tool call per turn


@dataclass(slots=True)
class Reasoning:
    """Either an effort bucket (OpenAI ``reasoning_effort``) or a token budget
    (Anthropic ``thinking.budget_tokens``); translators derive one from the other."""

    effort: Literal["minimal", "low", "medium", "high"] | None = None
    budget_tokens: int | None = None


@dataclass(slots=True)
class ResponseFormat:
    """``text``, ``json_object`` (any JSON) or ``json_schema`` (``schema`` given)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


# --- hosted MCP tools (gateway/features/mcp/hosted) -----------------------------------------------

McpApprovalMode = Literal["always", "never"]


def mcp_tool_name(server: str, tool: str) -> str:
    """The function name a hosted MCP tool is offered to the model under (and the name
    its calls carry in the conversation): ``server__tool``, stable across turns."""
    return f"{server}__{tool}"


# --- server tools (gateway/features/server_tools) -----------------------------------------

ServerToolKind = Literal["web_search", "web_fetch", "code_execution"]


@dataclass(slots=True)
class ServerTool:
    """A tool the vendor runs on its side that the caller asked for: Anthropic's
    ``web_search_*``, ``web_fetch_*`` and ``code_execution_*`` (and their kin), the
    Responses API's ``web_search``. ``type`` is the caller's own (``web_search_20250305``);
    ``name`` the name its calls go by. An upstream that runs it gets the body as sent; on
    any other the gateway runs web search and fetch itself (``max_uses`` per request,
    domains allowed or blocked) and refuses the rest."""

    kind: ServerToolKind
    type: str
    name: str
    max_uses: int | None = None
    allowed_domains: list[str] = field(default_factory=list)
    blocked_domains: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SearchResult:
    url: str
    title: str = ""
    snippet: str = ""  # what the model reads of it
    page_age: str | None = None


@dataclass(slots=True)
class ServerToolItem:
    """One server tool call the gateway ran: a search (``query``, its ``results``) or a
    fetch (``url``, the page's ``text`` and ``title``, when it was ``retrieved_at``).
    ``error``: the vendor's error code for a call that failed (``max_uses_exceeded``,
    ``url_not_accessible`` ...); ``detail`` says why, for the model and the journal."""

    kind: Literal["web_search", "web_fetch"]
    id: str
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    results: list[SearchResult] = field(default_factory=list)
    url: str = ""
    title: str | None = None
    text: str = ""
    media_type: str = "text/plain"
    retrieved_at: str | None = None
    error: str | None = None
    detail: str = ""

    def for_model(self) -> str:
        """What the model is given as the call's result."""
        if self.error is not None:
            return f"error: {self.error}" + (f" ({self.detail})" if self.detail else "")
        if self.kind == "web_fetch":
            head = f"{self.title}\n{self.url}\n\n" if self.title else f"{self.url}\n\n"
            return head + self.text
        if not self.results:
            return "no results"
        return "\n\n".join(
            f"[{n}] {r.title}\n{r.url}" + (f"\n{r.snippet}" if r.snippet else "")
            for n, r in enumerate(self.results, 1)
        )


# --- headers a caller sends on through the gateway ------------------------------------
# The headers a caller may never set on a connection the gateway makes for it, declared
# once: wherever a caller's headers are sent on (an MCP server's ``headers`` of the
# Responses ``mcp`` tool, a passed-through body's relayed headers) they are asked here.
# Two kinds: the connection's own (hop-by-hop, framing, the host: they would re-aim or
# desync the gateway's connection), and the proxy's (``Forwarded``, ``X-Forwarded-*``,
# ``X-Real-IP`` and kin, ``X-Original-URL``, ``X-Rewrite-URL``): an upstream behind a
# proxy reads those as what the gateway vouches for (the client's address, the original
# host or path), so a caller setting them would speak with the gateway's voice.

CALLER_CONNECTION_HEADERS = frozenset(
    {
        "host",
        "transfer-encoding",
        "content-length",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
    }
)

CALLER_PROXY_HEADERS = frozenset(
    {
        "forwarded",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-cluster-client-ip",
        "x-original-url",
        "x-rewrite-url",
        "x-original-forwarded-for",
        "via",
    }
)
_PROXY_PREFIXES = ("x-forwarded-",)  # -for, -host, -proto, -port, -prefix, -server ...


def refused_caller_header(name: str) -> str | None:
    """Why a caller may not set the header ``name`` (any case), or None."""
    lowered = name.strip().lower()
    if lowered in CALLER_CONNECTION_HEADERS:
        return "the gateway sets the connection's own framing and host headers"
    if lowered in CALLER_PROXY_HEADERS or lowered.startswith(_PROXY_PREFIXES):
        return "the gateway's proxy headers (the client's address, host or path) are not the caller's to set"
    return None


@dataclass(slots=True)
class McpServer:
    """An MCP server the caller attached to the request (the Responses ``mcp`` tool,
    Anthropic's ``mcp_servers`` with its ``mcp_toolset``). ``url`` None: ``registered``
    names a server of the gateway's registry. ``allowed`` None: every tool;
    ``approval`` the default, ``always``/``never`` the per-tool exceptions."""

    label: str
    url: str | None = None
    registered: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    allowed: list[str] | None = None
    approval: McpApprovalMode = "never"
    always: list[str] = field(default_factory=list)
    never: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # tools not offered, whatever allowed says

    def allows(self, tool: str) -> bool:
        return tool not in self.denied and (self.allowed is None or tool in self.allowed)

    def needs_approval(self, tool: str) -> bool:
        if tool in self.always:
            return True
        if tool in self.never:
            return False
        return self.approval == "always"


@dataclass(slots=True)
class McpApproval:
    """The client's answer to an ``mcp_approval_request``."""

    request_id: str
    approve: bool
    reason: str | None = None


@dataclass(slots=True)
class McpItem:
    """One step of the hosted-tool loop as the client sees it: the tools a server listed
    (``list_tools``), a call it ran (``call``: output or error), a call waiting for
    the client's approval (``approval_request``) or what the model said before calling
    tools (``message``: its text in ``output``). ``arguments`` is JSON text."""

    kind: Literal["list_tools", "call", "approval_request", "message"]
    id: str
    server: str
    name: str = ""
    arguments: str = "{}"
    tools: list[dict[str, Any]] = field(default_factory=list)  # name, description, input_schema
    output: str | None = None
    error: str | None = None
    approval_request_id: str | None = None


# A step the gateway ran for the model before its answer (rendered first, in order).
Hosted = McpItem | ServerToolItem


# --- request / response ----------------------------------------------------------------


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message] = field(default_factory=list)
    system: list[Text] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False  # OpenAI stream_options.include_usage
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    # Spend attribution, from the dialect's own fields (OpenAI ``safety_identifier`` or
    # ``user``, Anthropic ``metadata.user_id``, Gemini ``labels``); the gateway's
    # x-switchyard-user / x-switchyard-session headers override them (core, not codecs).
    end_user: str | None = None
    session: str | None = None
    n: int | None = None
    # Parameters no canonical field models, keyed by their inbound name; forwarded to an
    # upstream of the same dialect, otherwise dropped (drop_params) or rejected.
    extra: dict[str, Any] = field(default_factory=dict)
    # Names of inbound fields (top-level or nested, e.g. "cache_control") that no other
    # dialect can express; translating to another dialect drops them (drop_params) or
    # rejects the request naming them.
    unmapped: list[str] = field(default_factory=list)
    # The gateway's own count of the prompt's tokens, for renderers that must state input
    # usage before the upstream reports it (Anthropic ``message_start``); None: not counted.
    prompt_tokens: int | None = None
    # Headers worth forwarding (anthropic-version, anthropic-beta), lower-cased names.
    headers: dict[str, str] = field(default_factory=dict)
    # The inbound dialect that produced this request ("openai", "anthropic"): an adapter
    # forwards ``extra`` only to an upstream of the same dialect.
    dialect: str = ""
    # Fields a renderer echoes on its response object but no upstream ever sees (the
    # Responses API's ``store`` and ``previous_response_id``).
    echo: dict[str, Any] = field(default_factory=dict)
    # OpenAI's prompt-cache routing key and retention ("in_memory" | "24h"), carried
    # between the Chat Completions and Responses APIs; breakpoints live on the parts.
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    # Where the client placed prompt-cache breakpoints, in its own field paths and prompt
    # order (an Anthropic client's ``cache_control``: "system.1"); empty: none placed.
    cache_marks: list[str] = field(default_factory=list)
    # Hosted MCP tools (gateway/features/mcp/hosted): the servers attached, approval requests
    # replayed from earlier turns, and the client's answers to them.
    mcp_servers: list[McpServer] = field(default_factory=list)
    mcp_pending: list[McpItem] = field(default_factory=list)
    mcp_approvals: list[McpApproval] = field(default_factory=list)
    # Server tools (gateway/features/server_tools): the vendor-run tools the caller asked
    # for, kept out of ``tools``.
    server_tools: list[ServerTool] = field(default_factory=list)


# the counts of a Usage besides input and output (``Usage.merge``)
_RARER_COUNTS = (
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "web_fetch_requests",
)


@dataclass(slots=True)
class Usage:
    """Token counts. ``input_tokens`` excludes cache reads and writes (Anthropic's
    convention); OpenAI's prompt_tokens = input + cache_read + cache_write."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    # server tool calls (Anthropic's ``usage.server_tool_use``), run upstream or here
    web_search_requests: int = 0
    web_fetch_requests: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def merge(self, other: Usage) -> None:
        """Take every non-zero count from ``other`` (streams report usage piecemeal).
        The two counts every usage has are read by name, the rest only when one is
        there: a getattr for each of the seven was 0.8 us a merge, twice a stream."""
        if other.input_tokens:
            self.input_tokens = other.input_tokens
        if other.output_tokens:
            self.output_tokens = other.output_tokens
        if (
            other.cache_read_tokens
            or other.cache_write_tokens
            or other.reasoning_tokens
            or other.web_search_requests
            or other.web_fetch_requests
        ):
            for name in _RARER_COUNTS:
                value = getattr(other, name)
                if value:
                    setattr(self, name, value)


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    parts: list[Part] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    created: int = 0
    # what the hosted-tool loop did before this answer, in order (rendered first)
    hosted: list[Hosted] = field(default_factory=list)

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, Text))

    def tool_calls(self) -> list[ToolCall]:
        return [p for p in self.parts if isinstance(p, ToolCall)]


# --- stream events ---------------------------------------------------------------------


@dataclass(slots=True)
class Start:
    """First event of every stream."""

    id: str
    model: str
    created: int = 0
    usage: Usage | None = None  # what is known up front (Anthropic message_start)


@dataclass(slots=True)
class PartStart:
    """A new content part begins. ``index`` counts parts in the response (0, 1, ...);
    for tool calls ``tool_id`` and ``tool_name`` are known here."""

    index: int
    kind: Literal["text", "tool_call", "thinking"]
    tool_id: str | None = None
    tool_name: str | None = None
    phase: Phase | None = None  # a text part's, when the upstream says (Responses)


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(slots=True)
class ToolArgsDelta:
    index: int
    fragment: str  # a piece of the JSON argument text; concatenated they parse


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    text: str = ""
    signature: str | None = None
    redacted: str | None = None


@dataclass(slots=True)
class PartStop:
    index: int


@dataclass(slots=True)
class UsageEvent:
    usage: Usage


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    stop_sequence: str | None = None


@dataclass(slots=True)
class ErrorEvent:
    """An upstream failure after the stream began; rendered as the dialect's
    in-stream error. ``error`` is a GatewayError."""

    error: Any


@dataclass(slots=True)
class HostedItem:
    """A hosted MCP step or a server tool call the gateway ran, rendered whole as the
    dialect's item(s) or block(s)."""

    item: Hosted


StreamEvent = (
    Start
    | PartStart
    | TextDelta
    | ToolArgsDelta
    | ThinkingDelta
    | PartStop
    | UsageEvent
    | Finish
    | ErrorEvent
    | HostedItem
)

# The stream events that carry answer content: the first of them is a stream's first
# token (the journal's first-token time, where pumps and checks cut so it goes at once).
CONTENT_DELTAS = (TextDelta, ToolArgsDelta, ThinkingDelta)


# --- other endpoints -------------------------------------------------------------------


@dataclass(slots=True)
class ModelInfo:
    id: str
    created: int = 0
    owned_by: str = "switchyard"
    display_name: str | None = None


# the price tiers a request may name besides the standard one (OpenAI's service_tier,
# Gemini's serviceTier; batch for native batches): the catalog prices each
SERVICE_TIERS = ("batch", "flex", "priority")


# --- a request whose messages are built when first read ----------------------------------


@dataclass(frozen=True, slots=True)
class MessagesDigest:
    """What a codec's scan of a request's wire messages found, standing in for the
    canonical messages until something reads them (``DeferredChatRequest``). A codec
    makes one only for messages of texts, tool calls and tool results: no images, no
    documents, nothing ``unmapped``; prompt-cache marks only where the codec names them
    in ``ChatRequest.cache_marks`` from its scan (Anthropic's, Claude Code's traffic). ``count``: the canonical
    messages they make (a tool message folded into the user turn before it, as parsed);
    ``text_tokens``: their part of ``core.tokens.estimate_tokens`` (each text's, tool
    call name's and arguments' characters / 4, rounded up)."""

    count: int
    text_tokens: int


# What the reasoning ledger reads of one message (``core.reasoning_ledger``): its place
# in ``messages``, its role, the ids of its tool calls, whether it holds a tool result,
# and whether it holds reasoning a client must hand back as is (signed or redacted
# ``Thinking``). A plain tuple: an agent's request has hundreds of messages.
Turn = tuple[int, str, list[str], bool, bool]


_MESSAGES = ChatRequest.__dict__["messages"]  # the slot ``messages`` is stored in


class DeferredChatRequest(ChatRequest):
    """A ``ChatRequest`` whose ``messages`` are built on first read, by the codec's own
    parser from the wire messages its scan already validated. Most requests are passed
    through to an upstream of the caller's own format with no guardrail: nothing reads
    their 200 messages of an agent's history, and building them was a quarter of the
    request's CPU (issue #67). Whatever reads ``messages`` (a guardrail, a translation,
    a cache key, the tokenizer's count) gets exactly the list an eager parse makes; until
    then ``digest()`` answers what the hot path asks of them (their count, their token
    estimate, that they hold no media). Equal to a ``ChatRequest`` of equal fields."""

    __slots__ = ("_build", "_chat", "_digest", "_head", "_texts", "_turns")
    # orjson writes a dataclass by the fields its own type names (the cache key's hash):
    # named here, they are read through ``messages`` as every other reader reads them
    __dataclass_fields__ = ChatRequest.__dataclass_fields__

    def __init__(
        self,
        *args: Any,
        build: Callable[[], list[Message]] | None = None,
        digest: MessagesDigest | None = None,
        texts: Callable[[], list[str]] | None = None,
        head: Callable[[int], list[Message]] | None = None,
        turns: Callable[[], Iterator[Turn]] | None = None,
        chat: Callable[[], list[dict[str, Any]]] | None = None,
        **fields: Any,
    ) -> None:
        ChatRequest.__init__(self, *args, **fields)  # (sets messages: nothing pending)
        self._build = build
        self._digest, self._texts = (digest, texts) if build is not None else (None, None)
        self._head = head if build is not None else None
        self._turns = turns if build is not None else None
        self._chat = chat if build is not None else None

    @property
    def messages(self) -> list[Message]:
        build = self._build
        if build is not None:
            built = build()  # (raising, it leaves them unbuilt: never an empty list)
            if self._build is build:  # not built meanwhile by another thread
                _MESSAGES.__set__(self, built)
                self._build = self._digest = self._texts = self._head = None
                self._turns = self._chat = None
        value: list[Message] = _MESSAGES.__get__(self)
        return value

    @messages.setter
    def messages(self, value: list[Message]) -> None:
        self._build = self._digest = self._texts = self._head = None
        self._turns = self._chat = None
        _MESSAGES.__set__(self, value)

    def digest(self) -> MessagesDigest | None:
        """The scan's digest while the messages are unbuilt, else None."""
        return self._digest

    def message_texts(self) -> list[str] | None:
        """While the messages are unbuilt, the texts a guardrail reads of them, in the
        order ``features.guardrails.texts.request_slots`` walks the built ones (each
        message's name, its texts, its tool results' texts, its tool calls' arguments
        as JSON), read off the wire messages by the codec, the empty ones left out as
        the slots leave them; else None."""
        texts = self._texts
        return None if texts is None else texts()

    def turns_from_end(self) -> Iterator[Turn] | None:
        """While the messages are unbuilt, each message's ``Turn``, the last first, read
        off the wire messages by the codec (each one canonical message), as
        ``core.reasoning_ledger`` reads them of the built ones; else None."""
        turns = self._turns
        return None if turns is None else turns()

    def chat_messages(self) -> list[dict[str, Any]] | None:
        """While the messages are unbuilt, when the codec can, the messages as OpenAI
        Chat Completions' wire carries them (``codecs.openai_chat.outbound`` writes the
        built ones so, the system prompt apart), written off the wire messages in one
        pass: a translated agent's 200 turns are not built as canonical objects only to
        be written out again; else None."""
        chat = self._chat
        return None if chat is None else chat()

    def leading(self, count: int) -> list[Message]:
        """``messages[:count]``, built alone while the rest are unbuilt when the codec
        can (each wire message one canonical message: Anthropic's): what the prefix
        affinity key reads of an agent's history."""
        head = self._head
        if head is None:
            return self.messages[:count]
        return head(count)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChatRequest):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)


def messages_digest(request: ChatRequest) -> MessagesDigest | None:
    """``request``'s digest while its messages are unbuilt (a ``DeferredChatRequest``
    nobody read the messages of), else None: read ``request.messages``."""
    return request.digest() if type(request) is DeferredChatRequest else None


def leading_messages(request: ChatRequest, count: int) -> list[Message]:
    """``request.messages[:count]``, without building the rest where it can
    (``DeferredChatRequest.leading``)."""
    if type(request) is DeferredChatRequest:
        return request.leading(count)
    return request.messages[:count]


def deferred_texts(request: ChatRequest) -> list[str] | None:
    """``DeferredChatRequest.message_texts`` of ``request``, or None: read its messages."""
    return request.message_texts() if type(request) is DeferredChatRequest else None


def deferred_chat(request: ChatRequest) -> list[dict[str, Any]] | None:
    """``DeferredChatRequest.chat_messages`` of ``request``, or None: write its messages."""
    return request.chat_messages() if type(request) is DeferredChatRequest else None


def deferred_turns(request: ChatRequest) -> Iterator[Turn] | None:
    """``DeferredChatRequest.turns_from_end`` of ``request``, or None: read its messages."""
    return request.turns_from_end() if type(request) is DeferredChatRequest else None


_FIELDS = tuple(ChatRequest.__dataclass_fields__)
