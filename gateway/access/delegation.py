"""Agent tokens: a caller's identity carried into the agent it calls (issue #63).

When the gateway relays an A2A message to a registered agent it mints a token for that
call (``mint``) and sends it along (``HEADER``): the agent calls ``/v1/...`` and ``/mcp``
with it as its bearer, and the gateway admits those requests as the caller's own key,
in the agent run the token names (``check``). With ``a2a`` among its surfaces the agent
may call another agent at ``/a2a/<name>`` with it (one the caller's key is granted): that
call stays in the same run and session, one agent deeper (``d``), and the token carried
to the next agent reaches no more surfaces and lives no longer than the one it came
with; a chain ends at ``MAX_DEPTH`` agents. What the token may reach is the key's
entry as the snapshot has it now: its routes, MCP grants, rpm and budgets, never wider;
a key revoked, expired or narrowed since is so for its tokens at once.

A token is ``sy-agent-`` + base64url(JSON claims) + ``.`` + base64url(HMAC-SHA256 of
the claims under a key derived from ``SECRET_KEY``): nothing is stored, so nothing is
stored in clear, and checking one is a hash and a dict lookup (no query). Claims: ``k``
the key's id, ``run``/``agent``/``task``/``ctx`` the run, ``aud`` the surfaces it is for
(``models``: the inference APIs; ``mcp``: ``/mcp``, or ``mcp:<server>`` for one; ``a2a``:
``/a2a``, or ``a2a:<agent>`` for one), ``exp`` (epoch seconds), ``b`` and ``sb`` the
agent's budget per run and per session (USD, as strings; absent: none), ``d`` the
chain's depth (absent: 0).
``exchange`` is RFC 8693's step: from a token, one for fewer surfaces and no longer
life. Refusals name what was wrong, never the token; callers answer them in their own
format (401)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from django.conf import settings

from gateway.access import registry
from gateway.base.entries import AgentRun, KeyEntry

PREFIX = "sy-agent-"
HEADER = "x-switchyard-agent-token"  # what the agent reads on the A2A call
RUN_HEADER = "x-switchyard-agent-run"  # the run's id, for the agent's own logs
MODELS, MCP, A2A = "models", "mcp", "a2a"
SURFACES = (MODELS, MCP, A2A)
MAX_DEPTH = 4  # agents in one chain: the caller's, and three more it may call on
TOKEN_SECONDS = 900  # a carried token lives 15 minutes past the call's start
MAX_LENGTH = 4096


def is_agent_token(raw: str) -> bool:
    """Whether ``raw`` is shaped as an agent token (``sy-agent-<claims>.<signature>``):
    a virtual key is ``sy-`` and URL-safe base64, which may begin ``agent-`` but never
    holds a dot, so a key is never mistaken for a token."""
    return raw.startswith(PREFIX) and "." in raw


@dataclass(frozen=True, slots=True)
class Checked:
    """A token's verdict: the entry to act with, or why not (safe to show)."""

    key: KeyEntry | None
    problem: str = ""


_signing: tuple[str, bytes] | None = None


def _signing_key() -> bytes:
    global _signing
    secret = str(settings.SECRET_KEY)
    if _signing is None or _signing[0] != secret:  # a settings change (tests)
        _signing = (
            secret,
            hashlib.sha256(b"switchyard agent token\x00" + secret.encode()).digest(),
        )
    return _signing[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(body: str) -> str:
    return _b64(hmac.new(_signing_key(), body.encode(), hashlib.sha256).digest())


def _encode(claims: dict[str, Any]) -> str:
    body = _b64(orjson.dumps(claims))
    return f"{PREFIX}{body}.{_sign(body)}"


def mint(
    key: KeyEntry,
    run: AgentRun,
    audience: Iterable[str] = SURFACES,
    seconds: float = TOKEN_SECONDS,
) -> tuple[str, int]:
    """(a token acting as ``key`` in ``run`` for ``audience``, its expiry in epoch
    seconds, never past ``run.expires`` when the run came by a token). The master key has
    no token: it is nobody's identity to carry."""
    if key.id is None:
        raise ValueError("the master key is not carried to agents")
    expires = int(time.time() + seconds)
    if run.expires:
        expires = min(expires, run.expires)
    claims: dict[str, Any] = {
        "k": key.id,
        "run": run.id,
        "agent": run.agent,
        "aud": sorted(set(audience)),
        "exp": expires,
    }
    if run.task:
        claims["task"] = run.task
    if run.context:
        claims["ctx"] = run.context
    if run.budget_usd is not None:
        claims["b"] = str(run.budget_usd)
    if run.session_budget_usd is not None:
        claims["sb"] = str(run.session_budget_usd)
    if run.depth:
        claims["d"] = run.depth
    return _encode(claims), expires


def _claims(raw: str) -> dict[str, Any] | None:
    """The claims of a well-formed token signed by this gateway, else None."""
    if not raw.startswith(PREFIX) or len(raw) > MAX_LENGTH:
        return None
    body, dot, signature = raw[len(PREFIX) :].partition(".")
    if not dot or not hmac.compare_digest(signature.encode(), _sign(body).encode()):
        return None
    try:
        claims = orjson.loads(_unb64(body))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("k"), int):
        return None
    if not isinstance(claims.get("exp"), int) or not isinstance(claims.get("aud"), list):
        return None
    return claims


