"""``generic_guardrail_api``: a service of your own (or a vendor's) speaking LiteLLM's
Generic Guardrail API.

Each check is one ``POST {api_base}/beta/litellm_basic_guardrail_api`` (the path is
added unless ``api_base`` already ends with it) with JSON ``texts``, ``input_type``
(``request`` | ``response``), ``request_data`` (who and what is asking: the key's name,
its team and user, the route and model, the request id; never the caller's secret, nor
its hash or prefix), ``litellm_call_id`` and ``additional_provider_specific_params``
(the guardrail's own; a request's ``{name: {extra_body}}`` adds only the keys
``params.request_settable`` names and the params do not set: configured params always
win, and a request giving any other setting is refused with a 400 naming the guardrail). Header ``x-api-key``: ``params.api_key`` (a literal or
``os.environ/NAME``), plus ``params.headers``.

The answer's ``action``: ``NONE`` passes; ``BLOCKED`` refuses (``blocked_reason``
given to the caller); ``GUARDRAIL_INTERVENED`` carries the rewritten ``texts``, one
per text sent. Anything else (a non-2xx, no JSON, an unknown action, texts that are
not strings) is a failed check, never a pass: the guardrail's failure policy decides.
Errors name the service's URL masked and the HTTP status, never a header value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from gateway.base import http
from gateway.base.entries import GuardrailEntry
from gateway.base.errors import MissingSecret
from gateway.base.pooled_transport import AnswerTooLarge
from gateway.base.secrets.secret_refs import ENV_REFERENCE, resolve_secret
from gateway.base.secrets.url_secrets import mask_url
from gateway.features.guardrails.kinds import Checker as BaseChecker
from gateway.features.guardrails.kinds import ConfigError, Context, Verdict
from gateway.features.guardrails.kinds.remote import CheckFailed, reference_or_text

PATH = "/beta/litellm_basic_guardrail_api"
# headers the gateway sets itself (x-api-key comes from params.api_key)
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "x-api-key", "accept"})
ACTIONS = ("NONE", "BLOCKED", "GUARDRAIL_INTERVENED")


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """The params as stored: ``api_base`` required (http(s) URL or ``os.environ/NAME``),
    ``api_key`` and ``headers`` values literal or references, the extra params an object."""
    base = params.get("api_base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError("params.api_base", "the service's URL is required")
    base = base.strip()
    if base.startswith("os.environ/"):
        if not ENV_REFERENCE.match(base):
            raise ConfigError("params.api_base", f"not a valid environment reference: {base!r}")
    else:
        _check_url(base, "params.api_base")
    params["api_base"] = base
    if params.get("api_key") not in (None, ""):
        reference_or_text(params["api_key"], "params.api_key")
    headers = params.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise ConfigError("params.headers", "must be an object of header names to values")
        for name, value in headers.items():
            where = f"params.headers.{name}"
            if not isinstance(name, str) or not name.strip() or any(c in name for c in " :\r\n"):
                raise ConfigError(where, "not a header name")
            if name.lower() in RESERVED_HEADERS:
                raise ConfigError(where, "set by the gateway (use params.api_key for x-api-key)")
            reference_or_text(value, where)
            if any(c in value for c in "\r\n"):
                raise ConfigError(where, "a header value is one line")
    extra = params.get("additional_provider_specific_params")
    if extra is not None and not isinstance(extra, dict):
        raise ConfigError("params.additional_provider_specific_params", "must be an object")
    settable = params.get("request_settable")
    if settable is not None:
        if not isinstance(settable, list) or not all(
            isinstance(k, str) and k.strip() for k in settable
        ):
            raise ConfigError(
                "params.request_settable",
                "a list of the additional_provider_specific_params keys a request may set",
            )
        taken = sorted(set(settable) & set(extra or {}))
        if taken:
            raise ConfigError(
                "params.request_settable",
                f"{', '.join(taken)} set in additional_provider_specific_params: "
                "a configured setting always wins, so a request may not set it",
            )
    return params


def request_settable(params: Mapping[str, Any]) -> frozenset[str]:
    """The keys a request may add to ``additional_provider_specific_params`` (its
    ``{name: {extra_body}}``): those ``params.request_settable`` names, never one the
    params set. None named: a request sets nothing."""
    settable = params.get("request_settable")
    configured = params.get("additional_provider_specific_params") or {}
    if not isinstance(settable, list):
        return frozenset()
    return frozenset(str(k) for k in settable) - set(configured)


def _check_url(url: str, where: str) -> None:
    """An http(s) URL with a host, as provider base URLs are (private addresses allowed:
    the operator names the service, a caller never does)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(where, "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(where, "must be an http:// or https:// URL (or os.environ/NAME)")


def endpoint(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base if base.endswith(PATH) else base + PATH


def request_data(context: Context) -> dict[str, Any]:
    """Who and what asks, as LiteLLM names it where it can: never a secret."""
    data: dict[str, Any] = {
        "model": context.model,
        "route": context.route,
        "request_id": context.request_id,
        "mode": context.mode,
    }
    key = context.key
    if key is not None:
        data["user_api_key_alias"] = key.name
        if key.team is not None:
            data["user_api_key_team_id"] = str(key.team.id)
            data["user_api_key_team_alias"] = key.team.name
        if key.user_id is not None:
            data["user_api_key_user_id"] = str(key.user_id)
        if key.end_user:
            data["user_api_key_end_user_id"] = key.end_user
    if context.tool:
        data["tool"] = context.tool
    return data


class Checker(BaseChecker):
    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        params = validate(dict(entry.params))
        self.api_base: str = params["api_base"]
        self.api_key: str = params.get("api_key") or ""
        self.headers: dict[str, str] = dict(params.get("headers") or {})
        self.extra: dict[str, Any] = dict(params.get("additional_provider_specific_params") or {})
        self.settable = request_settable(params)

    def _resolved(self) -> tuple[str, dict[str, str]]:
        """The URL and headers, references read now (an unset variable fails the check,
        naming the variable and the setting, never a value)."""
        try:
            url = endpoint(resolve_secret(self.api_base))
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            for name, value in self.headers.items():
                headers[name] = resolve_secret(value)
            if self.api_key:
                headers["x-api-key"] = resolve_secret(self.api_key)
        except MissingSecret as exc:
            raise CheckFailed(f"guardrail {self.entry.name!r}: {exc}") from None
        return url, headers

    def body(self, texts: list[str], context: Context) -> dict[str, Any]:
        return {
            "texts": texts,
            "input_type": context.input_type,
            "request_data": request_data(context),
            "litellm_call_id": context.request_id,
            # the request's own settings only where the guardrail lets it; configured win
            "additional_provider_specific_params": {
                **{k: v for k, v in context.extra.items() if k in self.settable},
                **self.extra,
            },
        }

    async def check(self, texts: list[str], context: Context) -> Verdict:
        url, headers = self._resolved()
        shown = mask_url(url)
        content = orjson.dumps(self.body(texts, context))
        timeout = httpx.Timeout(self.entry.timeout + 1.0)  # the engine's own limit comes first
        try:
            response, raw = await http.post_capped(
                url, content, headers, timeout, http.max_answer_bytes()
            )
        except (httpx.HTTPError, OSError) as exc:
            raise CheckFailed(
                f"the guardrail service at {shown} could not be reached ({type(exc).__name__})"
            ) from None
        except AnswerTooLarge:
            raise CheckFailed(f"the guardrail service at {shown} answered too much") from None
        if not 200 <= response.status_code < 300:
            raise CheckFailed(
                f"the guardrail service at {shown} answered HTTP {response.status_code}"
            )
        return verdict(raw, len(texts), shown)


def verdict(raw: bytes, count: int, shown: str) -> Verdict:
    """The service's answer as a ``Verdict``; ``CheckFailed`` when it is not one."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise CheckFailed(f"the guardrail service at {shown} answered no JSON") from None
    action = answer.get("action") if isinstance(answer, dict) else None
    if not isinstance(action, str) or action.upper() not in ACTIONS:
        raise CheckFailed(
            f"the guardrail service at {shown} answered no action "
            f"(expected one of {', '.join(ACTIONS)})"
        )
    action = action.upper()
    if action == "NONE":
        return Verdict()
    if action == "BLOCKED":
        reason = answer.get("blocked_reason")
        return Verdict("blocked", str(reason)[:300] if reason else "blocked by the service")
    rewritten = answer.get("texts")
    if rewritten is None:  # intervened on something we do not send (images): nothing to change
        return Verdict()
    if not isinstance(rewritten, list) or not all(isinstance(t, str) for t in rewritten):
        raise CheckFailed(f"the guardrail service at {shown} answered texts that are not strings")
    if len(rewritten) != count:
        raise CheckFailed(
            f"the guardrail service at {shown} answered {len(rewritten)} texts for {count}"
        )
    return Verdict("intervened", "rewritten by the service", rewritten)
