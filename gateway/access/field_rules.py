"""Who may write each field of each resource: one table, asked by every writer.

A resource's action rule (``key.change``, ``route.change``, an ability in ``roles``) says
whether an actor may touch a row at all; this table says, field by field, what they may
do to it once they can. Each writable field has a ``FieldRule``:

- ``set``: the lowest role that may give the field a value or change it;
- ``clear``: the lowest role that may empty it (null, ``""``, ``[]``);
- ``only_add`` (lists): below ``clear``, a role may add items but never remove one
  already stored (a member adds a guardrail to their key; only an admin takes one off).

A value equal to the stored one asks nothing (a form re-sends every field). A field the
table does not name is refused for everyone, so a new field is never open by mistake;
``tests/gateway/access/test_field_rules.py`` walks every ``/api`` write schema and every
console form and fails for a field without a rule. ``rule`` names the action rule that
also judges the value (``key.grant``: within the team's bounds), where one does.

``/api`` (``gateway.web.api.writes.check_fields``) and the console's forms ask
``refusals``. A unit declares its own resources' rules beside its code (``declare``:
the guardrails', the MCP servers', people's). ``manage.py import_config`` and ``switchyard apply``
run as the operator, who owns the host, and are trusted: they do not ask
(``docs/security.md``, operator boundary). ``docs/security.md`` "Field rules" is this
table in prose."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.access import roles

RANK = {role: index for index, role in enumerate(roles.ROLES)}  # owner 0 ... viewer 4


@dataclass(frozen=True, slots=True)
class FieldRule:
    set: str  # the lowest role that may set or change the field
    clear: str  # the lowest role that may empty it (and, with only_add, remove an item)
    only_add: bool = False  # a list: below ``clear``, items may be added, never removed
    rule: str = ""  # the action rule that also judges the value, if any

    def __post_init__(self) -> None:
        if self.set not in RANK or self.clear not in RANK:
            raise ValueError(f"unknown role in {self!r}")


OWNER, ADMIN, EDITOR, MEMBER, VIEWER = roles.ROLES


def _same(role: str, *names: str, rule: str = "") -> dict[str, FieldRule]:
    return {name: FieldRule(role, role, rule=rule) for name in names}


same = _same  # for a unit's table (``declare``): ``role`` sets and clears each of ``names``


_ADDS = FieldRule(MEMBER, ADMIN, only_add=True)  # a key's guardrails and tags

FIELDS: dict[str, dict[str, FieldRule]] = {
    "keys": {
        **_same(MEMBER, "name", "budget_period", "max_budget_per_user", "expires_at"),
        **_same(MEMBER, "alert_thresholds"),
        **_same(MEMBER, "routes", "rpm_limit", "tpm_limit", "budget_usd", rule="key.grant"),
        # narrowing a key's MCP grant is free; widening is judged by key.grant (within
        # the team's bound; a team without one grants nothing new below admin)
        "mcp_allowed": FieldRule(MEMBER, MEMBER, rule="key.grant"),
        # the A2A agents a key may call (within its team's bound): granted by admins,
        # narrowed by whoever may change the key
        "a2a_allowed": FieldRule(ADMIN, MEMBER),
        "team": FieldRule(MEMBER, ADMIN, rule="key.grant"),
        "user": FieldRule(MEMBER, ADMIN, rule="key.grant"),
        "scopes": FieldRule(ADMIN, ADMIN, rule="key.grant"),
        "management": FieldRule(ADMIN, ADMIN, rule="key.grant"),  # the console's spelling of scopes
        "guardrails": _ADDS,
        # below admin, tags are added (never removed); to a key that enforces its tags,
        # only admins add any (``_enforced_tags``): its tags are attribution
        "tags": _ADDS,
        "enforce_tags": _same(ADMIN, "enforce_tags")["enforce_tags"],
    },
    # a tag's budget and limits (counted across every key carrying the tag)
    "tags": _same(
        ADMIN,
        *("name", "description", "max_budget", "budget_period", "budget_duration"),
        *("rpm_limit", "tpm_limit"),
    ),
    "routes": {
        **_same(EDITOR, "name", "description", "enabled", "strategy", "fallbacks"),
        **_same(
            EDITOR, "context_window_fallbacks", "drop_params", "default_params", "max_attempts"
        ),
        **_same(EDITOR, "timeout", "retry_budget", "cache_ttl", "cache_scope"),
        **_same(EDITOR, "auto_cache_breakpoints", "shadow_routes", "shadow_percent"),
        **_same(EDITOR, "mcp_passthrough", "batch_mode"),
        **_same(EDITOR, "semantic_cache_ttl", "semantic_cache_threshold", "semantic_cache_scope"),
        **_same(EDITOR, "semantic_cache_route", "semantic_cache_dialects"),
        **_same(EDITOR, "web_search_backend", "web_search_url", "web_search_key"),
        **_same(EDITOR, "web_search_price"),
        "deployments": FieldRule(EDITOR, EDITOR, rule="deployment.params"),
        # attaching a new server is mcp.server.attach's (owners, admins); keeping or
        # removing one needs no more than changing the route
        "mcp_servers": FieldRule(EDITOR, EDITOR, rule="mcp.server.attach"),
        "guardrails": FieldRule(EDITOR, ADMIN, only_add=True),
        # below admin, a route stays limited to teams the editor edits: never opened to all
        "teams": FieldRule(EDITOR, ADMIN, rule="route.change"),
    },
    "deployments": {
        **_same(EDITOR, "provider", "model", "enabled", "weight", "rpm", "tpm"),
        **_same(EDITOR, "input_price", "output_price", "cache_read_price", "cache_write_price"),
        **_same(EDITOR, "search_unit_price", "context_window", "max_output_tokens"),
        **_same(EDITOR, "price_per_image", "price_per_second", "price_per_character"),
        **_same(
            EDITOR, "supports_tools", "supports_vision", "supports_reasoning", "supports_top_k"
        ),
        "params": FieldRule(EDITOR, EDITOR, rule="deployment.params"),
    },
    # the console's one form for a route and its deployment (a new provider: provider.change)
    "add_model": _same(
        EDITOR, "provider", "model", "route_name", "input_price", "output_price", "context_window"
    ),
    "providers": _same(
        ADMIN,
        *("name", "kind", "base_url", "api_version", "extra_headers", "timeout"),
        *("settings", "secret", "clear_secret"),
        rule="provider.change",
    ),
    "scores": _same(VIEWER, "name", "value", "label", "comment", rule="score.write"),
    # score configs govern every score of their name: owners and admins (evals.use)
    "score_configs": _same(
        ADMIN, "name", "data_type", "min_value", "max_value", "categories", "description"
    ),
    # evaluations: admins and owners (ability evals.use)
    "datasets": _same(ADMIN, "name", "description", "rows", "row", "file"),
    "datasets_from_log": _same(ADMIN, "name", "filters", "with_answers", "limit"),
    "experiments": _same(ADMIN, "dataset", "columns", "scorers", "name", "concurrency", "baseline"),
    "prompt_comparisons": _same(
        ADMIN, "prompt", "versions", "dataset", "route", "scorers", "concurrency"
    ),
    "evaluators": _same(
        ADMIN,
        "name",
        "route",
        "tag",
        "filters",
        "scorer",
        "score_name",
        "sample_rate",
        "budget_usd_per_day",
        "alert_below",
        "alert_window",
        "status",
    ),  # fmt: skip
    "annotation_queues": _same(
        ADMIN,
        "name",
        "description",
        "score_configs",
        "route",
        "key",
        "tag",
        "status",
        "since",
        "until",
        "sample",
        "lock_minutes",
    ),  # fmt: skip
    "annotation_queue_items": _same(ADMIN, "request_ids"),
}


def declare(resource: str, table: Mapping[str, FieldRule]) -> None:
    """A unit's own resource and its fields' rules (``gateway.web.units``: its
    ``rules.py``, imported by its ``register``), beside the table above. Declaring a
    resource again with other rules raises: one table per resource."""
    current = FIELDS.get(resource)
    if current is not None and current != dict(table):
        raise ValueError(f"the field rules of {resource!r} are declared twice")
    FIELDS[resource] = dict(table)


def at_least(actor: roles.Actor, role: str) -> bool:
    """Whether ``actor``'s role is ``role`` or above (the master key is an owner)."""
    return actor.role is not None and RANK.get(actor.role, len(RANK)) <= RANK[role]


