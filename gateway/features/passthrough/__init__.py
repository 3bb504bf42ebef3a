"""Passthrough: a vendor's own API reached through the gateway with a virtual key
(``/{vendor}/...``: ``/openai/v1/...``, ``/anthropic/v1/...``, ``/gemini/v1beta/...``,
``/vertex_ai/v1/...``, ``/bedrock/model/...``, ``/azure/openai/...``, ``/mistral/v1/...``,
``/cohere/v2/...``; LiteLLM's spellings), for what the gateway does not model (a new
beta, a vendor's own endpoint). Docs: docs/providers.md, "Passthrough".

- ``paths``: the prefixes, the path and query checked (they can only name a path under
  the provider's API root), the headers that go along and come back;
- ``selection``: which provider, route and deployment a request reaches (the rule, in
  its docstring), from an index of the registry snapshot;
- ``shapes``: what is read of a body passed through unchanged (texts for guardrails, the
  output ceiling, the model) and of its answer as it streams by (usage, model);
- ``pricing``: the usage priced for the model the call names;
- ``job``: the endpoint's part in the pipeline (``core.service``: key, route decision,
  rpm/tpm, budget hold and cost, tags, guardrails, journal, trace) and the relay;
- ``plugin``: the job and the catalog part, registered from ``GatewayConfig.ready``.

Per-kind facts are the providers': where a kind's API hangs off and how any request to
it is signed (``Provider.api_root``, ``api_scope``, ``sign_api_call``: a key, Vertex AI's
token, Bedrock's SigV4), and whether it takes passthrough at all (its
``settings_taken`` holds ``kinds.PASSTHROUGH_SETTINGS``: ``passthrough`` on/off and
``passthrough_paths``, refused when saved if invalid).

Errors the gateway answers itself come in the vendor's own envelope (the client codec of
the provider's format: OpenAI's, Anthropic's, Google's); an upstream's answer, error or
not, comes back as the upstream sent it (its status, its headers but hop-by-hop ones,
the provider's credentials taken out of an error body). What the edge calls is here:
``prefix_of``, ``target``, ``dialect_for`` and ``TARGET``."""

from __future__ import annotations

from gateway.features.passthrough.paths import PREFIXES, SUFFIX, TARGET, Target, prefix_of, target
from gateway.features.passthrough.plugin import ENDPOINT
from gateway.features.passthrough.selection import dialect_for

DECLARED = ("passthrough", "passthrough_opaque")  # gateway.base.endpoints

__all__ = [
    "DECLARED",
    "ENDPOINT",
    "PREFIXES",
    "SUFFIX",
    "TARGET",
    "Target",
    "dialect_for",
    "prefix_of",
    "target",
]
