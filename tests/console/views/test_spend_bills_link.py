"""The Spend page links to the providers' bills only for readers of the Bills page: a
viewer reads Spend (``usage.view``) but not every provider's bill (``spend.view``), and a
link that leads to a 403 is a dead end."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from gateway.access import roles

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("role", "sees"), [("owner", True), ("admin", True), ("viewer", False)])
def test_the_bills_link_is_shown_to_who_may_open_bills(role: str, sees: bool) -> None:
    user = User.objects.create_user(f"u-{role}", password="pw-123456789")
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    page = client.get(reverse("console:spend"))
    assert page.status_code == 200
    assert (reverse("console:bills") in page.content.decode()) is sees
    assert client.get(reverse("console:bills")).status_code == (200 if sees else 403)