def _empty(value: Any) -> bool:
    return (
        value is None or value == "" or (isinstance(value, list | tuple | set | dict) and not value)
    )


def _items(value: Any) -> set[str]:
    """A list field's items as strings (a comma/space separated string split; rows by name)."""
    if _empty(value):
        return set()
    if isinstance(value, str):
        return {part for part in value.replace(",", " ").split() if part}
    if isinstance(value, Mapping):
        return {str(k) for k in value}
    if isinstance(value, Iterable):
        return {_name(item) for item in value}
    return {_name(value)}


def _name(value: Any) -> str:
    for attribute in ("name", "username"):
        found = getattr(value, attribute, None)
        if isinstance(found, str):
            return found
    return str(value).strip()


def _same_value(value: Any, stored: Any) -> bool:
    if isinstance(value, list | tuple | set) or isinstance(stored, list | tuple | set):
        return _items(value) == _items(stored)
    if hasattr(stored, "pk"):  # a row: named by id or by name
        return str(value).strip() in {str(stored.pk), _name(stored)} or value == stored
    return value == stored or str(value).strip() == str(stored).strip()


def _role_names(role: str) -> str:
    return {OWNER: "owners", ADMIN: "owners and admins", EDITOR: "editors and above"}.get(
        role, f"{role}s"
    )


