"""The audit log: who changed what, when and from where, and who signed in.

Changes are captured in one place, whatever made them: model signals on the audited
models (``AUDITED``; adding a model is one ``watch`` call) take a snapshot before each
save and delete and write an ``AuditEvent`` with the fields that changed, in the same
transaction as the change (a rolled-back change leaves no event). Who made it comes from
the context the change runs in:

- a Django request (console, ``/api``, admin): ``AuditMiddleware`` puts the request in
  the context; the actor is read from it when an event is written (the signed-in user,
  or what ``/api`` authenticated: the master key or a virtual key, by name and prefix);
- a management command: ``acting(...)`` around it (``GatewayCommand`` does it);
- a config import: ``via("import")`` marks its changes, and one ``import`` event sums
  it up;
- console sign-ins, successful or not: Django's login signals.

Actions that are not a save of an audited model (an upload, a cancel, a tool call, an
export) write their own event with ``record``. So that no state-changing request is
ever missed, ``AuditMiddleware`` watches each unsafe console and ``/api`` request: when
it wrote to the database (``_note_write``, a database execute wrapper) and succeeded but
recorded no event, the middleware writes one naming the URL and the actor (the
backstop; ``tests/console/test_audit_coverage.py`` walks every endpoint). Exports are
GETs: their views call ``exported``.

Secrets never reach the log, by their declared type (``gateway.models.secrecy``, never
a name): secret and digest columns, every header value and each secret member of a
params mapping (a guardrail's sealed ones, a provider kind's ``secret_params``) show as
a mask unless it is an ``os.environ/NAME`` reference (a change still shows as changed),
and URLs lose their user info and every query value. Rows are append-only (``AuditEvent``) and leave only
through ``SWITCHYARD_AUDIT_RETENTION_DAYS`` (0 or unset: kept), pruned by the journal's
hourly retention round.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ObjectDoesNotExist
from django.db import connections, models, transaction
from django.db.backends.signals import connection_created
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.http import HttpRequest

from gateway.base.db_work import delete_older
from gateway.base.scoped import scoped
from gateway.base.secrets import crypto
from gateway.base.secrets.declared import Secrecy, mask_url_secrets
from gateway.base.secrets.secret_refs import ENV_REFERENCE
from gateway.models import (
    A2aAgent,
    AlertSettings,
    ApiKey,
    Deployment,
    Guardrail,
    McpServer,
    Membership,
    PinnedChart,
    Profile,
    Prompt,
    PromptLabel,
    PromptVersion,
    Provider,
    Route,
    SsoSettings,
    TagBudget,
    Team,
    secrecy,
)
from gateway.models.telemetry import AuditEvent, retention_pruning
from gateway.providers import kinds

log = logging.getLogger(__name__)

MASK = "***"
# Columns never worth an entry (they change on every save or sign-in).
SKIPPED_FIELDS = frozenset({"created_at", "updated_at", "last_login"})
_FINGERPRINT = "sha256:"  # a secret's stand-in in a snapshot: compared, shown as MASK


# --- who is acting --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # user | key | master | command | system | anonymous
    name: str = ""
    id: str = ""
    source: str = "system"  # console | api | admin | import | command | system
    ip: str | None = None
    user_agent: str = ""


_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar(
    "audit_request", default=None
)
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)
_source: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_source", default=None)


@dataclass(slots=True)
class _RequestTrail:
    """What one unsafe request did: database writes seen and events recorded."""

    writes: int = 0
    events: int = 0


_trail: contextvars.ContextVar[_RequestTrail | None] = contextvars.ContextVar(
    "audit_trail", default=None
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Writes that are not the request's action: the session, the audit log itself.
_UNTRACKED_TABLES = ("django_session", "gateway_auditevent")
_WRITES = ("insert", "update", "delete")


def acting(actor: Actor) -> AbstractContextManager[None]:
    """Changes made inside are ``actor``'s (a management command, a job)."""
    return scoped(_actor, actor)


def via(source: str) -> AbstractContextManager[None]:
    """Changes made inside came through ``source`` (``import``), whoever acts."""
    return scoped(_source, source)


