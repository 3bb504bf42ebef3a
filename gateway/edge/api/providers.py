"""Providers in the management API. Secrets are write-only: a response says whether a
secret is stored (``has_secret``) and shows the masked display, never the secret. Extra
headers likewise come back masked (references shown), and a base URL's user info and
key-like query values; a masked value sent back in a PATCH keeps the stored one."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from gateway.base.entries import same_named
from gateway.models import Provider
from gateway.ops import admin_ops
from gateway.web import saving
from gateway.web.api.fields import column, omittable
from gateway.web.api.writes import (
    ValidationErrors as ValidationErrors,  # routes, keys... read it here
)
from gateway.web.api.writes import check_fields, save_with_secret

router = Router(tags=["providers"])


class ProviderOut(Schema):
    id: int
    name: str
    kind: str
    base_url: str
    api_version: str
    extra_headers: dict[str, str]
    timeout: float | None
    settings: dict[str, str]
    has_secret: bool
    secret_display: str
    deployments: int

    @staticmethod
    def of(provider: Provider) -> ProviderOut:
        return ProviderOut(
            id=provider.pk,
            **same_named(provider, "name kind api_version timeout has_secret secret_display"),
            base_url=provider.base_url_display,  # credentials in it masked
            extra_headers=provider.extra_headers_display,
            settings=provider.settings or {},
            deployments=(
                provider.deployment_count
                if hasattr(provider, "deployment_count")
                else provider.deployments.count()
            ),
        )


class ProviderIn(Schema):
    name: str = column(Provider, "name")
    kind: str = column(Provider, "kind", default=Provider.Kind.OPENAI)  # gateway.providers.kinds
    base_url: str = column(Provider, "base_url", default="")
    api_version: str = column(Provider, "api_version", default="")
    extra_headers: dict[str, str] = {}
    timeout: float | None = column(Provider, "timeout", default=None)
    # kind-specific (LiteLLM's names), those the kind's adapter lists in settings_taken:
    # bedrock aws_region_name, aws_access_key_id, aws_profile_name; vertex_ai
    # vertex_project, vertex_location
    settings: dict[str, str] = {}
    secret: str | None = None  # a literal or os.environ/NAME; never returned


class ProviderPatch(Schema):
    """A field left out keeps its value; null only where it clears one (``timeout``)."""

    name: str = column(Provider, "name", patch=True)
    kind: str = column(Provider, "kind", patch=True)
    base_url: str = column(Provider, "base_url", patch=True)
    api_version: str = column(Provider, "api_version", patch=True)
    extra_headers: dict[str, str] = omittable()
    timeout: float | None = column(Provider, "timeout", patch=True)
    settings: dict[str, str] = omittable()
    secret: str | None = None  # omitted or null: keep; "": clear


class ConnectionOut(Schema):
    ok: bool
    models: list[str]
    error: str
    elapsed_ms: float


@router.get("/", response=list[ProviderOut])
def list_providers(request: HttpRequest) -> list[ProviderOut]:
    counted = Provider.objects.annotate(deployment_count=Count("deployments"))
    return [ProviderOut.of(p) for p in counted]


@router.post("/", response={201: ProviderOut, 422: ValidationErrors})
def create_provider(request: HttpRequest, payload: ProviderIn) -> Status[Any]:
    check_fields(request, "providers", payload.dict(exclude_unset=True))
    return save_with_secret(admin_ops.save_provider, None, payload, "secret", ProviderOut.of)


@router.get("/{rowid:provider_id}", response=ProviderOut)
def get_provider(request: HttpRequest, provider_id: int) -> ProviderOut:
    return ProviderOut.of(get_object_or_404(Provider, pk=provider_id))


@router.patch("/{rowid:provider_id}", response={200: ProviderOut, 422: ValidationErrors})
def update_provider(request: HttpRequest, provider_id: int, payload: ProviderPatch) -> Status[Any]:
    provider = get_object_or_404(Provider, pk=provider_id)
    check_fields(request, "providers", payload.dict(exclude_unset=True), provider)
    return save_with_secret(admin_ops.save_provider, provider, payload, "secret", ProviderOut.of)


@router.delete("/{rowid:provider_id}", response={204: None, 409: ValidationErrors})
def delete_provider(request: HttpRequest, provider_id: int) -> Status[Any]:
    provider = get_object_or_404(Provider, pk=provider_id)
    try:
        admin_ops.delete_provider(provider)
    except ValidationError as exc:
        return Status(409, {"errors": saving.errors_by_field(exc)})
    return Status(204, None)


@router.post("/{rowid:provider_id}/test", response=ConnectionOut)
def test_provider(request: HttpRequest, provider_id: int) -> ConnectionOut:
    """Ask the upstream for its model list (a short timeout); the error is the answer."""
    provider = get_object_or_404(Provider, pk=provider_id)
    result = async_to_sync(admin_ops.test_connection)(provider)
    return ConnectionOut(
        ok=result.ok, models=result.models, error=result.error, elapsed_ms=result.elapsed_ms
    )
