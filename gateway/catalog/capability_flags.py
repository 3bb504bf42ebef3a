"""A deployment's capability flags, declared once.

Each flag is a ``Deployment`` field of the same name (plus its migration); everything
else is derived from ``FLAGS``: the console's deployment form, the ``/api`` schemas and
the fields a patch may set, the registry snapshot and each codec's ``Target``, and the
``model_info`` key a LiteLLM config carries it under (import and export). No Django
here, so the request path and the codecs' layer may read it.

Two kinds of flag:

- ``nullable`` (yes / no / empty): empty means the model catalog decides, and
  ``default`` applies to a model the catalog does not know.
- plain yes/no (``nullable=False``), ``default`` when not set: the deployment's yes, or
  the catalog knowing the model has the capability, turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class _Catalogued(Protocol):
    def has(self, capability: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Flag:
    name: str  # the Deployment field (and DeploymentEntry / Target attribute)
    label: str  # the console form's label
    litellm_key: str  # model_info key in a LiteLLM config
    default: bool  # in force when neither the deployment nor the catalog says
    help: str  # the console form's help text
    capability: str  # the model catalog's name for it (gateway.catalog CAPABILITIES)
    nullable: bool = True  # empty: the catalog decides (else a plain yes/no)

    @property
    def unset(self) -> bool | None:
        """The stored value of a deployment that says nothing (the field's default)."""
        return None if self.nullable else self.default

    def in_force(self, own: bool | None, entry: _Catalogued | None) -> bool:
        """The value a deployment's calls get: ``own`` (its stored value) with the
        catalog ``entry`` of its model (None: not in the catalog)."""
        if not self.nullable:
            return bool(own) or (entry is not None and entry.has(self.capability))
        if own is not None:
            return bool(own)
        return entry.has(self.capability) if entry is not None else self.default


FLAGS: tuple[Flag, ...] = (
    Flag("supports_tools", "Tools", "supports_function_calling", True, "", "tools"),
    Flag("supports_vision", "Vision", "supports_vision", True, "", "vision"),
    Flag("supports_reasoning", "Reasoning", "supports_reasoning", False, "", "reasoning"),
    # Switchyard's own model_info key; LiteLLM keeps keys it does not know.
    Flag(
        "supports_top_k",
        "top_k",
        "supports_top_k",
        False,
        "the upstream takes top_k (vLLM, Ollama)",
        "top_k",
        nullable=False,
    ),
)


def names() -> tuple[str, ...]:
    """The flags' field names, in declaration order."""
    return tuple(flag.name for flag in FLAGS)


def in_force(row: Any, entry: _Catalogued | None) -> dict[str, bool]:
    """Every flag's value in force for ``row`` (a Deployment, or anything with its
    fields) whose model has the catalog ``entry``."""
    return {flag.name: flag.in_force(getattr(row, flag.name, None), entry) for flag in FLAGS}