def in_request(request: HttpRequest) -> AbstractContextManager[None]:
    return scoped(_request, request)


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _request_source(request: HttpRequest) -> str:
    path = request.path
    if path.startswith("/api/") or path == "/api":
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "console"


def actor_of(request: HttpRequest) -> Actor:
    """Who acts in ``request``: its signed-in user, else what ``/api`` authenticated
    (``request.auth``: "master", or a key object with a name and a prefix)."""
    where = {
        "source": _request_source(request),
        "ip": _client_ip(request),
        "user_agent": request.headers.get("user-agent", "")[:300],
    }
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return Actor("user", user.get_username(), str(user.pk), **where)
    auth = getattr(request, "auth", None)
    via = getattr(auth, "via", None)  # /api's caller as the role policy sees it
    if auth == "master" or via == "master":
        return Actor("master", "master key", "master", **where)
    if via == "key":  # a management key, acting as its user
        key = str(getattr(auth, "username", ""))
        return Actor("key", f"{key}'s management key", str(getattr(auth, "user_id", "")), **where)
    if auth is not None and hasattr(auth, "prefix"):
        return Actor("key", str(getattr(auth, "name", "")), str(auth.prefix), **where)
    return Actor("anonymous", **where)


def _process_actor() -> Actor:
    """Outside a request and a ``GatewayCommand``: Django's own commands
    (``createsuperuser``, ``changepassword``, ``shell``) by name, else the system."""
    import getpass
    import os
    import sys

    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    if program in ("manage.py", "django-admin", "switchyard") and len(sys.argv) > 1:
        try:
            who = getpass.getuser()
        except Exception:
            who = ""
        return Actor("command", f"{program} {sys.argv[1]}"[:200], who, "command")
    return Actor("system")


def current_actor() -> Actor:
    actor = _actor.get()
    if actor is None:
        request = _request.get()
        actor = actor_of(request) if request is not None else _process_actor()
    source = _source.get()
    if source is not None:
        actor = Actor(actor.kind, actor.name, actor.id, source, actor.ip, actor.user_agent)
    return actor


class AuditMiddleware:
    """Puts each Django request in the audit context (console, /api, admin)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        with in_request(request), _trailing(request) as trail:
            response = self.get_response(request)
            _backstop(request, response, trail)
            return response

    async def _acall(self, request: HttpRequest) -> Any:
        from asgiref.sync import sync_to_async

        with in_request(request), _trailing(request) as trail:
            response = await self.get_response(request)
            if trail is not None and trail.writes and not trail.events:
                await sync_to_async(_backstop)(request, response, trail)
            return response


@contextmanager
def _trailing(request: HttpRequest) -> Iterator[_RequestTrail | None]:
    """Follow an unsafe request's writes and events (safe requests: nothing)."""
    if request.method not in UNSAFE_METHODS:
        yield None
        return
    trail = _RequestTrail()
    with scoped(_trail, trail):
        yield trail


def _backstop(request: HttpRequest, response: Any, trail: _RequestTrail | None) -> None:
    """One event for a request that changed the database and succeeded without
    recording one (a view nobody taught to audit): the URL's name, the method, the path."""
    if trail is None or not trail.writes or trail.events or not _enabled():
        return
    if getattr(response, "status_code", 500) >= 400:
        return  # refused or failed: its transaction rolled back, nothing changed
    match = getattr(request, "resolver_match", None)
    name = getattr(match, "url_name", None) or getattr(match, "route", "") or ""
    try:
        record(
            str(request.method).lower(),
            object_type=str(name)[:50],
            detail=f"{request.method} {request.path}",
        )
    except Exception:
        log.exception("audit: could not record %s %s", request.method, request.path)


def _note_write(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):  # type: ignore[no-untyped-def]
    """A database execute wrapper: counts an unsafe request's writes (a contextvar
    read on every query, nothing more)."""
    trail = _trail.get()
    if trail is not None:
        head = sql.lstrip()[:6].lower()
        if head in _WRITES and not any(t in sql[:120] for t in _UNTRACKED_TABLES):
            trail.writes += 1
    return execute(sql, params, many, context)


def _watch_connection(sender: Any = None, connection: Any = None, **_: Any) -> None:
    if connection is not None and _note_write not in connection.execute_wrappers:
        connection.execute_wrappers.append(_note_write)


