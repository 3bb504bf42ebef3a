"""LiteLLM's top-level ``guardrails:`` list in and out.

LiteLLM's form, one entry per guardrail::

    guardrails:
      - guardrail_name: no-pii
        litellm_params:
          guardrail: presidio            # the kind: presidio, hide-secrets,
                                         # litellm_content_filter, generic_guardrail_api,
                                         # openai_moderation (and Switchyard's llm_judge)
          mode: [pre_call, post_call]    # one mode or a list
          default_on: true               # optional (false)
          unreachable_fallback: fail_open  # optional (fail_closed)
          timeout: 3                     # optional (5 seconds)
          pii_entities_config: {EMAIL_ADDRESS: MASK}   # every other entry: the kind's params
          api_key: os.environ/GUARD_KEY
        guardrail_info:                  # LiteLLM's free-form metadata
          description: ...
          switchyard: {monitor: true}    # what LiteLLM has no field for

Every other ``litellm_params`` entry is the kind's params as it is (``os.environ/``
references kept as references, route names as names). Each guardrail is validated as
saving would (``save.prepare``): a bad one is skipped (listed, naming
``guardrails[i].litellm_params.<field>``) like any entry the importer cannot take, and
fails a strict import. Imported rows are ``from_config``; the operator's file's are
``from_operator`` too (their references trusted), anyone else's references are judged as a
console save's (``gateway.web.references``). Importing the same file again changes
nothing. The export writes literal secrets as ``os.environ/`` references unless
secrets are included, and recognises those references when the export comes back.
Config as code (``gateway.ops.apply``) refuses a literal in a param the kind declares
secret. The section (``SECTION``) is composed by ``gateway.ops.litellm`` through
``gateway.web.litellm_sections``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from gateway.base.secrets.declared import Secrecy, url_has_secret
from gateway.features.guardrails import kinds
from gateway.features.guardrails import save as ops
from gateway.models import Guardrail
from gateway.models.guardrails import FAIL_CLOSED, is_sealed, unseal_params
from gateway.web.litellm_sections import Change, Reader, Section, change, env_variable, strings

ENTRY_KEYS = frozenset({"guardrail_name", "litellm_params", "guardrail_info"})
OWN_KEY = "switchyard"  # guardrail_info.switchyard: Switchyard's settings LiteLLM lacks
DEFAULT_TIMEOUT = 5.0


@dataclass(slots=True)
class GuardrailSpec:
    path: str  # "guardrails[2]"
    name: str
    kind: str
    modes: Any  # a string or a list, as the file gives it (validated when planned)
    default_on: bool = False
    unreachable_fallback: str = FAIL_CLOSED
    timeout: Any = DEFAULT_TIMEOUT
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    monitor: bool = False


def parse(reader: Reader, section: Any) -> list[GuardrailSpec]:
    """The top-level ``guardrails:`` list: each entry's shape read here, its settings
    validated by the planner as saving would; an entry that cannot be read is skipped
    (listed)."""
    specs: list[GuardrailSpec] = []
    for index, entry in enumerate(reader.sequence(section, "guardrails")):
        path = f"guardrails[{index}]"
        spec = reader.guarded(path, read_entry, reader, entry, path)
        if spec is not None:
            specs.append(spec)
    return specs


def read_entry(reader: Reader, entry: Any, path: str) -> GuardrailSpec:
    entry = reader.mapping(entry, path)
    reader.unknown(path, [k for k in entry if k not in ENTRY_KEYS], "parameter")
    name = reader.string(entry.get("guardrail_name"), f"{path}.guardrail_name", required=True)
    p = f"{path}.litellm_params"
    params = dict(reader.mapping(entry.get("litellm_params"), p))
    spec = GuardrailSpec(
        path=path,
        name=name,
        kind=reader.string(params.pop("guardrail", None), f"{p}.guardrail", required=True),
        modes=params.pop("mode", None),
    )
    spec.default_on = bool(reader.boolean(params.pop("default_on", None), f"{p}.default_on"))
    fallback = reader.string(params.pop("unreachable_fallback", None), f"{p}.unreachable_fallback")
    spec.unreachable_fallback = fallback or spec.unreachable_fallback
    timeout = params.pop("timeout", None)
    spec.timeout = spec.timeout if timeout is None else timeout  # validated when planned
    for key, value in params.items():  # the kind's params, as they are
        reader.references(value, f"{p}.{key}")
        spec.params[str(key)] = value
    info = dict(reader.mapping(entry.get("guardrail_info"), f"{path}.guardrail_info"))
    spec.description = reader.string(
        info.pop("description", None), f"{path}.guardrail_info.description"
    )
    own_path = f"{path}.guardrail_info.{OWN_KEY}"
    own = dict(reader.mapping(info.pop(OWN_KEY, None), own_path))
    spec.monitor = bool(reader.boolean(own.pop("monitor", None), f"{own_path}.monitor"))
    reader.unknown(own_path, own, "parameter")
    # the rest of guardrail_info is LiteLLM's metadata for its /guardrails/list
    return spec


def where(path: str, error_field: str) -> str:
    """The file's path of a field ``save`` names."""
    if error_field == "name":
        return f"{path}.guardrail_name"
    if error_field in ("kind", "__all__"):
        return f"{path}.litellm_params" + (".guardrail" if error_field == "kind" else "")
    if error_field in ("modes", "mode"):
        return f"{path}.litellm_params.mode"
    if error_field in ("description", "monitor"):
        suffix = "description" if error_field == "description" else f"{OWN_KEY}.monitor"
        return f"{path}.guardrail_info.{suffix}"
    if error_field == "params":
        return f"{path}.litellm_params"
    return f"{path}.litellm_params.{error_field.removeprefix('params.')}"


