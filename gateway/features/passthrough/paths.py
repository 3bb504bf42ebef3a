"""Where a passthrough request goes, and what goes with it.

- **Prefixes**: ``/{vendor}/...`` names a vendor as LiteLLM spells it (the catalog's
  ``matching.PREFIXES``, first spelling of each vendor: ``openai``, ``azure``,
  ``anthropic``, ``gemini``, ``vertex_ai``, ``bedrock``, ``cohere``, ``mistral``,
  ``deepseek``, ``groq``, ``together_ai``, ...); ``/{vendor}_passthrough/...`` names it
  too (LiteLLM's ``/openai_passthrough``), for the paths under ``/openai/`` and
  ``/anthropic/`` the gateway serves itself (its routed chat, model list, files).
- **The path** under the prefix goes upstream byte for byte as the caller encoded it,
  appended to the provider's API root: it may only name a path under that root. A path
  with a ``.``/``..`` segment (plain or encoded), an empty segment (``//``), an absolute
  URL, a backslash or control character, a double encoding (``%25``) or an ``@`` (but in
  Vertex AI's ``models/{model}@{version}``) is refused, before anything is sent; the URL
  made is checked once more to have the root's scheme, host and path.
- **The query** goes as it came, less the caller's ``key`` (Google's way to send a key)
  and the gateway's own ``switchyard_provider``.
- **Headers**: the caller's go along but its credentials (``Authorization``,
  ``x-api-key``, ``api-key``, ``x-goog-api-key``, cookies), what chooses whose account
  pays (``OpenAI-Organization``, ``OpenAI-Project``, ``x-goog-user-project``), AWS
  signing headers, hop-by-hop and proxy headers and the gateway's own
  (``x-switchyard-*``); the answer's go back but hop-by-hop ones, cookies and the ones
  the gateway sets itself (its request id, the stream's cache headers)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

from gateway.base.errors import InvalidRequest
from gateway.base.types import refused_caller_header
from gateway.catalog.matching import PREFIXES as VENDOR_SPELLINGS

SUFFIX = "_passthrough"
# vendor (the catalog's name) -> the prefix that names it: LiteLLM's first spelling
SPELLING: dict[str, str] = {}
for _spelled, _vendor in VENDOR_SPELLINGS.items():
    SPELLING.setdefault(_vendor, _spelled)
PREFIXES = frozenset(SPELLING.values())
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
PROVIDER_HEADER = "x-switchyard-provider"
TARGET = "passthrough"  # the path field the edge hands the ``Target`` in (service.handle)
PROVIDER_QUERY = "switchyard_provider"


def prefix_of(path: str) -> str | None:
    """The vendor prefix a request path names (``/openai/v1/x`` and
    ``/openai_passthrough/v1/x``: ``openai``), or None."""
    segment, slash, _rest = path[1:].partition("/")
    if not slash or not path.startswith("/"):
        return None
    name = segment.removesuffix(SUFFIX)
    return name if name in PREFIXES else None


@dataclass(frozen=True, slots=True)
class Target:
    """What the edge read off a passthrough request's line: the vendor prefix, the
    method, the path under the prefix as the caller encoded it (None: the prefix itself
    was encoded, which nothing sends), the query to forward and the provider named."""

    prefix: str
    method: str
    path: str | None
    query: str
    provider: str = ""


def target(scope: Mapping[str, Any], prefix: str, headers: Mapping[str, str]) -> Target:
    """The ``Target`` of an ASGI request whose path ``prefix_of`` named ``prefix``."""
    decoded: str = scope["path"]
    segment = decoded[1:].partition("/")[0]
    raw_path: bytes | None = scope.get("raw_path")
    raw = raw_path.decode("latin-1") if raw_path else decoded
    raw = raw.partition("?")[0]
    rest = raw[len(segment) + 1 :] if raw.startswith(f"/{segment}/") else None
    query, named = forwarded_query((scope.get("query_string") or b"").decode("latin-1"))
    provider = headers.get(PROVIDER_HEADER, "").strip() or named
    return Target(prefix, str(scope["method"]).upper(), rest, query, provider)


def forwarded_query(raw: str) -> tuple[str, str]:
    """The query as it goes upstream (items kept byte for byte, the caller's ``key`` and
    the gateway's ``switchyard_provider`` left out) and the provider it names."""
    kept: list[str] = []
    named = ""
    for item in raw.split("&") if raw else ():
        name = unquote_plus(item.partition("=")[0])
        if name == PROVIDER_QUERY:
            named = unquote_plus(item.partition("=")[2]).strip()
        elif name != "key":
            kept.append(item)
    return "&".join(kept), named


_RAW_PATH = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


def checked(path: str | None) -> str:
    """``path`` (under the prefix, percent-encoded as received) when it can only name a
    path under the API's root; an ``InvalidRequest`` saying why otherwise."""
    if path is None:
        raise _refused("the prefix is percent-encoded")
    if not path.startswith("/"):
        raise _refused("it does not start with /")
    if not _RAW_PATH.match(path) or _PERCENT.search(path):
        raise _refused("it holds a character a path may not (spaces, quotes, \\, a stray %)")
    decoded = unquote(path)
    if _ENCODED.search(decoded):
        raise _refused("it is encoded twice (%25)")
    if any(ord(c) < 0x20 or c == "\x7f" or c == "\\" for c in decoded):
        raise _refused("it holds a control character or a backslash")
    if "://" in decoded:
        raise _refused("it holds an absolute URL")
    segments = decoded.split("/")[1:]
    if "" in segments[:-1]:
        raise _refused("it has an empty segment (//)")
    if any(segment in (".", "..") for segment in segments):
        raise _refused("it has a . or .. segment")
    for index, segment in enumerate(segments):
        if "@" in segment and (index == 0 or segments[index - 1] != "models"):
            raise _refused("it holds an @ (only a model's version, models/NAME@VERSION, may)")
    return path


def _refused(why: str) -> InvalidRequest:
    return InvalidRequest(f"the passthrough path is refused: {why}", code="invalid_path")


def under(path: str, prefixes: Iterable[str]) -> bool:
    """Whether ``path`` (decoded for the comparison) is one of ``prefixes`` or below one:
    ``/v1/models`` takes ``/v1/models`` and ``/v1/models/x``, not ``/v1/modelsx``."""
    decoded = unquote(path)
    for prefix in prefixes:
        if decoded == prefix.rstrip("/") or decoded.startswith(prefix.rstrip("/") + "/"):
            return True
    return False


def url(root: str, path: str, query: str) -> str:
    """The upstream URL: ``path`` (``checked``) under ``root``, with ``query``. Checked
    once more: same scheme, host and port as the root, its path under the root's."""
    made = root.rstrip("/") + path + (f"?{query}" if query else "")
    base, sent = urlsplit(root), urlsplit(made)
    base_path = base.path.rstrip("/")
    if (
        (sent.scheme, sent.netloc) != (base.scheme, base.netloc)
        or not (sent.path == base_path or sent.path.startswith(base_path + "/"))
        or sent.fragment
    ):
        raise _refused("it does not stay under the provider's API")
    return made


# Caller headers that never go upstream (besides hop-by-hop and proxy headers,
# ``types.refused_caller_header``): credentials, what picks whose account pays, AWS
# signing, the body's length and encoding (recomputed), the gateway's own.
NOT_FORWARDED = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "openai-organization",
        "openai-project",
        "x-goog-user-project",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "accept-encoding",
        "content-length",
    }
)
GATEWAY_HEADERS = "x-switchyard-"