def known_surface(surface: str) -> bool:
    """``models``, ``mcp``, ``a2a``, ``mcp:<server>`` or ``a2a:<agent>``."""
    group, colon, name = surface.partition(":")
    return surface in SURFACES or (bool(colon) and bool(name) and group in (MCP, A2A))


def covers(audience: list[Any], surface: str) -> bool:
    """Whether a token for ``audience`` may be used on ``surface`` (``models``, ``mcp``,
    ``mcp:<server>``, ``a2a`` or ``a2a:<agent>``): ``mcp`` covers every server,
    ``mcp:<server>`` that one; ``a2a`` and ``a2a:<agent>`` the same for agents."""
    if surface in audience:
        return True
    group = surface.partition(":")[0]
    return group in (MCP, A2A) and surface != group and group in audience


_by_id: tuple[int, dict[int, KeyEntry]] = (-2, {})


def _key(key_id: int) -> KeyEntry | None:
    """The key's entry in the current snapshot (an index by id, built once a snapshot)."""
    global _by_id
    snapshot = registry.current()
    if _by_id[0] != snapshot.version:
        _by_id = (snapshot.version, {e.id: e for e in snapshot.keys.values() if e.id is not None})
    return _by_id[1].get(key_id)


def _usd(value: Any) -> Decimal | None:
    if not isinstance(value, str):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _run(claims: dict[str, Any]) -> AgentRun:
    depth = claims.get("d")
    return AgentRun(
        id=str(claims.get("run") or "")[:40],
        agent=str(claims.get("agent") or "")[:100],
        task=str(claims.get("task") or "")[:200],
        context=str(claims.get("ctx") or "")[:200],
        budget_usd=_usd(claims.get("b")),
        session_budget_usd=_usd(claims.get("sb")),
        depth=depth if isinstance(depth, int) and depth > 0 else 0,
        surfaces=tuple(str(s) for s in claims["aud"]),
        expires=claims["exp"],
    )


def check(raw: str, surface: str) -> Checked:
    """The entry a request on ``surface`` with agent token ``raw`` acts with: the
    caller's key as the snapshot has it, in the token's run; or why it is refused
    (not ours, expired, for another surface, its key revoked or gone)."""
    claims = _claims(raw)
    if claims is None:
        return Checked(None, "invalid agent token")
    if claims["exp"] <= time.time():
        return Checked(None, "this agent token has expired")
    if not covers(claims["aud"], surface):
        return Checked(None, f"this agent token is not for {surface}")
    entry = _key(claims["k"])
    if entry is None or entry.revoked:
        return Checked(None, "the API key this agent token acts for has been revoked")
    return Checked(dataclasses.replace(entry, run=_run(claims)))


class ExchangeRefused(Exception):
    """RFC 8693 refusal: ``error`` is the OAuth error code, ``str()`` safe to show."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def exchange(subject: str, audience: Iterable[str], seconds: float | None) -> tuple[str, int]:
    """RFC 8693: a token for ``audience`` (within the subject token's surfaces; empty:
    the same ones) living at most ``seconds`` and never past the subject token, in the
    same run for the same key. (token, expires_in)."""
    claims = _claims(subject)
    if claims is None:
        raise ExchangeRefused("invalid_grant", "the subject token is not a valid agent token")
    now = time.time()
    if claims["exp"] <= now:
        raise ExchangeRefused("invalid_grant", "the subject token has expired")
    entry = _key(claims["k"])
    if entry is None or entry.revoked:
        raise ExchangeRefused("invalid_grant", "the API key of the subject token has been revoked")
    wanted = sorted(set(audience)) or list(claims["aud"])
    for surface in wanted:
        if not known_surface(surface):
            raise ExchangeRefused("invalid_target", f"unknown audience {surface!r}")
        if not covers(claims["aud"], surface):
            raise ExchangeRefused("invalid_target", f"the subject token is not for {surface}")
    expires = claims["exp"]
    if seconds is not None:
        expires = min(expires, int(now + max(1.0, seconds)))
    narrowed = {**claims, "aud": wanted, "exp": expires}
    return _encode(narrowed), max(1, int(expires - now))
