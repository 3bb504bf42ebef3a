"""What ``GatewayConfig.ready`` registers into ``gateway.base.hooks`` for the journal
and the pipeline, without importing the request stack."""

from __future__ import annotations

from gateway.base import hooks
from gateway.features.mcp import plugin as mcp_plugin
from gateway.telemetry import audit, rollups, spend


def test_the_pruning_round_asks_the_rollups_audit_and_stored_responses_in_order() -> None:
    names = [f"{p.__module__}.{p.__name__}" for p in hooks.pruners]
    ours = [
        f"{rollups.__name__}.prune_expired",
        f"{spend.__name__}.prune_expired",
        f"{audit.__name__}.prune_expired",
        "gateway.features.responses.plugin.prune_stored",
    ]
    assert [name for name in names if name in ours] == ours


def test_hosted_mcp_tools_are_the_chat_jobs_extra_job() -> None:
    assert mcp_plugin.HOSTED_TOOLS in list(hooks.extra_jobs)
