"""The guardrails' table, in the store (``gateway.models``): each guardrail a team
defined, read into the snapshot (``gateway.policy.registry``) and run by the feature
(``gateway.guardrails``). Which requests a guardrail sees is said here (``default_on``)
and on keys, teams and routes (their ``guardrails`` lists), or asked for per request."""

from __future__ import annotations

import logging
from typing import Any

from django.db import models

log = logging.getLogger(__name__)

# When a guardrail runs (LiteLLM's ``mode`` spellings).
MODES = ("pre_call", "during_call", "post_call", "pre_mcp_call")
FAIL_CLOSED, FAIL_OPEN = "fail_closed", "fail_open"


class Guardrail(models.Model):
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
    # Written by ``apply`` (gateway.ops.apply, config as code): the file owns it, and an
    # apply whose file no longer names it removes it. Console-made rows are False.
    managed_by_config = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def stored_params(self) -> dict[str, Any]:
        """The params as the checker uses them: literal secrets decrypted (an
        undecryptable one, after a change of SECRET_KEY, is logged and left empty: the
        check then fails and its failure policy applies)."""
        params = unseal_params(self.params, self.name)
        return params if isinstance(params, dict) else {}

    @property
    def params_display(self) -> dict[str, Any]:
        """The params as any answer shows them: literal secrets as the mask,
        ``os.environ/NAME`` references as they are."""
        params = mask_params(self.params)
        return params if isinstance(params, dict) else {}


# --- secrets in params --------------------------------------------------------------------
# A param whose name says it holds a credential (``api_key``, ``auth_token``, a header
# named ``Authorization``: ``url_secrets.secret_param``) and whose value is a literal
# string is stored encrypted, as MCP servers' headers are; nested mappings are followed
# (``headers``, ``additional_provider_specific_params``), lists are not (a content
# filter's ``blocked_words[i].keyword`` is a word, not a key).


def _secret(name: str, value: Any) -> bool:
    from gateway.base.secrets.url_secrets import secret_param

    return isinstance(value, str) and bool(value) and secret_param(str(name))


def is_sealed(value: Any) -> bool:
    from gateway.base.secrets import crypto

    return isinstance(value, str) and value.startswith(crypto.PREFIX)


def _reference(value: Any) -> bool:
    from gateway.base.secrets.secret_refs import ENV_REFERENCE

    return isinstance(value, str) and bool(ENV_REFERENCE.match(value.strip()))


def seal_params(params: Any, stored: Any = None) -> Any:
    """``params`` (plaintext, as validated) as stored: each literal secret encrypted,
    the stored ciphertext kept when its plaintext did not change (so saving the same
    values again changes nothing, in the row and in the audit log)."""
    from gateway.base.secrets import crypto

    if not isinstance(params, dict):
        return params
    old = stored if isinstance(stored, dict) else {}
    out: dict[str, Any] = {}
    for name, value in params.items():
        before = old.get(name)
        if isinstance(value, dict):
            out[name] = seal_params(value, before)
        elif _secret(name, value) and not _reference(value) and not is_sealed(value):
            same = isinstance(before, str) and is_sealed(before) and _decrypted(before, "") == value
            out[name] = before if same else crypto.encrypt(value)
        else:
            out[name] = value
    return out


def unseal_params(params: Any, owner: str = "") -> Any:
    """``params`` with every encrypted value decrypted."""
    if not isinstance(params, dict):
        return params
    return {
        name: unseal_params(value, owner)
        if isinstance(value, dict)
        else (_decrypted(value, owner) if is_sealed(value) else value)
        for name, value in params.items()
    }


def _decrypted(value: str, owner: str) -> str:
    from gateway.base.secrets import crypto

    try:
        return crypto.decrypt(value)
    except Exception as exc:
        if owner:
            log.error("guardrail %s: %s", owner, exc)
        return ""


def mask_params(params: Any) -> Any:
    """``params`` with each stored secret shown as ``MASK`` (references kept)."""
    from gateway.models import HEADER_MASK

    if not isinstance(params, dict):
        return params
    return {
        name: mask_params(value)
        if isinstance(value, dict)
        else (
            HEADER_MASK
            if is_sealed(value) or (_secret(name, value) and not _reference(value))
            else value
        )
        for name, value in params.items()
    }


def unmask_params(sent: Any, stored: Any) -> Any:
    """``sent`` (params from a form or a PATCH) where a value equal to ``MASK`` keeps the
    stored one under that name (decrypted); a mask where nothing is stored stays and
    the save refuses it."""
    from gateway.models import HEADER_MASK

    if not isinstance(sent, dict):
        return sent
    old = stored if isinstance(stored, dict) else {}
    out: dict[str, Any] = {}
    for name, value in sent.items():
        before = old.get(name)
        if isinstance(value, dict):
            out[name] = unmask_params(value, before)
        elif value == HEADER_MASK and isinstance(before, str):
            out[name] = _decrypted(before, "") if is_sealed(before) else before
        else:
            out[name] = value
    return out


def masked_leftovers(params: Any, path: str = "params") -> list[str]:
    """Where ``params`` still holds the mask (sent for a secret nothing stores)."""
    from gateway.models import HEADER_MASK

    found: list[str] = []
    for name, value in (params if isinstance(params, dict) else {}).items():
        if isinstance(value, dict):
            found += masked_leftovers(value, f"{path}.{name}")
        elif value == HEADER_MASK:
            found.append(f"{path}.{name}")
    return found


def references_to(name: str) -> dict[str, list[str]]:
    """What names guardrail ``name``: {"keys" | "teams" | "routes": [their names]}
    (revoked keys left out: they answer nothing and cannot be edited)."""
    from gateway.models import ApiKey, Route, Team

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
