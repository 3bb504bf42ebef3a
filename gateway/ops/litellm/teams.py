"""Teams in a config file: Switchyard's own ``switchyard.teams`` section.

LiteLLM's proxy config has no teams (it makes them through its API and keeps them in
its database; ``litellm_settings.default_team_settings`` only sets callbacks per team
id), so teams ride in a top-level section of Switchyard's own, which LiteLLM does not
read::

    switchyard:
      teams:
        research:
          description: The research group
          rpm_limit: 600             # across the team's keys (empty: no limit)
          tpm_limit: 200000
          budget_usd: 250            # per budget_period: day, month (default) or total
          budget_period: month
          guardrails: [no-pii]       # names: guardrails every request of its keys runs
          mcp_allowed: [github]      # MCP servers (or server__tool) its keys may use at
                                     # most; absent: MCP is not restricted by the team

Members and keys are not in the file (people and secrets are made in the console or
the API). A team's guardrails and MCP servers must exist or be in the same file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from gateway.base.entries import same_named
from gateway.models import Team

SECTION = "switchyard"  # the top-level key
FIELDS = frozenset(
    {
        "description",
        "rpm_limit",
        "tpm_limit",
        "budget_usd",
        "budget_period",
        "guardrails",
        "mcp_allowed",
    }
)
PERIODS = ("day", "month", "total")


@dataclass(slots=True)
class TeamSpec:
    path: str  # "switchyard.teams.research"
    name: str
    description: str = ""
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    budget_usd: Decimal | None = None
    budget_period: str = "month"
    guardrails: list[str] = field(default_factory=list)
    mcp_allowed: list[str] | None = None

    def values(self) -> dict[str, Any]:
        return {
            **same_named(self, "description rpm_limit tpm_limit budget_usd budget_period"),
            "guardrails": list(self.guardrails),
            "mcp_allowed": None if self.mcp_allowed is None else list(self.mcp_allowed),
        }


def plan_teams(
    specs: list[TeamSpec],
    change: Callable[..., Any],
    guardrails: Iterable[str],
    mcp_servers: Iterable[str],
) -> tuple[list[Any], list[tuple[str, str]]]:
    """One ``change`` (``plan.Change``) per team that can be saved, and (path, reason)
    per one that cannot. ``guardrails`` and ``mcp_servers``: the names that exist once
    the file is applied (the registry's and the file's)."""
    known_guardrails, known_servers = set(guardrails), set(mcp_servers)
    existing = {t.name: t for t in Team.objects.all()}
    changes: list[Any] = []
    skipped: list[tuple[str, str]] = []
    for spec in specs:
        unknown = [n for n in spec.guardrails if n not in known_guardrails]
        if unknown:
            skipped.append(
                (spec.path, f"{spec.path}.guardrails: unknown guardrail(s): {', '.join(unknown)}")
            )
            continue
        servers = [entry.split("__", 1)[0] for entry in spec.mcp_allowed or []]
        unknown = [s for s in servers if s not in known_servers]
        if unknown:
            skipped.append(
                (spec.path, f"{spec.path}.mcp_allowed: unknown MCP server(s): {', '.join(unknown)}")
            )
            continue
        row = existing.get(spec.name) or Team(name=spec.name)
        values = spec.values()
        fields: dict[str, tuple[Any, Any]] = {}
        for name, new in values.items():
            old = getattr(row, name)
            if row.pk is None or old != new:
                if row.pk is not None:
                    fields[name] = (old, new)
                setattr(row, name, new)
        try:
            row.full_clean(exclude=["name"] if row.pk else None, validate_unique=False)
        except ValidationError as exc:
            if row.pk is not None:
                row.refresh_from_db()
            reason = "; ".join(
                f"{spec.path}.{name if name != '__all__' else ''}".rstrip(".")
                + f": {' '.join(messages)}"
                for name, messages in exc.message_dict.items()
            )
            skipped.append((spec.path, reason))
            continue
        action = "create" if row.pk is None else ("update" if fields else "unchanged")
        made = change(action, f"team {spec.name}", row, fields)
        made.item = spec.name
        changes.append(made)
    return changes, skipped


def export_section() -> dict[str, Any]:
    """Every team in the section's form (settings at their defaults left out)."""
    out: dict[str, Any] = {}
    for team in Team.objects.order_by("name"):
        entry: dict[str, Any] = {}
        if team.description:
            entry["description"] = team.description
        for name in ("rpm_limit", "tpm_limit"):
            if getattr(team, name) is not None:
                entry[name] = getattr(team, name)
        if team.budget_usd is not None:
            budget = Decimal(team.budget_usd).normalize()
            entry["budget_usd"] = int(budget) if budget == budget.to_integral() else float(budget)
        if team.budget_period != "month":
            entry["budget_period"] = team.budget_period
        if team.guardrails:
            entry["guardrails"] = list(team.guardrails)
        if isinstance(team.mcp_allowed, list):
            entry["mcp_allowed"] = list(team.mcp_allowed)
        out[team.name] = entry
    return out