def exported(what: str, detail: str = "", *, object_id: Any = "", object_name: str = "") -> None:
    """One ``export`` event: data left the gateway as a file (CSV, JSON, YAML, JSONL)."""
    if _enabled():
        record(
            "export",
            object_type=what,
            object_id=object_id,
            object_name=object_name,
            detail=detail,
        )


def key_minted(actor: Any, key: ApiKey) -> None:
    """A key minted for another user: one more audit row saying who minted it for whom
    (the key's own "create" row names the caller; this one names both humans). The
    console and the management API call it after ``access.keys.create_key``."""
    if key.user_id is None or key.user_id == actor.user_id:
        return
    human = actor.username if actor.via != "master" else "the master key"
    owner = key.user.get_username() if key.user is not None else str(key.user_id)
    scopes = f" with scopes {key.scopes}" if key.scopes else ""
    record(
        "mint",
        object_type="key",
        object_id=key.pk,
        object_name=key.name,
        detail=f"{human} minted this key for {owner}{scopes}",
    )


# --- what changed ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def _secrecy(instance: models.Model, field: models.Field[Any, Any]) -> Secrecy:
    """The declared secrecy of ``field`` (``gateway.models.secrecy``); a field that
    cannot hold text (a number, a date, a relation) is plain."""
    if not isinstance(field, models.CharField | models.TextField | models.JSONField):
        return Secrecy.PLAIN
    return secrecy.of(instance._meta.label, field.name)


def _secret_params(instance: models.Model) -> frozenset[str]:
    """The params a provider kind declares secret (``secret_params`` of its adapter),
    for a provider's settings and a deployment's params."""

    kind = getattr(instance, "kind", None)
    if kind is None and getattr(instance, "provider_id", None) is not None:
        kind = getattr(getattr(instance, "provider", None), "kind", None)
    adapter = kinds.adapter_class(str(kind or ""))
    return frozenset(getattr(adapter, "secret_params", ()) or ())


def _hidden(value: Any, kind: Secrecy, instance: models.Model) -> Any:
    """``value`` as a snapshot keeps it: each secret part as its fingerprint."""
    if kind in (Secrecy.SECRET, Secrecy.DIGEST):
        return _fingerprint(value)
    if kind is Secrecy.HEADERS and isinstance(value, dict):
        return {k: v if ENV_REFERENCE.match(str(v)) else _fingerprint(v) for k, v in value.items()}
    if kind is Secrecy.PARAMS:
        names = _secret_params(instance)
        return _params_hidden(value, names)
    return value


