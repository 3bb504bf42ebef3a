"""The kit a unit builds its section of a LiteLLM config on (``gateway.web.units``): a
unit's ``litellm.py`` declares ``SECTION = Section(...)``, and the import, the plan, the
export and config as code (``gateway.ops.litellm``, ``gateway.ops.apply``) compose the
sections of the installed units (``sections()``) instead of naming them.

A section is one top-level key of the file (``mcp_servers:``, ``guardrails:``) and the
rows of one table:

- ``parse(reader, value)``: the file's value as specs (plain objects with a ``path``
  and a ``name``), read with the parser's typed readers (``Reader``); an entry that
  cannot be read is skipped through ``reader.guarded`` (listed, naming its path).
- ``plan(specs, operator)``: a ``Change`` per spec that can be saved (validated as the
  unit's own save would), and ``(path, reason)`` per one that cannot. ``operator``: the
  file is the operator's own (trusted), not an upload.
- ``export(include_secrets, comments)``: the table's rows in the file's form (empty:
  none), a comment for what has no form or is written as an ``os.environ/`` name.
- ``secrets(spec)``: ``(path, value)`` of what a save stores encrypted, and of the
  spec's other strings, for config as code (a literal secret is refused there; every
  ``os.environ/`` reference is judged).

``what`` names a row in sentences ("guardrail", "MCP server"); ``named_by`` lists the
fields of keys, teams and routes that name its rows (what config as code refuses to
remove while something still names it). Sections are planned, written and counted in
the order of ``INSTALLED_APPS``, after the deployments and keys and before the teams
(which may name their rows)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

from django.core.exceptions import ValidationError

from gateway.web import units


class ConfigError(Exception):
    """The file cannot be imported; the message names the line or the field path."""


@dataclass(slots=True)
class Change:
    """One row the import creates, updates or leaves as is. ``obj`` carries the new
    values (unsaved when created); ``fields`` lists (old, new) for an update."""

    action: str  # "create" | "update" | "delete" | "unchanged"
    label: str
    obj: Any  # a Django model instance
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    route: str = ""  # for the preview table: the route it belongs to
    item: str = ""  # and its own name (deployment "provider/model", provider, key)


class Spec(Protocol):
    """A section's entry as read: where it stood in the file (``path``)."""

    path: str


S = TypeVar("S", bound=Spec)


def plan_each(
    specs: Iterable[S], plan: Callable[[S], Change]
) -> tuple[list[Change], list[tuple[str, str]]]:
    """A ``Change`` per entry, and (its path, the reason) per one that cannot be imported
    (its ``ConfigError``): the others are still planned."""
    changes: list[Change] = []
    skipped: list[tuple[str, str]] = []
    for spec in specs:
        try:
            changes.append(plan(spec))
        except ConfigError as exc:
            skipped.append((spec.path, str(exc)))
    return changes, skipped


class Reader(Protocol):
    """The parser's typed readers (``gateway.ops.litellm.parse``): each names the path
    it complains about in the ``ConfigError`` it raises."""

    def warn(self, message: str) -> None: ...

    def unknown(self, path: str, keys: Any, what: str = "setting") -> None:
        """A warning per key the importer skips (a setting Switchyard does not model)."""

    def guarded(self, path: str, read: Any, *args: Any) -> Any:
        """``read(*args)``; a ``ConfigError`` skips that part (listed) and returns None."""

    def mapping(self, value: Any, path: str) -> dict[str, Any]: ...

    def sequence(self, value: Any, path: str) -> list[Any]: ...

    def string(self, value: Any, path: str, *, required: bool = False) -> str: ...

    def reference_or_text(self, value: Any, path: str) -> str: ...

    def number(self, value: Any, path: str) -> float | None: ...

    def boolean(self, value: Any, path: str) -> bool | None: ...

    def string_map(self, value: Any, path: str) -> dict[str, str]: ...

    def references(self, value: Any, path: str) -> None:
        """Note every ``os.environ/NAME`` inside ``value``."""


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # the file's top-level key, and the plan's name of the section
    what: str  # a row in a sentence: "guardrail"
    model: Any  # the table (a Django model) whose rows it writes
    named_by: tuple[str, ...]  # fields of keys, teams and routes that name its rows
    parse: Callable[[Reader, Any], list[Any]]
    plan: Callable[[list[Any], bool], tuple[list[Change], list[tuple[str, str]]]]
    export: Callable[[bool, list[str]], Any]
    secrets: Callable[[Any], tuple[list[tuple[str, str]], list[tuple[str, str]]]]


def sections() -> list[Section]:
    """The installed units' sections (each unit's ``litellm.SECTION``), in the order of
    ``INSTALLED_APPS``."""
    return [module.SECTION for module in units.modules("litellm")]


def env_variable(*parts: str) -> str:
    """An environment variable name from ``parts`` that shells accept (the name an
    export writes in place of a stored secret)."""
    name = re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")
    return name if re.match(r"[A-Z_]", name) else f"_{name}"


def dollars(value: Any, path: str) -> Decimal:
    """A price or budget in USD: a number, 0 or more (``ConfigError`` naming ``path``)."""
    if isinstance(value, bool):
        raise ConfigError(f"{path}: not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{path}: not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ConfigError(f"{path}: must be a number of dollars, 0 or more")
    return amount


def strings(value: Any, path: str) -> Iterable[tuple[str, str, str]]:
    """(path, key, string) for every string in ``value`` (nested dicts and lists)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield f"{path}.{key}", str(key), item
            else:
                yield from strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")


def validate(obj: Any, path: str, only: set[str] | None = None) -> None:
    """Model validation at plan time, so a dry run catches what saving would reject (a
    ``ConfigError`` naming ``path``). ``only``: the fields an update changes (a row saved
    elsewhere with, say, a provider name the console would refuse still takes the
    file's values)."""
    exclude = [f.name for f in obj._meta.fields if f.is_relation] + ["key_hash"]
    if only is not None:
        exclude += [f.name for f in obj._meta.fields if f.name not in only]
    try:
        obj.clean_fields(exclude=exclude)
        obj.clean()
    except ValidationError as exc:
        raise ConfigError(f"{path}: {reasons(exc)}") from None


def reasons(exc: ValidationError) -> str:
    """A validation error's messages in one line: ``field: message; field: message``."""
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())


def change(
    label: str,
    obj: Any,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    item: str,
    secret: tuple[str, ...] = (),
) -> Change:
    """The ``Change`` of a row compared as ``before`` (None: not saved yet, a create) and
    ``after``: the fields that differ, as (old, new), a ``secret`` one's values not shown;
    unchanged when none differs."""
    if before is None:
        return Change("create", label, obj, {}, item=item)
    fields = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    for name in secret:
        if name in fields:
            fields[name] = ("(stored)", "(new value)")
    return Change("update" if fields else "unchanged", label, obj, fields, item=item)
