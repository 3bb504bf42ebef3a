"""admin_ops: the one implementation of registry changes (console and API share it)."""

from __future__ import annotations

import httpx
import pytest
from django.core.exceptions import ValidationError

from gateway.access import roles
from gateway.base import http
from gateway.models import ApiKey, Deployment, Provider, Route
from gateway.ops import admin_ops
from gateway.web import saving


@pytest.mark.django_db
def test_save_provider_encrypts_secret_and_keeps_it_on_update() -> None:
    provider = admin_ops.save_provider(
        None, {"name": "p", "kind": "openai", "base_url": "http://u/v1"}, secret="sk-1"
    )
    assert provider.secret_ciphertext and "sk-1" not in provider.secret_ciphertext
    admin_ops.save_provider(provider, {"timeout": 3.0})
    provider.refresh_from_db()
    assert provider.stored_secret() == "sk-1" and provider.timeout == 3.0


@pytest.mark.django_db
def test_errors_are_keyed_by_field_and_nothing_is_saved() -> None:
    with pytest.raises(ValidationError) as info:
        admin_ops.save_provider(None, {"name": "p", "kind": "openai"})
    assert "base_url" in saving.errors_by_field(info.value)
    with pytest.raises(ValidationError) as info:
        admin_ops.save_provider(None, {"name": "p", "colour": "red"})
    assert saving.errors_by_field(info.value) == {"colour": ["unknown field"]}
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_route_fallbacks_must_exist() -> None:
    with pytest.raises(ValidationError) as info:
        admin_ops.save_route(None, {"name": "a", "fallbacks": ["ghost"]})
    assert "ghost" in saving.errors_by_field(info.value)["fallbacks"][0]
    admin_ops.save_route(None, {"name": "b"})
    assert admin_ops.save_route(None, {"name": "a", "fallbacks": ["b"]}).fallbacks == ["b"]


@pytest.mark.django_db
def test_deployment_provider_by_name_or_id() -> None:
    echo = Provider.objects.create(name="echo", kind="echo")
    route = admin_ops.save_route(None, {"name": "r"})
    deployment = admin_ops.save_deployment(
        route, None, {"provider": "echo", "model": "e"}, actor=roles.MASTER
    )
    assert deployment.provider == echo
    by_id = admin_ops.save_deployment(
        route, None, {"provider": echo.pk, "model": "f"}, actor=roles.MASTER
    )
    assert by_id.provider == echo
    with pytest.raises(ValidationError):
        admin_ops.save_deployment(
            route, None, {"provider": "missing", "model": "e"}, actor=roles.MASTER
        )
    other = Route.objects.create(name="other")
    with pytest.raises(ValidationError):
        admin_ops.save_deployment(other, deployment, {"weight": 2}, actor=roles.MASTER)
    admin_ops.delete_deployment(deployment)
    assert not Deployment.objects.filter(pk=deployment.pk).exists()


@pytest.mark.django_db
async def test_test_connection_reports_models_and_errors() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer sk-t"
        if request.url.host == "ok.test":
            return httpx.Response(200, json={"data": [{"id": "m1"}, {"id": "m2"}]})
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    http.use_transport(httpx.MockTransport(upstream))
    good = Provider(name="g", kind="openai", base_url="http://ok.test/v1")
    good.set_secret("sk-t")
    result = await admin_ops.test_connection(good)
    assert result.ok and result.models == ["m1", "m2"]
    bad = Provider(name="b", kind="openai", base_url="http://bad.test/v1")
    bad.set_secret("sk-t")
    result = await admin_ops.test_connection(bad)
    assert not result.ok and result.error and "sk-t" not in result.error


@pytest.mark.django_db
async def test_test_connection_shows_the_operator_where_it_failed() -> None:
    """The operator's "test connection" gets the detail API callers do not: the URL
    (without its user info) and the transport's message."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused by llm.internal:8443")

    http.use_transport(httpx.MockTransport(refused))
    provider = Provider(name="c", kind="openai", base_url="http://u:pw-x@llm.internal:8443/v1")
    result = await admin_ops.test_connection(provider)
    assert not result.ok and "'c'" in result.error
    assert "http://llm.internal:8443/v1/models" in result.error and "pw-x" not in result.error


@pytest.mark.django_db
async def test_test_connection_times_out() -> None:
    import asyncio

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"data": []})

    http.use_transport(httpx.MockTransport(slow))
    provider = Provider(name="s", kind="openai", base_url="http://slow.test/v1")
    result = await admin_ops.test_connection(provider, timeout=0.2)
    assert not result.ok and "0.2" in result.error


@pytest.mark.django_db(transaction=True)
def test_a_keys_only_allowed_route_cannot_be_deleted() -> None:
    # an empty allowed list means every route: deleting the last one would open them all
    from django.db.models import ProtectedError

    from gateway.access import keys, registry

    only = admin_ops.save_route(None, {"name": "only"})
    shared = admin_ops.save_route(None, {"name": "shared"})
    admin_ops.save_route(None, {"name": "elsewhere"})
    narrow = keys.create_key(name="narrow", routes=["only"])
    keys.create_key(name="wide", routes=["only", "shared"])
    with pytest.raises(ValidationError) as info:
        admin_ops.delete_route(only)
    assert "narrow" in info.value.messages[0] and "wide" not in info.value.messages[0]
    with pytest.raises(ProtectedError):  # the admin, the shell, any other path
        only.delete()
    admin_ops.delete_route(shared)  # narrows "wide" to "only"; allowed
    entry = registry.current().key(narrow.raw)
    assert entry is not None and entry.routes == frozenset({"only"})
    keys.revoke_key(narrow.key)
    keys.revoke_key(ApiKey.objects.get(name="wide"))
    admin_ops.delete_route(only)  # a revoked key opens nothing


@pytest.mark.django_db
def test_deployment_params_must_be_an_object() -> None:
    Provider.objects.create(name="echo", kind="echo")
    route = admin_ops.save_route(None, {"name": "r"})
    with pytest.raises(ValidationError) as info:
        admin_ops.save_deployment(
            route, None, {"provider": "echo", "model": "e", "params": [1]}, actor=roles.MASTER
        )
    assert "params" in saving.errors_by_field(info.value)
    assert not Deployment.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["azure/gpt-4o-transcribe", "my transcribe", "dep#1", "a?b", " "])
def test_an_azure_deployment_must_be_named_as_a_deployment_can_be(model: str) -> None:
    """On Azure OpenAI the model is the deployment's name: Azure reads it in the URL and,
    in a Realtime session, as the transcription model (its Realtime reference), so one
    no deployment can have is refused when saved, naming the field (#64)."""
    Provider.objects.create(name="az", kind="azure", base_url="https://acme.openai.azure.com")
    route = admin_ops.save_route(None, {"name": "r"})
    with pytest.raises(ValidationError) as info:
        admin_ops.save_deployment(
            route, None, {"provider": "az", "model": model}, actor=roles.MASTER
        )
    assert "Azure deployment's name" in saving.errors_by_field(info.value)["model"][0]
    saved = admin_ops.save_deployment(
        route, None, {"provider": "az", "model": "my-transcribe_2.1"}, actor=roles.MASTER
    )
    assert saved.model == "my-transcribe_2.1"
    Provider.objects.create(name="oa", kind="openai", base_url="http://u/v1")
    other = admin_ops.save_deployment(
        route, None, {"provider": "oa", "model": "ft:gpt-4o/org"}, actor=roles.MASTER
    )  # other kinds: as before
    assert other.pk