def _exported_variable(guardrail: str, names: tuple[str, ...]) -> str:
    return env_variable(guardrail, "GUARDRAIL", *names)


def _restore_exported(sent: Any, stored: Any, guardrail: str, names: tuple[str, ...] = ()) -> Any:
    """``sent`` (the file's params) where an ``os.environ/`` reference the export wrote
    for a stored literal secret stands for that literal (so an export imported again
    changes nothing)."""
    if isinstance(sent, dict):
        old = stored if isinstance(stored, dict) else {}
        return {
            k: _restore_exported(v, old.get(k), guardrail, (*names, str(k)))
            for k, v in sent.items()
        }
    if (
        isinstance(sent, str)
        and is_sealed(stored)
        and sent == f"os.environ/{_exported_variable(guardrail, names)}"
    ):
        return unseal_params({"v": stored})["v"]
    return sent


def plan_guardrails(
    specs: list[GuardrailSpec], operator: bool = False
) -> tuple[list[Change], list[tuple[str, str]]]:
    """(a ``Change`` per guardrail that can be saved, (path, reason) per one that cannot,
    naming its field)."""
    existing = {g.name: g for g in Guardrail.objects.all()}
    changes: list[Change] = []
    skipped: list[tuple[str, str]] = []
    for spec in specs:
        row = existing.get(spec.name)
        before = ops.comparable(row) if row is not None else None
        values = {
            "name": spec.name,
            "kind": spec.kind,
            "modes": spec.modes,
            "default_on": spec.default_on,
            "monitor": spec.monitor,
            "unreachable_fallback": spec.unreachable_fallback,
            "timeout": spec.timeout,
            "params": _restore_exported(spec.params, row.params if row else None, spec.name),
            "description": spec.description,
        }
        try:
            prepared = ops.prepare(row, values, from_config=True, from_operator=operator)
        except ValidationError as exc:
            problems = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            reason = "; ".join(
                f"{where(spec.path, name)}: {' '.join(messages)}"
                for name, messages in problems.items()
            )
            skipped.append((spec.path, reason))
            if row is not None:
                row.refresh_from_db()  # prepare set some values before refusing
            continue
        label = f"guardrail {spec.name} ({spec.kind})"
        after = ops.comparable(prepared)  # params may hold secrets
        changes.append(change(label, prepared, before, after, spec.name, secret=("params",)))
    return changes, skipped


def export_section(include_secrets: bool, comments: list[str]) -> list[dict[str, Any]]:
    """The enabled guardrails in LiteLLM's form (a disabled one has no LiteLLM form: said
    in a comment)."""
    out: list[dict[str, Any]] = []
    for guardrail in Guardrail.objects.order_by("name"):
        if not guardrail.enabled:
            comments.append(f"guardrail {guardrail.name} is disabled and not exported")
            continue
        modes = [str(m) for m in guardrail.modes or []]
        params: dict[str, Any] = {
            "guardrail": guardrail.kind,
            "mode": modes[0] if len(modes) == 1 else modes,
            "default_on": guardrail.default_on,
        }
        if guardrail.unreachable_fallback != FAIL_CLOSED:
            params["unreachable_fallback"] = guardrail.unreachable_fallback
        if guardrail.timeout != DEFAULT_TIMEOUT:
            params["timeout"] = guardrail.timeout
        for name, value in _export_params(
            guardrail.name, guardrail.params, include_secrets, comments
        ).items():
            params.setdefault(name, value)
        entry: dict[str, Any] = {"guardrail_name": guardrail.name, "litellm_params": params}
        info: dict[str, Any] = {}
        if guardrail.description:
            info["description"] = guardrail.description
        if guardrail.monitor:
            info[OWN_KEY] = {"monitor": True}
        if info:
            entry["guardrail_info"] = info
        out.append(entry)
    return out


def _export_params(
    guardrail: str,
    params: Any,
    include_secrets: bool,
    comments: list[str],
    names: tuple[str, ...] = (),
) -> Any:
    if isinstance(params, dict):
        return {
            k: _export_params(guardrail, v, include_secrets, comments, (*names, str(k)))
            for k, v in params.items()
        }
    if not is_sealed(params):
        return params
    if include_secrets:
        return unseal_params({"v": params})["v"]
    variable = _exported_variable(guardrail, names)
    comments.append(
        f"guardrail {guardrail}: {'.'.join(names)} is exported as os.environ/{variable}"
    )
    return f"os.environ/{variable}"


def _sealed(kind: str, params: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, value) of the params a save stores encrypted: as the kind declares them
    (``Kind.params``; a param it does not declare is secret), as
    ``gateway.models.guardrails.seal_params`` seals them."""
    found = kinds.KINDS.get(kind)
    for key, value in (params if isinstance(params, dict) else {}).items():
        secrecy = found.secrecy(str(key)) if found is not None else Secrecy.SECRET
        where = f"{path}.{key}"
        if secrecy is Secrecy.URL:
            if isinstance(value, str) and url_has_secret(value):
                yield where, value
        elif secrecy is not Secrecy.PLAIN:
            yield from ((p, v) for p, _, v in strings({key: value}, path))


def secrets(spec: GuardrailSpec) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the params a save would seal, every string of the params), with their paths."""
    where = f"{spec.path}.litellm_params"
    sealed = list(_sealed(spec.kind, spec.params, where))
    return sealed, [(path, value) for path, _, value in strings(spec.params, where)]


SECTION = Section(
    key="guardrails",
    what="guardrail",
    model=Guardrail,
    named_by=("guardrails",),
    parse=parse,
    plan=plan_guardrails,
    export=export_section,
    secrets=secrets,
)
