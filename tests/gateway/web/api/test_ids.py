"""Every /api path parameter goes through one reading (``gateway.web.api.ids``): an id
that is not ASCII digits or does not fit a 64-bit column names no row, a 404 in the
API's error shape, never a 500 (``GET /api/logs/²`` was one: ``"²".isdigit()`` is true
and ``int("²")`` raises; 2**64 reached the database driver, which refuses to bind it).

The walk takes every operation of the API's own document, so a route added later is
walked too."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from gateway.edge.api import api
from gateway.models import RequestLog
from gateway.web.api.ids import MAX_ROW_ID, row_id

MASTER = "sy-ids-test-master"
BAD = ["²", "١٢", "-1", "1e3", "0x10", "+1", " 1", "1.0", str(2**63), "9" * 40]


@pytest.fixture(autouse=True)
def master_key(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


def test_row_id_takes_ascii_digits_that_fit_a_column() -> None:
    assert row_id("0") == 0 and row_id("42") == 42
    assert row_id(str(MAX_ROW_ID)) == MAX_ROW_ID
    for value in ["", *BAD]:
        assert row_id(value) is None, value


def operations() -> list[tuple[str, str]]:
    """(method, path template) of every operation with a path parameter."""
    document = api.get_openapi_schema()
    found = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            params = operation.get("parameters") or []
            if any(p.get("in") == "path" for p in params):
                found.append((method, template))
    return found


def test_the_walk_reaches_every_kind_of_id() -> None:
    walked = " ".join(t for _, t in operations())
    for name in ("key_id", "route_id", "deployment_id", "team_id", "request_id", "dataset_id"):
        assert "{" + name + "}" in walked, name
    assert len(operations()) > 40


@pytest.mark.django_db
@pytest.mark.parametrize("bad", BAD)
def test_every_id_parameter_refuses_a_bad_id_with_a_404(bad: str) -> None:
    RequestLog.objects.create(request_id="r-1", dialect="openai", endpoint="chat", status=200)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    wrong: list[str] = []
    for method, template in operations():
        path = re.sub(r"\{[^}]+\}", bad.replace(" ", "%20"), template)
        if method == "get":
            answer = client.get(path)
        else:
            answer = client.generic(method.upper(), path, "{}", "application/json")
        body = answer.json() if answer["content-type"].startswith("application/json") else None
        # an id that names no row is a 404; an operation whose parameter is a name may
        # refuse the body first (422), but never a 500, and always in the API's shape
        allowed = {404} if "_id}" in template or "{index}" in template else {404, 422}
        if "{request_id}" in template or "{username}" in template:
            allowed = {404, 422}
        if answer.status_code not in allowed or body is None or "detail" not in body:
            wrong.append(f"{method.upper()} {path}: {answer.status_code} {answer.content[:120]!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_a_row_id_still_opens_its_row() -> None:
    row = RequestLog.objects.create(request_id="r-2", dialect="openai", endpoint="chat", status=200)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    assert client.get(f"/api/logs/{row.pk}").json()["request_id"] == "r-2"
    assert client.get("/api/keys/1").status_code == 404
    assert client.get("/api/no-such-resource/").json()["detail"].startswith("no such path")


@pytest.mark.django_db
def test_query_filters_with_unicode_or_huge_digits_are_not_500s() -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    for query in ("status=²", "key=²", f"key={2**70}", "status=99999999999", "q=²²²"):
        answer = client.get(f"/api/logs/?{query}")
        assert answer.status_code in (200, 422), (query, answer.content)
    answer = client.get("/api/prompts/p/diff?from=²&to=1")
    assert answer.status_code in (404, 422), answer.content
