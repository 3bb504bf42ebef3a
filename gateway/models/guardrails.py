"""The guardrails' table, in the store (``gateway.models``): each guardrail a team
defined, read into the snapshot (``gateway.access.registry``) and run by the feature
(``gateway.features.guardrails``). Which requests a guardrail sees is said here (``default_on``)
and on keys, teams and routes (their ``guardrails`` lists), or asked for per request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import models

from gateway.base.secrets import crypto
from gateway.base.secrets.declared import Secrecy, url_has_secret
from gateway.base.secrets.secret_refs import ENV_REFERENCE
from gateway.models import HEADER_MASK, ApiKey, ConfigRow, NamedRow, Route, Team

log = logging.getLogger(__name__)

# When a guardrail runs (LiteLLM's ``mode`` spellings).
MODES = ("pre_call", "during_call", "post_call", "pre_mcp_call")
FAIL_CLOSED, FAIL_OPEN = "fail_closed", "fail_open"


class Guardrail(NamedRow, ConfigRow):
    """A named check on what a call carries: its ``kind`` (content filter, PII,
    secrets, an external service, moderation, an LLM judge) with the kind's ``params``,
    the ``modes`` it runs in, and what a failure of the check itself does
    (``unreachable_fallback``: refuse the request, or let it pass, journaled and
    counted). ``monitor``: record what it would have done, change nothing."""

    name: str = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=40)
    modes = models.JSONField(default=list, blank=True)
    default_on = models.BooleanField(
        default=False, help_text="runs on every request, without being attached"
    )
    monitor = models.BooleanField(
        default=False, help_text="monitor only: journal the verdict, never block or rewrite"
    )
    unreachable_fallback = models.CharField(
        max_length=12,
        choices=[(FAIL_CLOSED, "Refuse the request"), (FAIL_OPEN, "Let it pass (counted)")],
        default=FAIL_CLOSED,
    )
    timeout = models.FloatField(default=5.0, help_text="seconds the check may take")
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=500, blank=True)
    # Saved from a config file (import or ``apply``); a person's save clears it.
    from_config = models.BooleanField(default=False)
    # Written by the operator's config file: its params' references and endpoints are
    # trusted (see Provider.from_operator); a person's change to them ends that.
    from_operator = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["name"]

    def stored_params(self) -> dict[str, Any]:
        """The params as the checker uses them: literal secrets decrypted (an
        undecryptable one, after a change of SECRET_KEY, is logged and left empty: the
        check then fails and its failure policy applies)."""
        params = unseal_params(self.params, self.name)
        return params if isinstance(params, dict) else {}

    @property
    def params_display(self) -> dict[str, Any]:
        """The params as any answer shows them (``/api``, the console, every role):
        stored secrets as the mask, ``os.environ/NAME`` references and plain values as
        they are."""
        params = mask_params(self.params)
        return params if isinstance(params, dict) else {}


# --- secrets in params --------------------------------------------------------------------
# Which params are secret is declared by the guardrail's kind (``Kind.params``, a
# ``gateway.base.secrets.declared.Secrecy`` each; a param it does not declare is SECRET),
# never read from a param's name. ``seal_params`` applies it when a guardrail is saved
# (``gateway.features.guardrails.save.prepare``, which knows the kind): a SECRET literal is stored
# encrypted, every value of a HEADERS mapping too, a URL with user info or a query whole;
# ``os.environ/NAME`` references stay as they are. Everything after reads the stored
# form: an encrypted value is a secret (masked when shown and audited, exported as a
# reference), anything else is plain.


def is_sealed(value: Any) -> bool:

    return isinstance(value, str) and value.startswith(crypto.PREFIX)


def _reference(value: Any) -> bool:

    return isinstance(value, str) and bool(ENV_REFERENCE.match(value.strip()))


def seal_params(params: Any, stored: Any = None, secrecy: Any = None) -> Any:
    """``params`` (plaintext, as validated) as stored: each value ``secrecy`` (a param
    name -> ``Secrecy`` function: the kind's ``Kind.secrecy``; None: every param SECRET)
    declares secret encrypted, the stored ciphertext kept when its plaintext did not
    change (so saving the same values again changes nothing, in the row and in the
    audit log)."""

    if not isinstance(params, dict):
        return params
    old = stored if isinstance(stored, dict) else {}
    out: dict[str, Any] = {}
    for name, value in params.items():
        kind = secrecy(str(name)) if secrecy is not None else Secrecy.SECRET
        if kind is Secrecy.URL:
            secret = isinstance(value, str) and url_has_secret(value)
        else:
            secret = kind is not Secrecy.PLAIN
        out[name] = _beside(value, old.get(name), _sealed) if secret else value
    return out


def _beside(value: Any, before: Any, leaf: Callable[[Any, Any], Any]) -> Any:
    """``value`` with each leaf ``leaf(it, what before holds in its place)``: mappings and
    lists are followed in both, ``before``'s item by the same name or index (else None)."""
    if isinstance(value, dict):
        old = before if isinstance(before, dict) else {}
        return {k: _beside(v, old.get(k), leaf) for k, v in value.items()}
    if isinstance(value, list):
        items = before if isinstance(before, list) else []
        return [_beside(v, items[i] if i < len(items) else None, leaf) for i, v in enumerate(value)]
    return leaf(value, before)


def _sealed(value: Any, before: Any) -> Any:
    """A leaf of params encrypted if it is a literal string (numbers and booleans are no
    credentials and stay); ``before`` kept if it seals the same."""
    if not isinstance(value, str) or not value or _reference(value) or is_sealed(value):
        return value
    same = isinstance(before, str) and is_sealed(before) and _decrypted(before, "") == value
    return before if same else crypto.encrypt(value)


def unseal_params(params: Any, owner: str = "") -> Any:
    """``params`` with every encrypted value decrypted."""
    if isinstance(params, list):
        return [unseal_params(value, owner) for value in params]
    if not isinstance(params, dict):
        return _decrypted(params, owner) if is_sealed(params) else params
    return {name: unseal_params(value, owner) for name, value in params.items()}


def _decrypted(value: str, owner: str) -> str:

    try:
        return crypto.decrypt(value)
    except Exception as exc:
        if owner:
            log.error("guardrail %s: %s", owner, exc)
        return ""


def mask_params(params: Any) -> Any:
    """``params`` with each stored secret (an encrypted value, wherever it sits) shown
    as the mask; everything else, references included, as it is."""

    if isinstance(params, dict):
        return {name: mask_params(value) for name, value in params.items()}
    if isinstance(params, list):
        return [mask_params(value) for value in params]
    return HEADER_MASK if is_sealed(params) else params


def unmask_params(sent: Any, stored: Any) -> Any:
    """``sent`` (params from a form or a PATCH) where a value equal to ``MASK`` keeps the
    stored one under that name (decrypted); a mask where nothing is stored stays and
    the save refuses it."""
    return _beside(sent, stored, _unmasked)


def _unmasked(sent: Any, stored: Any) -> Any:
    if sent == HEADER_MASK and isinstance(stored, str):
        return _decrypted(stored, "") if is_sealed(stored) else stored
    return sent


def masked_leftovers(params: Any, path: str = "params") -> list[str]:
    """Where ``params`` still holds the mask (sent for a secret nothing stores)."""

    if isinstance(params, dict):
        return [
            where
            for name, value in params.items()
            for where in masked_leftovers(value, f"{path}.{name}")
        ]
    if isinstance(params, list):
        return [
            where
            for i, value in enumerate(params)
            for where in masked_leftovers(value, f"{path}[{i}]")
        ]
    return [path] if params == HEADER_MASK else []


def references_to(name: str) -> dict[str, list[str]]:
    """What names guardrail ``name``: {"keys" | "teams" | "routes": [their names]}
    (revoked keys left out: they answer nothing and cannot be edited)."""

    found: dict[str, list[str]] = {}
    for what, rows in (
        ("keys", ApiKey.objects.filter(revoked_at__isnull=True)),
        ("teams", Team.objects.all()),
        ("routes", Route.objects.all()),
    ):
        users = sorted(
            str(row.name)
            for row in rows.only("name", "guardrails")
            if isinstance(row.guardrails, list) and name in row.guardrails
        )
        if users:
            found[what] = users
    return found
