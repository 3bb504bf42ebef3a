"""The Gemini Interactions API as an upstream (``kind = "gemini_interactions"``): for
models Google serves only there. HTTP and auth only; what is said is the
``gemini_interactions`` codec's (stateless: the whole conversation each turn).

Spelled like the Responses upstream: LiteLLM's ``model: gemini/interactions/<model>``
with the Gemini ``api_base``. ``base_url`` is the host root (default
``https://generativelanguage.googleapis.com``; a base ending in a version path such as
``/v1`` is used as is), ``api_version`` the version path (default ``v1beta``);
requests go to ``{base}/{version}/interactions``, streamed ones with ``stream: true``
in the body (no ``?alt=sse``). The key goes in the ``x-goog-api-key`` header, never
in the URL; ``Api-Revision`` pins the ``steps`` schema the codec speaks.
"""

from __future__ import annotations

from urllib.parse import quote

from gateway.base import errors
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.types import ChatRequest
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.base import Target
from gateway.codecs.gemini_interactions import codec as interactions_codec
from gateway.codecs.gemini_interactions import upstream_maps
from gateway.providers import wire
from gateway.providers.codec_provider import CodecProvider
from gateway.providers.gemini import (
    CONTROL_PARAMS,
    DEFAULT_API_VERSION,
    DEFAULT_BASE_URL,
    google_dropped_params,
    google_target,
    host_root,
)
from gateway.providers.kinds import PASSTHROUGH_SETTINGS, FormHelp


class GeminiInteractionsProvider(CodecProvider):
    kind = "gemini_interactions"
    documents = Accepts()  # any
    catalog_vendor = KindVendor("gemini")
    keyless = None
    trace_name = "gcp.gemini"
    needs_base_url = False
    default_base_url = DEFAULT_BASE_URL
    credential_params = CONTROL_PARAMS | {"base_url", "api_key"}
    form_help = FormHelp(
        base_url="Empty: https://generativelanguage.googleapis.com (requests go to "
        "/v1beta/interactions).",
        secret="The Gemini API key (stored encrypted) or os.environ/NAME; sent in the "
        "x-goog-api-key header.",
        api_version="The version path; empty: v1beta.",
    )
    speaks = CODECS["gemini_interactions"]
    stream_accept = "text/event-stream"
    # Implicit caching, as on the Gemini API (short-lived, no documented lifetime).
    prompt_cache_seconds = 180.0

    settings_taken = PASSTHROUGH_SETTINGS  # gateway/features/passthrough

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        return host_root(wire.base_url(self.provider) or DEFAULT_BASE_URL)

    def root(self) -> str:
        base = (self.provider.base_url or DEFAULT_BASE_URL).rstrip("/")
        if base.rsplit("/", 1)[-1].startswith("v1"):  # the version is in the base URL
            return base
        return f"{base}/{self.provider.api_version or DEFAULT_API_VERSION}"

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return f"{self.root()}/interactions"

    def target(self, deployment: DeploymentEntry) -> Target:
        return google_target(deployment, deployment.model.removeprefix("models/"))

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        return google_dropped_params(deployment)

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        secret, extra = wire.credentials(self.provider)
        if not secret:
            raise errors.ConfigurationError(
                f"provider {self.provider.name!r} has no Gemini API key (set its secret)"
            )
        headers.update(extra)
        headers["x-goog-api-key"] = secret
        headers.setdefault("Api-Revision", upstream_maps.API_REVISION)

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        return interactions_codec.unsupported_params(request, self.target(deployment))

    def models_url(self, page: str) -> str:
        return f"{self.root()}/models?pageSize=1000" + (f"&pageToken={quote(page)}" if page else "")


__all__ = ["GeminiInteractionsProvider"]
