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

from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.types import ChatRequest
from gateway.codecs import CODECS
from gateway.codecs.base import Target
from gateway.codecs.gemini_interactions import codec as interactions_codec
from gateway.codecs.gemini_interactions import upstream_maps
from gateway.providers.gemini import (
    CONTROL_PARAMS,
    GeminiApi,
    google_dropped_params,
    google_target,
)
from gateway.providers.kinds import FormHelp


class GeminiInteractionsProvider(GeminiApi):
    kind = "gemini_interactions"
    documents = Accepts()  # any
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

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return f"{self.root()}/interactions"

    def target(self, deployment: DeploymentEntry) -> Target:
        return google_target(deployment, deployment.model.removeprefix("models/"))

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        return google_dropped_params(deployment)

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        headers.update(self.auth())
        headers.setdefault("Api-Revision", upstream_maps.API_REVISION)

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        return interactions_codec.unsupported_params(request, self.target(deployment))


__all__ = ["GeminiInteractionsProvider"]
