"""Anthropic's Messages API upstream (``{base_url}/v1/messages``): where it is
(base URL, a LiteLLM-style ``/v1`` suffix dropped), how it is authenticated
(``x-api-key``, the caller's ``anthropic-beta``), which API version it is spoken in
(the deployment's: ``params.anthropic_version``, else its provider's extra header, else
the catalog's for the model, else 2023-06-01; never the caller's), and its token
counting and model list. Posting, streaming, passthrough and error mapping are the
shared path's (``codec_provider``); what is said is ``gateway.codecs.anthropic``'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.base.documents import PDF, Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import UpstreamError
from gateway.base.types import ChatRequest
from gateway.catalog.matching import KindVendor
from gateway.catalog.rules import nearest_effort
from gateway.codecs import CODECS
from gateway.codecs.anthropic import outbound, versions
from gateway.codecs.base import ApiVersion, Target
from gateway.providers import wire
from gateway.providers.base import Exchange
from gateway.providers.codec_provider import CodecProvider, target_of
from gateway.providers.kinds import BATCH_SETTINGS, PASSTHROUGH_SETTINGS, FormHelp, Setting
from gateway.providers.passthrough_body import for_deployment

DEFAULT_BASE_URL = "https://api.anthropic.com"
# A LiteLLM-style api_base may name the API path; the adapter wants the host root.
_API_PATH = re.compile(r"/v1(/messages)?$")
DEFAULT_VERSION = versions.DEFAULT.name
# sampling params a body with thinking on must not carry (the API's limits then)
_THINKING_REFUSES = ("temperature", "top_k")


def build_body(request: ChatRequest, deployment: DeploymentEntry) -> dict[str, Any]:
    """The Messages API body for ``request`` on ``deployment`` (no ``stream`` key)."""
    return outbound.build_body(request, target_of(deployment))


class AnthropicProvider(CodecProvider):
    kind = "anthropic"
    documents = Accepts(
        frozenset({PDF, ""}),
        why="Anthropic documents are PDFs or plain text",
        why_url="Anthropic takes PDFs by URL, nothing else",
    )
    catalog_vendor = KindVendor("anthropic")
    keyless = None
    trace_name = "anthropic"
    needs_base_url = False
    default_base_url = DEFAULT_BASE_URL
    form_help = FormHelp(
        base_url="The host root; empty: https://api.anthropic.com.",
        secret="The Anthropic API key (stored encrypted) or os.environ/NAME.",
    )
    # gateway/features/batches/upstreams, gateway/features/passthrough
    settings_taken: tuple[Setting, ...] = (*BATCH_SETTINGS, *PASSTHROUGH_SETTINGS)
    speaks = CODECS["anthropic"]
    reasoning_families = frozenset({"claude"})
    counts_tokens = True  # POST /v1/messages/count_tokens
    api_versions = versions.VERSIONS
    default_api_version = versions.DEFAULT
    version_param = versions.PARAM

    def api_version(self, deployment: DeploymentEntry) -> ApiVersion:
        return versions.VERSIONS.get(self.version_sent(deployment), versions.DEFAULT)

    def version_sent(self, deployment: DeploymentEntry) -> str:
        """The ``anthropic-version`` ``deployment``'s requests carry: its params' (checked
        when saved), else its provider's extra header (the operator's, sent as set: a
        version newer than this gateway is held to the rules of the default), else the
        catalog's for the model, else the default."""
        named = deployment.params.get(versions.PARAM) if deployment.params else None
        if isinstance(named, str) and named in versions.VERSIONS:
            return named
        header = _header(self.provider.extra_headers, versions.HEADER)
        if header:
            return wire.setting(self.provider, header, versions.HEADER)
        named = getattr(deployment.catalog, "api_version", None)
        return named if isinstance(named, str) and named in versions.VERSIONS else DEFAULT_VERSION

    def target(self, deployment: DeploymentEntry) -> Target:
        return target_of(deployment, version=self.api_version(deployment))

    def for_upstream(
        self, headers: Mapping[str, str], deployment: DeploymentEntry
    ) -> Mapping[str, str]:
        version = self.version_sent(deployment)
        if headers.get(versions.HEADER) == version:
            return headers
        return {**headers, versions.HEADER: version}

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        if not deployment.params:
            return []
        target = self.target(deployment)
        version = target.api_version
        out = []
        for name in versions.param_fields(deployment.params):
            if name in target.refuses:
                out.append((f"{name} (deployment params)", "dropped", "the model refuses it"))
            elif version is not None and name in version.refuses:
                out.append((f"{name} (deployment params)", "dropped", version.why()))
        return out

    def conform_body(
        self, body: dict[str, Any], deployment: DeploymentEntry
    ) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        """The deployment's params as defaults (sampling ones only where the body's
        thinking allows them), a budget made adaptive thinking for a model that takes
        nothing else, then the body held to the deployment's API version."""
        target = self.target(deployment)
        version = target.api_version
        assert version is not None  # every deployment of this kind speaks one
        changes: list[tuple[str, str, str]] = []
        out = body
        if deployment.params:
            thinking = body.get("thinking")
            thinks = isinstance(thinking, dict) and thinking.get("type") != "disabled"
            changes += self.dropped_params(deployment)
            added = {
                name: value
                for name, value in versions.param_fields(deployment.params).items()
                if name not in body
                and name not in target.refuses
                and name not in version.refuses
                and not (thinks and name in _THINKING_REFUSES)
                and not (thinks and name == "top_p" and not _at_least(value, 0.95))
            }
            if added:
                out = {**body, **added}
        thinking = out.get("thinking")
        if (
            target.adaptive_thinking
            and isinstance(thinking, dict)
            and thinking.get("type") == "enabled"
            and isinstance(thinking.get("budget_tokens"), int)
        ):
            effort = nearest_effort(thinking["budget_tokens"])
            out = versions.adaptive_thinking(out, effort)
            changes.append(
                (
                    "thinking.budget_tokens",
                    "rewritten",
                    f"the model takes adaptive thinking only: sent as adaptive thinking at "
                    f"effort {versions.anthropic_effort(effort)}",
                )
            )
        out, more = versions.conform(out, version)
        return out, changes + more

    def url(self, path: str) -> str:
        base = wire.base_url(self.provider) or DEFAULT_BASE_URL
        if self.provider.base_url.startswith("os.environ/"):  # read now: normalise like import
            base = _API_PATH.sub("", base)
        return base.rstrip("/") + path

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return self.url("/v1/messages")

    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        """The host root (``https://api.anthropic.com``): Anthropic's SDK given
        ``{gateway}/anthropic`` asks for ``/v1/...`` under it."""
        base = wire.base_url(self.provider) or DEFAULT_BASE_URL
        return _API_PATH.sub("", base).rstrip("/")

    def forwarded(self, caller: Mapping[str, str]) -> dict[str, str]:
        headers = {"anthropic-version": caller.get("anthropic-version") or DEFAULT_VERSION}
        if caller.get("anthropic-beta"):
            headers["anthropic-beta"] = caller["anthropic-beta"]
        return headers

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        secret, extra = wire.credentials(self.provider)
        headers["x-api-key"] = secret
        version = headers.get(versions.HEADER) or DEFAULT_VERSION
        headers.update(extra)
        for name in [n for n in headers if n.lower() == versions.HEADER]:
            del headers[name]  # the deployment's version, chosen above, is the one sent
        headers[versions.HEADER] = version

    async def count_tokens(
        self, request: ChatRequest, deployment: DeploymentEntry, body: dict[str, Any]
    ) -> int | None:
        source = (
            for_deployment(body, deployment)
            if body and "messages" in body
            else build_body(request, deployment)
        )
        counted = {name: source[name] for name in outbound.COUNT_FIELDS if name in source}
        counted, _changes = versions.conform(counted, self.api_version(deployment))
        url = self.url("/v1/messages/count_tokens")
        caller = self.for_upstream(request.headers, deployment)
        content, sent = await self._signed(url, counted, caller)
        data = await self._post_json(url, content, sent, Exchange())
        value = data.get("input_tokens") if isinstance(data, dict) else None
        if not isinstance(value, int):
            raise UpstreamError("Anthropic count_tokens answer has no input_tokens")
        return value

    def models_url(self, page: str) -> str:
        return self.url("/v1/models?limit=1000")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (any case) among ``headers``."""
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _at_least(value: Any, floor: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= floor


__all__ = ["AnthropicProvider", "build_body"]