def forwarded(headers: Mapping[str, str], provider_headers: Iterable[str] = ()) -> dict[str, str]:
    """The caller's headers that go upstream (names lower-cased); one the provider sets
    itself (its extra headers, ``provider_headers``) is the provider's, so what is
    signed is what is sent."""
    theirs = {name.lower() for name in provider_headers}
    out: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if (
            lowered in NOT_FORWARDED
            or lowered in theirs
            or lowered.startswith(GATEWAY_HEADERS)
            or refused_caller_header(lowered)
        ):
            continue
        out[lowered] = value
    out["accept-encoding"] = "identity"  # the answer is read (usage) and relayed as is
    return out


def one_each(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with one value per name whatever its case: the last set wins (the
    provider's own, set after the caller's)."""
    by_name: dict[str, tuple[str, str]] = {}
    for name, value in headers.items():
        by_name[name.lower()] = (name, value)
    return dict(by_name.values())


# Answer headers that do not come back: hop-by-hop, the body's framing (the relay
# re-frames it, decoded), cookies, and what the edge sets on a stream.
NOT_RETURNED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "upgrade",
        "trailer",
        "te",
        "proxy-authenticate",
        "set-cookie",
        "cache-control",
        "x-accel-buffering",
    }
)


def returned(
    answer: Iterable[tuple[bytes, bytes]], ours: Iterable[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The answer's headers the caller gets, after the gateway's own (``ours``: its
    request id, route and deployment), which an upstream header of the same name never
    overrides."""
    taken = {name.lower() for name, _ in ours}
    return [
        (name, value)
        for name, value in answer
        if (lowered := name.lower()) not in taken
        and lowered.decode("latin-1") not in NOT_RETURNED
        and not lowered.startswith(b"x-switchyard-")
    ]
