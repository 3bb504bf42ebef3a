"""The console's pages carry the Content-Security-Policy (``gateway.edge.security_headers``):
an HTML answer outside ``/admin/`` and ``/api/`` gets it, whatever the view; JSON, the
admin and the API (whose docs page loads its viewer from a CDN) are left as they are, and
a policy a view set itself is kept. Held for the sync and the async middleware alike, and
through the installed middleware on a real console page."""

from __future__ import annotations

import pytest
from django.http import HttpResponse, JsonResponse
from django.test import Client, RequestFactory

from gateway.edge.security_headers import content_security_policy
from gateway.web.http import CONTENT_SECURITY_POLICY

HTML = "text/html; charset=utf-8"


def sync_answer(response: HttpResponse, path: str) -> HttpResponse:
    middleware = content_security_policy(lambda request: response)
    return middleware(RequestFactory().get(path))


async def async_answer(response: HttpResponse, path: str) -> HttpResponse:
    async def view(request):
        return response

    middleware = content_security_policy(view)
    return await middleware(RequestFactory().get(path))


@pytest.mark.parametrize("path", ["/", "/routes/", "/logs/1/", "/login/"])
def test_an_html_page_gets_the_policy(path) -> None:
    answer = sync_answer(HttpResponse("<p>hi</p>", content_type=HTML), path)
    assert answer["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/admin/", "/admin/gateway/route/", "/api/docs/"])
def test_the_admin_and_the_api_are_left_as_they_are(path) -> None:
    answer = sync_answer(HttpResponse("<p>hi</p>", content_type=HTML), path)
    assert "Content-Security-Policy" not in answer


def test_a_json_answer_is_left_as_it_is() -> None:
    assert "Content-Security-Policy" not in sync_answer(JsonResponse({"a": 1}), "/routes/")


def test_a_policy_the_view_set_is_kept() -> None:
    response = HttpResponse("<p>hi</p>", content_type=HTML)
    response["Content-Security-Policy"] = "default-src 'none'"
    assert sync_answer(response, "/")["Content-Security-Policy"] == "default-src 'none'"


async def test_the_async_middleware_adds_it_the_same_way() -> None:
    page = await async_answer(HttpResponse("<p>hi</p>", content_type=HTML), "/")
    assert page["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    api = await async_answer(HttpResponse("<p>hi</p>", content_type=HTML), "/api/docs/")
    assert "Content-Security-Policy" not in api


@pytest.mark.django_db
def test_the_installed_middleware_sets_it_on_the_sign_in_page() -> None:
    page = Client().get("/login/")
    assert page.status_code == 200
    assert page["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