def _params_hidden(value: Any, names: frozenset[str], name: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _params_hidden(v, names, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_params_hidden(v, names, name) for v in value]
    if not isinstance(value, str) or not value or ENV_REFERENCE.match(value):
        return value
    if value.startswith(crypto.PREFIX) or name in names:
        return _fingerprint(value)
    return value


def _shown(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, str) and value.startswith(_FINGERPRINT):
        return MASK
    return value


def masked(kind: Secrecy, value: Any) -> Any:
    """What the audit log may show of a snapshot's ``value`` of secrecy ``kind``."""
    if value is None:
        return None
    if kind in (Secrecy.SECRET, Secrecy.DIGEST):
        return MASK if value else ""
    if kind is Secrecy.URL and isinstance(value, str):
        return mask_url_secrets(value)
    if kind in (Secrecy.HEADERS, Secrecy.PARAMS):
        return _shown(value)
    return _plain(value)


def _fingerprint(value: Any) -> Any:
    """A stand-in for a stored secret that changes only when the secret does (an
    encrypted value is encrypted anew on each save): a digest of its plaintext."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(crypto.PREFIX):
        with contextlib.suppress(Exception):  # another instance's key: the ciphertext stands in
            value = crypto.decrypt(value)
    return _FINGERPRINT + hashlib.sha256(value.encode()).hexdigest()[:16]


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's columns, each secret part as a fingerprint (``_hidden``):
    compared, then masked when shown. A ``_secrecy`` key holds each field's type."""
    out: dict[str, Any] = {}
    kinds: dict[str, Secrecy] = {}
    for f in instance._meta.concrete_fields:
        if f.name in SKIPPED_FIELDS:
            continue
        kinds[f.name] = kind = _secrecy(instance, f)
        out[f.name] = _hidden(_plain(getattr(instance, f.attname)), kind, instance)
    out[_KINDS] = kinds
    return out


_KINDS = "\0secrecy"


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """{field: [before, after]} of the fields that differ, masked."""
    whole = before is None or after is None  # a creation or a deletion
    before, after = before or {}, after or {}
    kinds = {**before.get(_KINDS, {}), **after.get(_KINDS, {})}
    out: dict[str, list[Any]] = {}
    for name in sorted((set(before) | set(after)) - {_KINDS}):
        old, new = before.get(name), after.get(name)
        if old == new or (whole and old in _EMPTY and new in _EMPTY):
            continue  # a created or deleted row's empty fields say nothing
        kind = kinds.get(name, Secrecy.SECRET)
        out[name] = [masked(kind, old), masked(kind, new)]
    return out


_EMPTY: tuple[object, ...] = (None, "", {}, [])


# --- writing events -------------------------------------------------------------------------


def record(
    action: str,
    *,
    object_type: str = "",
    object_id: Any = "",
    object_name: str = "",
    changes: dict[str, Any] | None = None,
    detail: str = "",
    actor: Actor | None = None,
) -> AuditEvent:
    """Write one event now (in the caller's transaction, if any)."""
    who = actor or current_actor()
    trail = _trail.get()
    if trail is not None:
        trail.events += 1
    event: AuditEvent = AuditEvent.objects.create(
        actor_kind=who.kind,
        actor=who.name[:200],
        actor_id=who.id[:64],
        source=who.source[:20],
        ip=who.ip,
        user_agent=who.user_agent[:300],
        action=action[:30],
        object_type=object_type[:50],
        object_id=str(object_id)[:64],
        object_name=str(object_name)[:300],
        changes=changes or {},
        detail=detail,
    )
    return event


# model -> the name its events carry (object_type)
AUDITED: dict[type[models.Model], str] = {}
_BEFORE = "_audit_before"
_NAME = "_audit_name"


def watch(model: type[models.Model], name: str | None = None) -> None:
    """Audit every save and delete of ``model`` (and its many-to-many fields)."""
    label = name or model._meta.model_name or model.__name__.lower()
    AUDITED[model] = label
    uid = f"audit-{model._meta.label_lower}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
    post_save.connect(_after_save, sender=model, dispatch_uid=uid)
    pre_delete.connect(_before_delete, sender=model, dispatch_uid=uid)
    post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)
    for m2m in model._meta.many_to_many:
        m2m_changed.connect(_m2m, sender=m2m.remote_field.through, dispatch_uid=f"{uid}-{m2m.name}")


def _enabled() -> bool:
    return bool(getattr(settings, "SWITCHYARD_AUDIT", True))


def _before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **_: Any):  # type: ignore[no-untyped-def]
    if raw or not _enabled() or instance.pk is None:
        return
    old = sender._base_manager.filter(pk=instance.pk).first()
    setattr(instance, _BEFORE, snapshot(old) if old is not None else None)


def _after_save(  # type: ignore[no-untyped-def]
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **_: Any
):
    if raw or not _enabled():
        return
    before = None if created else getattr(instance, _BEFORE, None)
    after = snapshot(instance)
    changes = diff(before, after)
    if not created and not changes:
        return  # saved unchanged (an import's second run, a form sent back as it was)
    _write("create" if created or before is None else "update", sender, instance, changes)


