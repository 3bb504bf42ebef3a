"""The Gemini API (Google AI Studio) as an upstream, natively: ``generateContent`` and
``streamGenerateContent?alt=sse`` under ``{base_url}/v1beta/models/{model}``, the key in
the ``x-goog-api-key`` header (never in the URL, so it cannot reach a log). What is said
is the ``gemini`` codec's job; this module only reaches the upstream.

Provider fields: ``base_url`` is the host root (default
``https://generativelanguage.googleapis.com``; a base ending in a version path such as
``/v1`` is used as is); ``api_version`` picks the version path (default ``v1beta``);
``secret`` is the API key; ``extra_headers`` are sent as they are.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

import orjson

from gateway.base import errors
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.owned_bytes import fitted
from gateway.base.types import ChatRequest
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.base import Target
from gateway.codecs.gemini import codec as gemini_codec
from gateway.codecs.google_common import without_refused
from gateway.providers import wire
from gateway.providers.base import Exchange
from gateway.providers.codec_provider import CodecProvider, target_of
from gateway.providers.kinds import PASSTHROUGH_SETTINGS, FormHelp

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
# Deployment params that steer the provider (where, who) and are never sent upstream as
# model parameters. LiteLLM's names.
CONTROL_PARAMS = frozenset(
    {
        "api_base",
        "api_version",
        "vertex_project",
        "vertex_ai_project",
        "vertex_location",
        "vertex_ai_location",
        "vertex_credentials",
        "vertex_ai_credentials",
    }
)


def host_root(base_url: str) -> str:
    """A Gemini API base URL without a version path at its end
    (``https://generativelanguage.googleapis.com/v1beta`` -> the host): the SDK given
    ``{gateway}/gemini`` asks for ``/v1beta/...`` under it."""
    base = base_url.rstrip("/")
    head, _, last = base.rpartition("/")
    return head if last.startswith("v1") and "://" in head else base


def model_path(model: str) -> str:
    """``models/<id>`` for a model id given with or without the prefix."""
    model = model.removeprefix("models/")
    return "models/" + quote(model, safe="-._~")


def google_target(deployment: DeploymentEntry, model: str | None = None) -> Target:
    """The Google codecs' view of a deployment: ``target_of``'s (every field: what the
    model refuses, its reasoning settings...) with its params less the control ones
    (``CONTROL_PARAMS``) and less those the model refuses (``without_refused``: noted by
    ``google_dropped_params``); ``model``, when given, for the deployment's own."""
    target = target_of(deployment)
    sent = {k: v for k, v in target.params.items() if k not in CONTROL_PARAMS}
    params, _dropped = without_refused(sent, target.refuses)
    return dataclasses.replace(
        target, model=target.model if model is None else model, params=params
    )


def google_dropped_params(deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
    """The deployment's params its Google upstream is not sent because the model refuses
    them (``google_target`` leaves them out), as ``Provider.dropped_params`` notes them
    (the Anthropic provider's words)."""
    if not deployment.params:
        return []
    refuses = target_of(deployment).refuses
    _params, dropped = without_refused(deployment.params, refuses)
    return [(f"{name} (deployment params)", "dropped", "the model refuses it") for name in dropped]


class GoogleCodecProvider(CodecProvider):
    """What the Gemini API and Vertex AI share: the codec, control params kept out of the
    body, the stream endpoint, counting tokens."""

    also_serves = frozenset({"images"})  # besides chat: /v1/images/* -> generateContent
    credential_params = CONTROL_PARAMS | {"base_url", "api_key"}
    speaks = CODECS["gemini"]
    counts_tokens = True  # :countTokens
    count_wrapped = True  # countTokens wants {"generateContentRequest": ...}
    # Implicit caching has no documented lifetime (ai.google.dev, "Context caching":
    # implicit caches are short-lived): three minutes, for the Gemini API and Vertex AI.
    prompt_cache_seconds = 180.0
    documents = Accepts()  # any

    def target(self, deployment: DeploymentEntry) -> Target:
        return google_target(deployment)

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        return google_dropped_params(deployment)

    async def locate(self, deployment: DeploymentEntry) -> tuple[str, dict[str, str]]:
        """``.../models/<id>`` (the URL the methods such as ``:generateContent`` hang
        off) and the headers that authenticate a call to it."""
        raise NotImplementedError

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        raise NotImplementedError("Google providers locate their endpoint with locate()")

    async def _prepare(
        self, request: ChatRequest, deployment: DeploymentEntry, stream: bool
    ) -> tuple[str, bytes, dict[str, str]]:
        body = self.codec.build_request(request, self.target(deployment))
        base, auth = await self.locate(deployment)
        url = base + (":streamGenerateContent?alt=sse" if stream else ":generateContent")
        headers = {"Content-Type": "application/json", "Accept": "application/json", **auth}
        return url, fitted(orjson.dumps(body)), headers  # held to the journal

    async def generate_content(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        base, auth = await self.locate(deployment)
        url = base + ":generateContent"
        headers = {"Content-Type": "application/json", "Accept": "application/json", **auth}
        data = await self._post_json(url, orjson.dumps(body), headers, exchange)
        if not isinstance(data, dict):
            raise errors.UpstreamError("Gemini answered with unexpected JSON", status=502)
        return data

    async def count_tokens(
        self, request: ChatRequest, deployment: DeploymentEntry, body: dict[str, Any]
    ) -> int | None:
        counted = gemini_codec.count_tokens_body(
            request, self.target(deployment), self.count_wrapped
        )
        base, auth = await self.locate(deployment)
        sent = {"Content-Type": "application/json", "Accept": "application/json", **auth}
        data = await self._get_json("POST", base + ":countTokens", sent, orjson.dumps(counted))
        value = data.get("totalTokens")
        if not isinstance(value, int):
            raise errors.UpstreamError("Gemini countTokens answer has no totalTokens")
        return value


class GeminiApi(CodecProvider):
    """What the Gemini API's two upstreams share (``generateContent`` here, the
    Interactions API): the host, its version path, the key and the model list."""

    catalog_vendor = KindVendor("gemini")
    keyless = None
    trace_name = "gcp.gemini"
    needs_base_url = False
    default_base_url = DEFAULT_BASE_URL
    settings_taken = PASSTHROUGH_SETTINGS  # gateway/features/passthrough

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        return host_root(wire.base_url(self.provider) or DEFAULT_BASE_URL)

    def root(self) -> str:
        base = (self.provider.base_url or DEFAULT_BASE_URL).rstrip("/")
        if base.rsplit("/", 1)[-1].startswith("v1"):  # the version is in the base URL
            return base
        return f"{base}/{self.provider.api_version or DEFAULT_API_VERSION}"

    def auth(self) -> dict[str, str]:
        secret, extra = wire.credentials(self.provider)
        if not secret:
            raise errors.ConfigurationError(
                f"provider {self.provider.name!r} has no Gemini API key (set its secret)"
            )
        return {**extra, "x-goog-api-key": secret}

    def models_url(self, page: str) -> str:
        """Every model, a page at a time (``nextPageToken``)."""
        return f"{self.root()}/models?pageSize=1000" + (f"&pageToken={quote(page)}" if page else "")


class GeminiProvider(GeminiApi, GoogleCodecProvider):
    kind = "gemini"
    secret_params = frozenset({"api_key", "vertex_credentials", "vertex_ai_credentials"})
    form_help = FormHelp(
        base_url="Empty: https://generativelanguage.googleapis.com (the native Gemini API).",
        secret="The Gemini API key (stored encrypted) or os.environ/NAME; sent in the "
        "x-goog-api-key header.",
        api_version="The version path; empty: v1beta.",
    )

    async def locate(self, deployment: DeploymentEntry) -> tuple[str, dict[str, str]]:
        return f"{self.root()}/{model_path(deployment.model)}", self.auth()

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        headers.update(self.auth())

    async def live_target(
        self, deployment: DeploymentEntry, version: str
    ) -> tuple[str, dict[str, str], str]:
        """The Live API's socket (``BidiGenerateContent``) for ``deployment``: its
        ``wss://`` URL under the host root (the API version the provider names, else
        the caller's ``version``), the headers that sign it (the key in
        ``x-goog-api-key``, never in the URL) and the ``setup.model`` to send."""
        root = host_root(wire.base_url(self.provider) or DEFAULT_BASE_URL)
        version = self.provider.api_version or version or DEFAULT_API_VERSION
        url = f"{ws_scheme(root)}/ws/google.ai.generativelanguage.{version}.GenerativeService.BidiGenerateContent"
        return url, self.auth(), "models/" + deployment.model.removeprefix("models/")


def ws_scheme(url: str) -> str:
    """``url`` (http or https) with the WebSocket scheme (ws, wss)."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    return url


__all__ = [
    "CONTROL_PARAMS",
    "GeminiApi",
    "GeminiProvider",
    "GoogleCodecProvider",
    "google_dropped_params",
    "google_target",
    "host_root",
    "ws_scheme",
]
