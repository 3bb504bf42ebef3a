"""Add a model in one step: a provider (an existing one, or a new one with its secret),
a route and the route's deployment, in ONE transaction through ``admin_ops``, so the
validation, the audit rows and the registry bump are those of every other save.

Every part is checked even when an earlier one failed, so the caller gets all field
errors at once (``AddModelErrors``, by part); on any error the transaction rolls back
what had been saved, and nothing is left half-written. A new provider needs the
``provider.change`` decision (``Denied`` otherwise, before anything is written)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction

from gateway.access.authorization import require
from gateway.models import Deployment, Provider, Route, Team
from gateway.ops import admin_ops
from gateway.web import saving

PARTS = ("provider", "route", "deployment")
Saved = TypeVar("Saved")


@dataclass(frozen=True, slots=True)
class NewProvider:
    """A provider to create with the route: its fields and its secret."""

    values: Mapping[str, Any]
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class Added:
    provider: Provider
    route: Route
    deployment: Deployment


class AddModelErrors(Exception):
    """Field errors by part: ``{"route": {"name": ["..."]}, "deployment": {...}}``
    (parts in ``PARTS``; a part's errors as ``admin_ops.errors_by_field`` gives them)."""

    def __init__(self, errors: dict[str, dict[str, list[str]]]) -> None:
        super().__init__("; ".join(f"{part}: {fields}" for part, fields in errors.items()))
        self.errors = errors


class _RollBack(Exception):
    """Leaves the transaction so that it rolls back."""


def _part(
    errors: dict[str, dict[str, list[str]]], part: str, save: Callable[[], Saved]
) -> Saved | None:
    try:
        return save()
    except ValidationError as exc:
        errors[part] = saving.errors_by_field(exc)
        return None


def _check_deployment_alone(values: Mapping[str, Any]) -> None:
    """The deployment's own field checks when its route or provider could not be saved
    (so its errors show with theirs)."""
    unknown = sorted(set(values) - admin_ops.deployment_fields())
    if unknown:
        raise ValidationError({name: "unknown field" for name in unknown})
    deployment = Deployment(**{k: v for k, v in values.items() if k != "provider"})
    deployment.full_clean(exclude=["route", "provider"], validate_unique=False)


def add_model(
    actor: Any,
    provider: Provider | NewProvider,
    route_values: Mapping[str, Any],
    deployment_values: Mapping[str, Any],
    teams: Iterable[Team] | None = None,
) -> Added:
    """Create the provider (when new), the route (limited to ``teams`` when given) and
    its deployment for ``actor`` (a ``roles.Actor``), or nothing."""

    if isinstance(provider, NewProvider):
        require(actor, "provider.change", None)
    errors: dict[str, dict[str, list[str]]] = {}
    try:
        with transaction.atomic():
            if isinstance(provider, NewProvider):
                new = provider
                saved: Provider | None = _part(
                    errors,
                    "provider",
                    lambda: admin_ops.save_provider(None, new.values, secret=new.secret),
                )
            else:
                saved = provider
            route = _part(errors, "route", lambda: admin_ops.save_route(None, route_values))
            deployment: Deployment | None = None
            if route is not None and saved is not None:
                if teams is not None:
                    route.teams.set(list(teams))
                values = {**deployment_values, "provider": saved}
                deployment = _part(
                    errors,
                    "deployment",
                    lambda: admin_ops.save_deployment(route, None, values, actor=actor),
                )
            else:
                _part(errors, "deployment", lambda: _check_deployment_alone(deployment_values))
            if errors or saved is None or route is None or deployment is None:
                raise _RollBack
    except _RollBack:
        raise AddModelErrors(errors) from None
    return Added(saved, route, deployment)