def _before_delete(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    if _enabled():
        setattr(instance, _BEFORE, snapshot(instance))
        # named now: by its post_delete a cascade may have taken the rows its str() reads
        setattr(instance, _NAME, _name_of(sender, instance))


def _after_delete(sender: type[models.Model], instance: models.Model, **_: Any) -> None:
    if _enabled():
        _write("delete", sender, instance, diff(getattr(instance, _BEFORE, None), None))


def _m2m(
    sender: Any, instance: models.Model, action: str, pk_set: Any, model: Any, **_: Any
) -> None:
    if (
        not _enabled()
        or type(instance) not in AUDITED
        or action
        not in (
            "post_add",
            "post_remove",
            "post_clear",
        )
    ):
        return
    field = next(
        (f.name for f in instance._meta.many_to_many if f.remote_field.through is sender), "?"
    )
    names = sorted(str(o) for o in model._base_manager.filter(pk__in=pk_set or ()))
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    if action != "post_clear" and not names:
        return
    changes = {field: {verb: names}} if names else {field: {verb: True}}
    _write("update", type(instance), instance, changes)


def _write(
    action: str, sender: type[models.Model], instance: models.Model, changes: dict[str, Any]
) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failed event never undoes the change
            record(
                action,
                object_type=AUDITED.get(sender, sender.__name__.lower()),
                object_id=instance.pk if instance.pk is not None else "",
                object_name=getattr(instance, _NAME, None) or _name_of(sender, instance),
                changes=changes,
            )
    except Exception:
        log.exception("audit: could not record %s of %s %s", action, sender.__name__, instance.pk)


def _name_of(sender: type[models.Model], instance: models.Model) -> str:
    """The row's ``str``, or its kind and id when that reads a row another request has just
    deleted (a team removed while one of its members is)."""
    try:
        return str(instance)[:300]
    except ObjectDoesNotExist:
        return f"{AUDITED.get(sender, sender.__name__.lower())} {instance.pk}"


# --- sign-ins -------------------------------------------------------------------------------


def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if not _enabled():
        return
    where = actor_of(request) if request is not None else Actor("system")
    who = Actor("user", user.get_username(), str(user.pk), "login", where.ip, where.user_agent)
    record(
        "login", object_type="user", object_id=user.pk, object_name=user.get_username(), actor=who
    )


def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any
) -> None:
    if not _enabled():
        return
    name = str(credentials.get("username") or "")[:200]  # the password is never read
    where = actor_of(request) if request is not None else Actor("anonymous")
    who = Actor("anonymous", name, "", "login", where.ip, where.user_agent)
    record("login_failed", object_type="user", object_name=name, actor=who)


def connect() -> None:
    """Watch the registry's models and the console's users; listen to sign-ins."""
    from django.contrib.auth import get_user_model

    for model, name in (
        (Provider, "provider"),
        (Route, "route"),
        (Deployment, "deployment"),
        (ApiKey, "key"),
        (get_user_model(), "user"),
        (Team, "team"),
        (Membership, "membership"),
        (Profile, "role"),  # a user's console role
        (McpServer, "mcp_server"),
        (A2aAgent, "a2a_agent"),
        (Guardrail, "guardrail"),
        (AlertSettings, "alert_settings"),  # the webhook (masked) and default thresholds
        (SsoSettings, "sso_settings"),  # the identity provider (client secret masked)
        (Prompt, "prompt"),
        (PromptVersion, "prompt_version"),
        (PromptLabel, "prompt_label"),
        (TagBudget, "tag_budget"),
        (PinnedChart, "pinned_chart"),  # a chart pinned to a dashboard board
    ):
        watch(model, name)
    connection_created.connect(_watch_connection, dispatch_uid="audit-writes")
    for open_connection in connections.all(initialized_only=True):
        _watch_connection(connection=open_connection)
    user_logged_in.connect(_logged_in, dispatch_uid="audit-login")
    user_login_failed.connect(_login_failed, dispatch_uid="audit-login-failed")


# --- retention ------------------------------------------------------------------------------


def retention_days() -> int:
    """``SWITCHYARD_AUDIT_RETENTION_DAYS``: 0 (the default) keeps every event."""
    return int(getattr(settings, "SWITCHYARD_AUDIT_RETENTION_DAYS", 0) or 0)


def prune(older_than: dt.timedelta, batch: int = 2000, max_batches: int | None = None) -> int:
    """Delete events older than ``older_than`` (the only way they leave)."""

    def delete(ids: list[int]) -> None:
        with retention_pruning():
            AuditEvent.objects.filter(id__in=ids).delete()

    return delete_older(AuditEvent.objects, older_than, batch, max_batches, delete)


def prune_expired(max_batches: int) -> int:
    """The journal's pruning round (``hooks.pruners``): the events past
    ``retention_days`` (kept forever unless it is set); rows deleted."""
    if days := retention_days():
        return prune(dt.timedelta(days=days), max_batches=max_batches)
    return 0
