"""Every console page and action is for signed-in staff: signed out -> login redirect
(htmx: a client redirect), non-staff -> 403, staff -> allowed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.models import ApiKey


def urls(rows: dict) -> list[tuple[str, str]]:
    p, r, d = rows["provider"].pk, rows["route"].pk, rows["deployment"].pk
    key = ApiKey.objects.create(name="k", prefix="sy-x", key_hash="h" * 64)
    return [
        ("get", "/"),
        ("get", "/providers/"),
        ("get", "/providers/new/"),
        ("post", "/providers/new/"),
        ("get", f"/providers/{p}/"),
        ("post", f"/providers/{p}/"),
        ("post", f"/providers/{p}/delete/"),
        ("post", f"/providers/{p}/test/"),
        ("get", "/routes/"),
        ("get", "/routes/new/"),
        ("post", "/routes/new/"),
        ("get", "/routes/import/"),
        ("post", "/routes/import/"),
        ("get", "/routes/export/"),
        ("get", f"/routes/{r}/"),
        ("post", f"/routes/{r}/"),
        ("post", f"/routes/{r}/toggle/"),
        ("post", f"/routes/{r}/delete/"),
        ("get", f"/routes/{r}/deployments/new/"),
        ("post", f"/routes/{r}/deployments/new/"),
        ("get", f"/deployments/{d}/"),
        ("post", f"/deployments/{d}/"),
        ("post", f"/deployments/{d}/delete/"),
        ("get", "/keys/"),
        ("post", "/keys/new/"),
        ("post", f"/keys/{key.pk}/revoke/"),
        ("get", "/logs/"),
        ("get", "/logs/req-1/"),
        ("get", "/spend/"),  # /usage/ redirects here
        ("get", "/usage/export.csv"),
        ("get", "/catalog/"),
    ]


def test_signed_out_is_sent_to_login(client: Client, registry_rows) -> None:
    for method, url in urls(registry_rows):
        response = getattr(client, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/login/?next="), (method, url)


def test_signed_out_htmx_request_gets_a_client_redirect(client: Client, registry_rows) -> None:
    response = client.get("/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/"


def test_non_staff_gets_403_everywhere(client: Client, registry_rows) -> None:
    user = User.objects.create_user("viewer", password="pw-123456789")
    client.force_login(user)
    for method, url in urls(registry_rows):
        response = getattr(client, method)(url)
        assert response.status_code == 403, (method, url)
        assert b"no role on this" in response.content
    # Nothing changed behind the 403s.
    assert ApiKey.objects.get(name="k").revoked_at is None
    assert registry_rows["route"].__class__.objects.filter(pk=registry_rows["route"].pk).exists()


def test_staff_can_open_every_page(staff_client: Client, registry_rows) -> None:
    for method, url in urls(registry_rows):
        if method == "get":
            assert staff_client.get(url).status_code == 200, url


def test_login_and_logout(client: Client, staff) -> None:
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post("/login/", {"username": "ops", "password": "pw-123456789"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_unknown_page_is_the_console_404(client: Client) -> None:
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Nothing here" in response.content
