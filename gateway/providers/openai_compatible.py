"""OpenAI-compatible Chat Completions upstreams (OpenAI, DeepSeek, vLLM, Ollama, Groq,
Gemini's OpenAI endpoint, ...) and Azure OpenAI: where they are (``{base_url}/<path>``;
Azure's deployment path and ``api-version``), how they are authenticated (a Bearer
secret; Azure's ``api-key``), which caller headers a passed-through body takes along,
and the model list. Posting, streaming, passthrough (chat, legacy completions,
embeddings) and error mapping are the shared path's (``codec_provider``); what is said
is ``gateway.codecs.openai_chat``'s.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import MissingSecret
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.base.types import ChatRequest, StreamEvent, refused_caller_header
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.base import Target
from gateway.codecs.openai_chat import codec as openai_chat_codec
from gateway.codecs.openai_chat import outbound
from gateway.providers import wire
from gateway.providers.base import Exchange, MediaPost
from gateway.providers.codec_provider import CodecProvider, target_of
from gateway.providers.kinds import (
    BATCH_SETTINGS,
    PASSTHROUGH_SETTINGS,
    FormHelp,
    Keyless,
    Setting,
)
from gateway.providers.passthrough_body import for_deployment

AZURE_DEFAULT_API_VERSION = "2024-10-21"


def _known_host(deployment: DeploymentEntry) -> str:
    """The upstream's host name when it can be known now: an unset ``os.environ/NAME``
    gives "" here (the request itself then fails naming the variable, in ``url``)."""
    try:
        base = resolve_secret(deployment.provider.base_url)
    except MissingSecret:
        return ""
    return _hostname(base)


@functools.lru_cache(maxsize=256)
def _hostname(url: str) -> str:
    """``url``'s host name, parsed once per URL (urlsplit is pure Python and ran on
    every request: 2% of a plain request's CPU)."""
    return (urlsplit(url).hostname or "").lower()


def target_with_host(deployment: DeploymentEntry) -> Target:
    """The codec's view of ``deployment``, with the upstream's host for its quirks."""
    return target_of(deployment, host=_known_host(deployment))


def build_body(request: ChatRequest, deployment: DeploymentEntry) -> dict[str, Any]:
    """The upstream Chat Completions body for ``request`` on ``deployment``."""
    return outbound.build_body(request, target_with_host(deployment))


# Caller headers a passed-through body never takes along: the caller's own credentials
# and its body's type, besides what no caller sets anywhere (``refused_caller_header``: the
# connection's own and the proxy's).
_CALLER_ONLY = frozenset({"authorization", "api-key", "x-api-key", "content-type"})


