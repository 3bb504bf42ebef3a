"""Applying an import plan to the registry: all or nothing, planned again inside the
transaction so a preview that went stale cannot half-apply; importing twice changes
nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db import transaction

from gateway.ops.litellm.parse import Skipped
from gateway.ops.litellm.plan import ImportPlan, plan_import
from gateway.telemetry import audit
from gateway.web import litellm_sections


@dataclass(slots=True)
class ImportResult:
    counts: dict[str, Counter[str]]
    warnings: list[str]
    notes: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    totals: str = ""  # ImportPlan.summary() of what was applied

    @classmethod
    def of(cls, plan: ImportPlan, verb: str) -> ImportResult:
        """What writing ``plan`` did (``verb`` of its totals: imported, applied)."""
        return cls(plan.counts(), plan.warnings, plan.notes, plan.skipped, plan.summary(verb))

    def summary(self) -> str:
        parts = [
            f"{section}: {c['create']} created, {c['update']} updated, "
            + (f"{c['delete']} removed, " if c["delete"] else "")
            + f"{c['unchanged']} unchanged"
            for section, c in self.counts.items()
        ]
        return "; ".join(parts)


def apply_plan(plan: ImportPlan) -> ImportResult:
    """Apply ``plan`` all-or-nothing. It is planned again inside the transaction so the
    rows written match the database as it is now, not as it was at preview time."""
    with transaction.atomic(), audit.via("import"):
        fresh = plan_import(plan.config, plan.existing)
        for own in ("providers", "routes", "deployments"):
            for change in fresh.changes(own):
                if change.action == "delete":
                    change.obj.delete()
                elif change.action != "unchanged":
                    change.obj.save()
        for section in litellm_sections.sections():  # the units' (MCP servers, guardrails)
            for change in fresh.changes(section.key):
                if change.action != "unchanged":
                    change.obj.save()
        for change in fresh.teams:
            if change.action != "unchanged":
                change.obj.save()
        for change in fresh.keys:
            if change.action != "unchanged":
                change.obj.save()
                change.obj.routes.clear()
        audit.record(
            "import", object_type="config", object_name="LiteLLM config", detail=fresh.summary()
        )
    return ImportResult.of(fresh, "imported")