def refusals(
    actor: roles.Actor,
    resource: str,
    sent: Mapping[str, Any],
    stored: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Field -> why ``actor`` may not write it, for each field of ``sent`` the table
    refuses (empty: all may be written). ``stored``: the row's current values of those
    fields (None: a new row, nothing to clear)."""
    table = FIELDS.get(resource, {})
    out: dict[str, str] = {}
    for field, value in sent.items():
        found = table.get(field)
        if found is None:
            out[field] = f"no rule says who may write {resource}.{field}"
            continue
        before = None if stored is None else stored.get(field)
        if stored is not None and _same_value(value, before):
            continue
        if found.only_add and not at_least(actor, found.clear):
            removed = _items(before) - _items(value)
            if removed:
                out[field] = (
                    f"your role may add to {field} but not remove {', '.join(sorted(removed))}"
                    f" (only {_role_names(found.clear)} may)"
                )
                continue
        if _empty(value):
            if not _empty(before) and not at_least(actor, found.clear):
                out[field] = f"only {_role_names(found.clear)} may clear {field}"
        elif not at_least(actor, found.set):
            out[field] = f"only {_role_names(found.set)} may set {field}"
    if resource == "keys" and "tags" not in out:
        why = _enforced_tags(actor, sent, stored)
        if why:
            out["tags"] = why
    return out


def _enforced_tags(
    actor: roles.Actor, sent: Mapping[str, Any], stored: Mapping[str, Any] | None
) -> str:
    """A key that enforces its tags (stored, or set by this write) carries only its
    own, so its tag spend is attribution: below admin, none may be added to it."""
    if "tags" not in sent or at_least(actor, ADMIN):
        return ""
    before = stored or {}
    enforced = bool(sent.get("enforce_tags")) or bool(before.get("enforce_tags"))
    added = _items(sent["tags"]) - _items(before.get("tags"))
    if enforced and added:
        return (
            f"this key enforces its tags: only {_role_names(ADMIN)} may add "
            f"{', '.join(sorted(added))}"
        )
    return ""


def refusal(
    actor: roles.Actor,
    resource: str,
    sent: Mapping[str, Any],
    stored: Mapping[str, Any] | None = None,
) -> str:
    """``refusals`` as one caller-facing sentence ("" when nothing is refused)."""
    found = refusals(actor, resource, sent, stored)
    return "; ".join(f"{field}: {why}" for field, why in found.items())


def stored_values(instance: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` of a row, as ``refusals`` compares them: a
    many-to-many as its rows, a missing attribute as None."""
    values: dict[str, Any] = {}
    fields = list(fields)
    if "tags" in fields and hasattr(instance, "enforce_tags"):
        fields.append("enforce_tags")  # whether tags may be added (``_enforced_tags``)
    for field in fields:
        value: Any = getattr(instance, field, None)
        every = getattr(value, "all", None)
        values[field] = list(every()) if callable(every) else value  # a related manager: rows
    return values
