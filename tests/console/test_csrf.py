"""Console actions enforce CSRF: a POST without the token is refused, with the token
(as htmx sends it, in X-CSRFToken from <body hx-headers>) it goes through."""

from __future__ import annotations

import json
import re

from django.test import Client

from gateway.models import Route


def test_post_without_token_is_refused(staff, registry_rows) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    route = registry_rows["route"]
    response = client.post(f"/routes/{route.pk}/toggle/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert Route.objects.get(pk=route.pk).enabled is True


def test_htmx_header_token_from_the_body_tag_is_accepted(staff, registry_rows) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    page = client.get("/routes/").content.decode()
    headers = json.loads(re.search(r"<body hx-headers='([^']+)'", page).group(1))
    route = registry_rows["route"]
    response = client.post(
        f"/routes/{route.pk}/toggle/",
        HTTP_HX_REQUEST="true",
        HTTP_X_CSRFTOKEN=headers["X-CSRFToken"],
    )
    assert response.status_code == 200
    assert Route.objects.get(pk=route.pk).enabled is False
