"""Realtime client secrets: a session created over HTTP, opened later from a browser.

``POST /v1/realtime/client_secrets`` (a conversation or, ``session.type:
"transcription"``, a transcription session), the beta ``/v1/realtime/
transcription_sessions`` and ``/v1/realtime/translations/client_secrets`` are relayed
as any request is (the ``realtime_client_secret`` endpoint: the virtual key, the route
named as the session's model and the key's permission for it, rpm, the journal row;
creating a secret costs nothing, the session is priced when it runs): the route's
model is the one the body names (``session.model``, a transcription's
``session.audio.input.transcription.model``, the beta's
``input_audio_transcription.model``), the upstream gets the deployment's.

The upstream answers an ephemeral key (``ek_...``) that opens a session at the
upstream itself; handed to the caller it would open sessions the gateway never sees
(no budget, no journal). So the caller gets the gateway's own client secret instead:
``sy-ek-`` and a token sealed with ``SECRET_KEY`` (``base.secrets.crypto.sealer``) that
holds the upstream's key, the caller's key, the route, the deployment and the session's
kind, and expires when the upstream's does. Given to ``/v1/realtime`` (or
``/translations``) as the key (the browser's ``openai-insecure-api-key.`` subprotocol,
or a bearer), it opens that session through the relay (``Grant``): on that route and
deployment only, as that key (still checked: revoked, expired, its budget), the
upstream signed with its ephemeral key so the settings given at creation apply. The
``sy-`` prefix keeps it out of logs and journal bodies as a key is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base.entries import MASTER, DeploymentEntry, KeyEntry, RouteEntry
from gateway.base.errors import InvalidRequest, PermissionDenied, UpstreamError
from gateway.base.secrets import crypto

PREFIX = "sy-ek-"
PURPOSE = "realtime client secret"
# the upstream's paths for each kind of secret, and the session each opens
GA, BETA_TRANSCRIPTION, TRANSLATION = (
    "realtime/client_secrets",
    "realtime/transcription_sessions",
    "realtime/translations/client_secrets",
)


@runtime_checkable
class SecretUpstream(Protocol):
    """A provider adapter whose upstream creates Realtime client secrets."""

    def realtime_secret_url(self, path: str, deployment: DeploymentEntry) -> str: ...


@dataclass(frozen=True, slots=True)
class Grant:
    """What a gateway client secret opens: ``key`` (the caller's, as it is now),
    ``route`` and ``deployment`` (its id), ``kind`` (realtime, transcription,
    translation) and the upstream's ephemeral ``secret``."""

    key: KeyEntry
    route: str
    deployment: int
    kind: str
    secret: str
    heard: str = ""  # a conversation's: the route named as its input transcription model


@dataclass(slots=True)
class Request:
    """A client secret's body as read: the upstream path, the kind of session, and where
    its model is (read and written)."""

    path: str
    kind: str
    holder: dict[str, Any]  # the object whose ``model`` names the route
    # a conversation's input transcription: the route named as its model, and the
    # model its deployment on the session's upstream gave the upstream
    heard: tuple[str, str] | None = None

    @property
    def model(self) -> Any:
        return self.holder.get("model")


def read(body: dict[str, Any]) -> Request:
    """Which secret ``body`` asks for, by its documented shape: GA ``session`` with a
    ``type`` (realtime, transcription), a translation ``session`` (its ``model``, no
    type), or the beta transcription session (no ``session``)."""
    session = body.get("session")
    if isinstance(session, dict):
        kind = session.get("type")
        if kind == "transcription":
            audio = session.get("audio") or {}
            inputs = audio.get("input") if isinstance(audio, dict) else None
            holder = inputs.get("transcription") if isinstance(inputs, dict) else None
            where = "session.audio.input.transcription.model"
            return Request(GA, "transcription", _holder(holder, where))
        if kind == "realtime":
            return Request(GA, "realtime", _holder(session, "session.model"))
        if kind is None:
            return Request(TRANSLATION, "translation", _holder(session, "session.model"))
        raise InvalidRequest(f"unknown session type {kind!r}", param="session.type")
    if session is not None:
        raise InvalidRequest("session must be an object", param="session")
    holder = body.get("input_audio_transcription")
    where = "input_audio_transcription.model"
    return Request(BETA_TRANSCRIPTION, "transcription", _holder(holder, where))


def _holder(holder: Any, where: str) -> dict[str, Any]:
    if not isinstance(holder, dict) or not isinstance(holder.get("model"), str):
        raise InvalidRequest(f"{where} is required: the route to open the session on", param=where)
    return holder


def upstream_body(
    body: dict[str, Any], request: Request, deployment: DeploymentEntry, key: KeyEntry | None
) -> dict[str, Any]:
    """What the upstream gets: ``body`` with the deployment's model where the session
    names its model (the route's name until now), without the ``model`` the pipeline
    read the route from. A conversation's input transcription model naming a route
    gets its deployment's model on the same upstream (``transcriber``; its refusals
    raised)."""
    request.holder["model"] = deployment.model
    session = body.get("session")
    if request.kind == "realtime" and isinstance(session, dict):
        for holder in transcription_holders(session):
            found = transcriber(holder["model"], key, deployment)
            if found is not None:
                request.heard = (holder["model"], found.model)
                holder["model"] = found.model
    return {k: v for k, v in body.items() if k != "model"}


def seal(
    key: KeyEntry,
    route: RouteEntry,
    deployment: DeploymentEntry,
    kind: str,
    answer: Any,
    heard: tuple[str, str] | None = None,
) -> Any:
    """The upstream's ``answer`` with its ephemeral key replaced by the gateway's client
    secret (and its model names by the route's); raise UpstreamError for an answer
    with no key in it. ``heard``: a conversation's input transcription route (and its
    upstream model), sealed too so the session prices it at that route's deployment."""
    if not isinstance(answer, dict):
        raise UpstreamError("the upstream answered no client secret")
    secret = answer.get("client_secret")  # the beta's {"client_secret": {value, expires_at}}
    holder = secret if isinstance(secret, dict) else answer
    value, expires = holder.get("value"), holder.get("expires_at")
    if not isinstance(value, str) or not value:
        raise UpstreamError("the upstream answered no client secret")
    payload = {
        "k": key.id,
        "r": route.name,
        "d": deployment.id,
        "t": kind,
        "u": value,
        "x": int(expires) if isinstance(expires, int | float) else int(time.time()) + 600,
    }
    if heard is not None:
        payload["h"] = heard[0]
    token = crypto.sealer(PURPOSE).encrypt(json.dumps(payload).encode()).decode()
    holder["value"] = PREFIX + token.rstrip("=")  # a subprotocol takes no "="
    session = answer.get("session") if secret is None else answer
    if isinstance(session, dict):
        _rename(session, deployment.model, route.name)
        if heard is not None:
            for holder in transcription_holders(session):
                if holder["model"] == heard[1]:
                    holder["model"] = heard[0]
    return answer


def _rename(session: dict[str, Any], model: str, name: str) -> None:
    """The route's ``name`` where ``session`` names the deployment's ``model``."""
    audio = session.get("audio")
    inputs = audio.get("input") if isinstance(audio, dict) else None
    for holder in (
        session,
        inputs.get("transcription") if isinstance(inputs, dict) else None,
        session.get("input_audio_transcription"),
    ):
        if isinstance(holder, dict) and holder.get("model") == model:
            holder["model"] = name


TRANSCRIPTION_PARAM = "session.audio.input.transcription.model"


def transcription_holders(session: dict[str, Any]) -> list[dict[str, Any]]:
    """Where a session's settings name a transcription model: GA's
    ``audio.input.transcription``, the beta's ``input_audio_transcription``."""
    audio = session.get("audio")
    inputs = audio.get("input") if isinstance(audio, dict) else None
    return [
        holder
        for holder in (
            inputs.get("transcription") if isinstance(inputs, dict) else None,
            session.get("input_audio_transcription"),
        )
        if isinstance(holder, dict) and isinstance(holder.get("model"), str)
    ]


def transcriber(
    name: str, key: KeyEntry | None, session: DeploymentEntry
) -> DeploymentEntry | None:
    """What a conversation's input transcription ``model`` (``name``) stands for on the
    upstream of ``session`` (the session's deployment): the deployment on that same
    upstream of the route so named (the socket reaches only its own upstream; on Azure
    OpenAI the field names a deployment of the resource, as Azure's Realtime reference
    says), or None for a name no enabled route has (the upstream's own model name).
    Raise PermissionDenied for a route ``key`` may not use, InvalidRequest for one with
    no deployment on that upstream."""
    route = registry.current().route(name)
    if route is None or not route.enabled:
        return None
    allowed = decide(key, "route.call", route) if key is not None else None
    if allowed is not None and not allowed:
        raise PermissionDenied(allowed.reason, param=TRANSCRIPTION_PARAM)
    here = session.provider.id
    found = next((d for d in route.deployments if d.provider.id == here), None)
    if found is None:
        raise InvalidRequest(
            f"model {name!r} cannot transcribe in this session: none of its deployments "
            f"is on this session's upstream ({session.provider.name})",
            param=TRANSCRIPTION_PARAM,
        )
    return found


def is_secret(token: str) -> bool:
    return token.startswith(PREFIX)


def grant_of(token: str) -> Grant | None:
    """The grant of a gateway client secret, or None: not one, tampered with, sealed
    under another SECRET_KEY, expired, or its key is gone (revoked keys stay in the
    snapshot and are refused as any key is, by the caller's check)."""
    from cryptography.fernet import InvalidToken  # ~8 MB: loaded when a secret is used

    sealed = token[len(PREFIX) :]
    sealed += "=" * (-len(sealed) % 4)
    try:
        payload = json.loads(crypto.sealer(PURPOSE).decrypt(sealed.encode("ascii")))
    except (InvalidToken, ValueError, UnicodeEncodeError):
        return None
    if not isinstance(payload, dict) or payload.get("x", 0) < time.time():
        return None
    key_id = payload.get("k")
    key = MASTER if key_id is None else registry.current().key_by_id(key_id)
    if key is None:
        return None
    return Grant(
        key,
        str(payload["r"]),
        int(payload["d"]),
        str(payload["t"]),
        str(payload["u"]),
        str(payload.get("h") or ""),
    )
