"""A provider's secret never goes back out: not in any console page (not even as a
form value), not in any API response, not in the exported config."""

from __future__ import annotations

from django.test import Client

from .conftest import SECRET


def test_secret_absent_from_every_page_and_api_response(
    staff_client: Client, registry_rows, settings
) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-test"
    p, r, d = (
        registry_rows["provider"].pk,
        registry_rows["route"].pk,
        registry_rows["deployment"].pk,
    )
    pages = [
        "/",
        "/providers/",
        "/providers/new/",
        f"/providers/{p}/",
        "/routes/",
        f"/routes/{r}/",
        f"/routes/{r}/deployments/new/",
        f"/deployments/{d}/",
        "/routes/import/",
        "/routes/export/",
        "/keys/",
        "/logs/",
        "/logs/req-1/",
    ]
    for url in pages:
        for htmx in (False, True):
            extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
            response = staff_client.get(url, **extra)
            assert response.status_code == 200, url
            assert SECRET not in response.content.decode(), url
    # An edit that fails validation re-renders the form: still no secret in it.
    response = staff_client.post(
        f"/providers/{p}/", {"name": "upstream", "kind": "openai", "base_url": "ftp://x"}
    )
    assert "must start with http" in response.content.decode()
    assert SECRET not in response.content.decode()

    api = Client(HTTP_AUTHORIZATION="Bearer sy-master-test")
    for url in [
        "/api/providers/",
        f"/api/providers/{p}",
        "/api/routes/",
        f"/api/routes/{r}",
        f"/api/routes/{r}/deployments",
    ]:
        response = api.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode(), url
    patched = api.patch(f"/api/providers/{p}", data={"timeout": 5}, content_type="application/json")
    assert patched.status_code == 200 and SECRET not in patched.content.decode()
    assert patched.json()["has_secret"] is True
    assert "stored encrypted" in patched.json()["secret_display"]


def test_provider_page_masks_the_secret(staff_client: Client, registry_rows) -> None:
    page = staff_client.get("/providers/").content.decode()
    assert "stored encrypted" in page
    form = staff_client.get(f"/providers/{registry_rows['provider'].pk}/").content.decode()
    assert 'name="secret"' in form and 'type="password"' in form
    assert 'name="secret" value' not in form
