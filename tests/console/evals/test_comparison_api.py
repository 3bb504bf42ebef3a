"""``/api/prompt-comparisons``: a script starts the comparison of a prompt's versions on a
dataset and reads its result, as the console's form and page do (one experiment per
version; the same refusals, said in the API's 422; each start audited). Who may call
it: the role matrix (``tests/console/test_role_matrix.py``, leads only)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from gateway.models import AuditEvent

from ..playground_support import make_user
from .test_prompt_runs import run_all

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/prompt-comparisons/"


@pytest.fixture
def client(triage) -> Client:
    browser = Client()
    browser.force_login(make_user("olive", staff=True))
    return browser


def post(client: Client, body: dict):  # type: ignore[no-untyped-def]
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_a_comparison_is_started_and_read_back(triage, recorder, client) -> None:
    _, dataset = triage
    body = {"prompt": "support.triage", "versions": [1, 2], "dataset": dataset.pk}
    started = post(client, {**body, "route": "fast", "scorers": ["exact"]})
    assert started.status_code == 201, started.content
    out = started.json()
    run = out["run"]
    assert [v["version"] for v in out["versions"]] == [1, 2]
    assert out["finished"] is False and out["total"] == 6
    assert AuditEvent.objects.filter(action="start", object_type="experiment").count() == 2
    run_all(run)
    done = client.get(f"{URL}support.triage/{run}").json()
    assert done["finished"] is True and done["done"] == 6
    assert [v["means"][0]["shown"] for v in done["versions"]] == ["100% pass", "0% pass"]
    assert all(v["route"] == "fast" and v["rows"] == 3 for v in done["versions"])
    listed = client.get(f"{URL}?prompt=support.triage").json()
    assert [(c["run"], c["versions"], c["finished"]) for c in listed] == [(run, [1, 2], True)]


def test_refused_in_the_apis_format(triage, client) -> None:
    _, dataset = triage
    body = {"prompt": "support.triage", "versions": [1, 2], "dataset": dataset.pk}
    one = post(client, {**body, "versions": [1], "route": "fast"})
    assert one.status_code == 422 and "choose 2 to 6 versions" in one.json()["detail"]
    no_route = post(client, body)  # v2 names no model
    assert no_route.status_code == 422 and "version 2 names no route" in no_route.json()["detail"]
    assert post(client, {**body, "prompt": "nope", "route": "fast"}).status_code == 404
    assert post(client, {**body, "dataset": 999, "route": "fast"}).status_code == 404
    assert post(client, {"prompt": "support.triage"}).status_code == 422  # a body without fields
    assert client.get(f"{URL}support.triage/nope").status_code == 404
    assert client.get(f"{URL}?prompt=nope").status_code == 404
    assert not AuditEvent.objects.filter(object_type="experiment").exists()  # all or none
