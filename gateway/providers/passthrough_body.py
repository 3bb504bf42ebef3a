"""The one rewrite of a passed-through body: what a same-format caller's JSON becomes
before it goes upstream unparsed (chat, legacy completions, embeddings, a count).

A request whose budget hold assumed the deployment's max output (it named no ceiling) is
given that ceiling too (``with_held_ceiling``). Everything else the upstream is sent is
the caller's: the stream flag and the usage a
stream must report are the codec's (``PassthroughCodec.stream_body``), fields a model
does not take are dropped by ``capabilities.adapt_body`` before this. Each rewrite
copies what it changes, never a value in place: a long body is sent as views of the
caller's bytes wherever it still holds the very value parsed (``json_layout``)."""

from __future__ import annotations

from typing import Any

from gateway.base.entries import DeploymentEntry
from gateway.codecs.base import PassthroughCodec, Target

# Output ceilings a caller names, in the formats that pass through.
OUTPUT_CEILINGS = ("max_tokens", "max_completion_tokens")


def for_deployment(body: dict[str, Any], deployment: DeploymentEntry) -> dict[str, Any]:
    """A copy of ``body`` for ``deployment``: its upstream model id, the caller's output
    ceiling within the deployment's (capped here, once), and no
    ``previous_response_id`` (the gateway resolved it; the upstream never stored it).
    The caller's dict is left as it was."""
    out = dict(body)
    out["model"] = deployment.model
    out.pop("previous_response_id", None)
    ceiling = deployment.max_output_tokens
    if ceiling:
        for name in OUTPUT_CEILINGS:
            value = out.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > ceiling:
                out[name] = ceiling
    return out


def with_held_ceiling(
    body: dict[str, Any], ceiling: int, codec: PassthroughCodec, target: Target
) -> dict[str, Any]:
    """``body`` given the output ceiling its budget hold assumed, in its format's own
    field (``codec.with_output_ceiling``), when it names none; the caller's own ceiling
    is left as it is (``for_deployment`` caps it)."""
    return codec.with_output_ceiling(body, ceiling, target)