class OpenAICompatibleProvider(CodecProvider):
    kind = "openai"
    documents = Accepts()  # any: one by URL the gateway fetches (gateway.core.media_inline)
    catalog_vendor = KindVendor(by_name="openai")  # its host's, else OpenAI's names
    keyless: Keyless | None = Keyless(plain_http=True)  # a self-hosted server may take none
    trace_name = "openai"
    rerank_shape = "openai"
    form_help = FormHelp(
        base_url="Include the version path: https://api.openai.com/v1, http://host:8000/v1.",
        secret="The API key (stored encrypted) or os.environ/NAME (read when used).",
    )
    # gateway/features/batches/upstreams, gateway/features/passthrough
    settings_taken: tuple[Setting, ...] = (*BATCH_SETTINGS, *PASSTHROUGH_SETTINGS)
    speaks = CODECS["openai"]
    stream_accept = "text/event-stream"

    # -- addressing --
    def url(self, path: str, deployment: DeploymentEntry | None = None) -> str:
        return f"{wire.base_url(self.provider)}/{path}"

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return self.url("chat/completions", deployment)

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        """The base URL without its version path (``https://api.openai.com/v1`` ->
        ``https://api.openai.com``): OpenAI's SDK given ``{gateway}/openai/v1`` asks for
        ``/v1/...`` as it would of the vendor."""
        return wire.base_url(self.provider).removesuffix("/v1")

    def target(self, deployment: DeploymentEntry) -> Target:
        return target_with_host(deployment)

    # -- auth and headers --
    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        """The provider's extra headers and its secret (never the caller's key)."""
        secret, extra = wire.credentials(self.provider)
        headers.update(extra)
        headers.update(self.auth_headers(secret))

    def relayed(self, caller: Mapping[str, str]) -> dict[str, str]:
        """On passthrough only, the caller's headers but its credentials and hop-by-hop
        ones (translated calls send none)."""
        return {
            k: v
            for k, v in caller.items()
            if k.lower() not in _CALLER_ONLY and not refused_caller_header(k)
        }

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        return list(openai_chat_codec.unsupported_params(request, target_of(deployment)))

    # -- legacy completions and embeddings (passed through to their own endpoints) --
    async def embeddings(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        url = self.url("embeddings", deployment)
        return await self.relay(url, for_deployment(body, deployment), exchange, {})

    async def rerank(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> Any:
        # vLLM, Infinity and Jina-style servers: {api_base}/rerank; text-embeddings-inference
        # serves /rerank at its root only (its OpenAI routes are under /v1): a base URL
        # ending in /v1, as its embeddings need, loses it
        url = self.url("rerank", deployment)
        if deployment.params.get("rerank_api") == "tei":
            url = wire.base_url(self.provider).removesuffix("/v1") + "/rerank"
        return await self.post_json(url, body, exchange, {})

    async def media(
        self, post: MediaPost, deployment: DeploymentEntry, exchange: Exchange
    ) -> tuple[bytes, str]:
        # images/generations, images/edits, audio/transcriptions, audio/translations,
        # audio/speech: {api_base}/<path> (Azure: under the deployment's path)
        url = self.url(post.path, deployment)
        return await self.post_bytes(url, post.content, post.content_type, exchange)

    async def media_stream(
        self, post: MediaPost, deployment: DeploymentEntry, exchange: Exchange
    ) -> tuple[str, AsyncIterator[bytes]]:
        url = self.url(post.path, deployment)
        return await self.stream_bytes(url, post.content, post.content_type, exchange)

    async def text_completion(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        url = self.url("completions", deployment)
        return await self.relay(url, for_deployment(body, deployment), exchange, {})

    async def text_completion_stream(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Raw SSE events of a legacy completions stream, each with its canonical meaning
        (usage, finish, an in-stream error) for the journal."""
        url = self.url("completions", deployment)
        async for item in self.forward(url, for_deployment(body, deployment), exchange, {}):
            yield item

    def models_url(self, page: str) -> str:
        return self.url("models")

    # -- Realtime API (a WebSocket; the relay is gateway.core.realtime's) --
    def realtime_target(
        self, deployment: DeploymentEntry, query: Mapping[str, str], path: str = "realtime"
    ) -> tuple[str, dict[str, str]]:
        """The ``ws(s)://`` URL of the upstream's socket at ``path`` (``realtime``, or
        ``realtime/translations``: a translation session) for ``deployment`` (``query``
        added: ``intent``) and the headers that sign it. A transcription session
        (``intent=transcription``) names no model: OpenAI's guide says a URL with a model
        opens a conversation session, which refuses the transcription ``session.update``;
        its model is the one that update names (``gateway.core.realtime`` sets it)."""
        params = {} if "intent" in query else {"model": deployment.model}
        return _ws_url(self.url(path, deployment), {**params, **query}), self._realtime_headers()

    def realtime_secret_url(self, path: str, deployment: DeploymentEntry) -> str:
        """Where a Realtime client secret is created (``path``: ``realtime/
        client_secrets``, ``realtime/transcription_sessions``, ``realtime/translations/
        client_secrets``; ``gateway.core.realtime_secrets``)."""
        return self.url(path, deployment)

    def _realtime_headers(self) -> dict[str, str]:
        secret, extra = wire.credentials(self.provider)
        return {**extra, **self.auth_headers(secret)}


class AzureOpenAIProvider(OpenAICompatibleProvider):
    """Azure OpenAI: the deployment name is in the path, the key in ``api-key``."""

    kind = "azure"
    documents = Accepts()
    catalog_vendor = KindVendor("azure")
    keyless = None
    trace_name = "azure.ai.openai"
    rerank_shape = "openai"
    form_help = FormHelp(
        base_url="The resource: https://NAME.openai.azure.com.",
        secret="The Azure OpenAI key (stored encrypted) or os.environ/NAME.",
        api_version="api-version, e.g. 2024-10-21.",
    )

    @classmethod
    def model_problem(cls, model: str) -> str | None:
        """An Azure deployment's model is the deployment's name, which Azure reads in the
        URL (``/openai/deployments/<name>/``, a Realtime socket's ``?model=``) and, as its
        Realtime reference says, in a session's transcription ``model``: one that cannot
        be a URL's path segment (a ``/``, ``?``, ``#``: Azure's naming rules forbid ``#``
        in any name, as it breaks URL parsing; or a space) names no deployment, and every
        call would fail, so it is refused when saved."""
        if (
            model.strip()
            and not any(c in model for c in "/?#")
            and not any(c.isspace() for c in model)
        ):
            return None
        return (
            f"{model!r} cannot be an Azure deployment's name, which the model must be on "
            "Azure OpenAI (it names the deployment in every URL and as a Realtime "
            "session's transcription model): no '/', '?', '#' or spaces"
        )

    def url(self, path: str, deployment: DeploymentEntry | None = None) -> str:
        base = wire.base_url(self.provider)
        version = (
            wire.setting(self.provider, self.provider.api_version, "api version")
            or AZURE_DEFAULT_API_VERSION
        )
        if deployment is None:
            return f"{base}/openai/{path}?api-version={version}"
        return f"{base}/openai/deployments/{deployment.model}/{path}?api-version={version}"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"api-key": secret} if secret else {}

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        """The resource (``https://NAME.openai.azure.com``): Azure's SDK given
        ``{gateway}/azure`` as its endpoint asks for ``/openai/...`` under it."""
        return wire.base_url(self.provider).removesuffix("/openai")

    def realtime_target(
        self, deployment: DeploymentEntry, query: Mapping[str, str], path: str = "realtime"
    ) -> tuple[str, dict[str, str]]:
        """Azure's GA Realtime endpoint, ``/openai/v1/<path>?model=<deployment>`` (``path``:
        ``realtime``, or ``realtime/translations``, as Azure's reference names its
        translation client secrets ``/openai/v1/realtime/translations/client_secrets``);
        for a provider whose api version is a preview (``2025-04-01-preview``), the
        preview endpoint that version names: ``/openai/realtime?api-version=<version>&
        deployment=<deployment>``. The GA endpoint takes no api-version, so any other
        version (a GA date, ``v1``, none) uses it.

        A transcription session (``intent=transcription``) names no deployment in its
        URL: Azure refuses the socket of a transcription deployment (400
        ``OperationNotSupported``), and its Realtime reference says a session's
        transcription ``model`` is the name of the resource's transcription deployment,
        which ``gateway.core.realtime`` writes into the ``session.update``."""
        base = wire.base_url(self.provider)
        version = wire.setting(self.provider, self.provider.api_version, "api version")
        named = {} if "intent" in query else {"model": deployment.model}
        if version.lower().endswith("-preview"):
            named = {"deployment": named["model"]} if named else {}
            params = {"api-version": version, **named, **query}
            return _ws_url(f"{base}/openai/{path}", params), self._realtime_headers()
        url = f"{base}/openai/v1/{path}"
        return _ws_url(url, {**named, **query}), self._realtime_headers()

    def realtime_secret_url(self, path: str, deployment: DeploymentEntry) -> str:
        """Azure's GA endpoint (``/openai/v1/realtime/client_secrets``, and
        ``/openai/v1/realtime/translations/client_secrets`` as its reference names it)."""
        return f"{wire.base_url(self.provider)}/openai/v1/{path}"


def _ws_url(url: str, params: Mapping[str, str]) -> str:
    """``url`` (http or https) as a WebSocket URL with ``params`` in its query."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((scheme, parts.netloc, parts.path, query, ""))


__all__ = ["AzureOpenAIProvider", "OpenAICompatibleProvider", "build_body"]
