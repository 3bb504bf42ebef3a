"""What every console page's template gets (``console.context_processors``): the
largest form body the server takes, and the navigation for the signed-in reader (by
their role, the current page marked), computed only when a page draws the bar; nothing
for a reader signed out."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory
from django.urls import resolve

from console import context_processors
from gateway.access import roles


def request_for(path: str, user) -> object:
    request = RequestFactory().get(path)
    request.user = user
    request.resolver_match = resolve(path)
    return request


def test_the_form_body_cap_from_the_settings(settings) -> None:
    settings.SWITCHYARD_MAX_FORM_BODY_BYTES = 12345
    context = context_processors.console(request_for("/logs/", AnonymousUser()))
    assert context["form_body_cap"] == 12345
    assert context["console_nav"]() == []  # signed out: no bar


@pytest.mark.django_db
def test_the_nav_is_the_readers_with_the_current_page() -> None:
    viewer = User.objects.create_user("vi", password="pw-123456789")
    roles.set_role(viewer, "viewer")
    shown = context_processors.console(request_for("/logs/", viewer))["console_nav"]()
    links = {link.label: link for section in shown for link in section.links}
    assert links["Logs"].current and not links["Dashboard"].current
    assert "Users" not in links and "Audit" not in links  # below admin
    owner = User.objects.create_user("ow", password="pw-123456789")
    roles.set_role(owner, "owner")
    everything = context_processors.console(request_for("/audit/", owner))["console_nav"]()
    audit = next(link for section in everything for link in section.links if link.label == "Audit")
    assert audit.current


def test_a_request_without_a_user_or_a_match() -> None:
    request = RequestFactory().get("/")
    assert context_processors.console(request)["console_nav"]() == []
