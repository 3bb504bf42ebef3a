"""Every state-changing request leaves one audit row naming the person who made it.

The walk takes every console URL and every ``/api`` operation with an unsafe method
(POST, PUT, PATCH, DELETE) from the resolver and the API's own schema, as the owner,
and watches the database: a request that wrote anything must have written an audit
event naming the owner. For the actions issue #37 names (datasets, experiments,
reviews, exports) the walk sends a body that succeeds, so they must write one; a new
endpoint that changes state without an event fails here (the middleware's backstop
records it, but only if it is there). Exports are GETs: listed in ``EXPORTS``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.evals import datasets
from console.evals.models import Experiment
from console.evals.parsing import parse_file
from gateway.access import registry
from gateway.models.batches import Batch
from gateway.models.telemetry import AuditEvent
from tests.console.test_role_matrix import (  # noqa: F401 - world is a fixture
    api_paths,
    api_url,
    console_patterns,
    console_url,
    world,
)

UNSAFE = ("post", "put", "patch", "delete")
# Console POSTs that change nothing, with the reason (they may still write nothing).
NOT_STATE_CHANGING = {
    "provider-test": "sends a test request to the provider, saves nothing",
    "deployment-models": "lists the provider's models for the form",
    "playground-diff": "compares two answers on screen",
    "playground-raw": "shows a request's raw wire body",
    "logout": "ends the session only (the session table is not state)",
}
# Bodies that make the finding's actions succeed (else an empty form is sent).
PROMPT = '{"messages": [{"role": "user", "content": "hi"}]}'
JSONL = b'{"messages": [{"role": "user", "content": "hi"}], "reference": "hello"}\n'


def console_bodies(w: dict) -> dict[str, dict[str, Any]]:
    return {
        "evals-upload": {"name": "walked", "file": SimpleUploadedFile("walked.jsonl", JSONL)},
        "evals-row-edit": {"messages": '[{"role": "user", "content": "hey"}]'},
        "evals-experiment-new": {"dataset": w["dataset"].pk, "route_0": "chat", "name": "e2"},
        "playground-prompt-save": {"name": "walked", "spec": PROMPT},
        "batch-cancel": {},
        "evals-cancel": {},
        "evals-resume": {},
    }


def api_bodies(w: dict) -> dict[str, str]:
    return {
        "post /api/datasets/": '{"name": "api-ds", "rows": [{"messages": [{"role": "user", '
        '"content": "x"}]}]}',
        "put /api/datasets/{dataset_id}/rows/{index}": '{"row": {"messages": [{"role": '
        '"user", "content": "y"}]}}',
        "patch /api/datasets/{dataset_id}": '{"description": "changed"}',
        "post /api/experiments/": f'{{"dataset": {w["dataset"].pk}, "columns": ["chat"]}}',
        "post /api/experiments/{experiment_id}/cancel": "{}",
        "post /api/experiments/{experiment_id}/resume": "{}",
    }


EXPORTS = {
    "usage-csv": "",
    "spend-csv": "",
    "audit-export": "",
    "config-export": "",
    "evals-export": "",
    "/api/audit/export": "",
    "/api/spend/?format=csv": "",
    "/api/experiments/{experiment_id}/results": "",
}


@pytest.fixture
def evals_world(world) -> dict:  # noqa: F811
    registry.rebuild()
    dataset = datasets.create("walk", parse_file("walk.jsonl", JSONL * 3))
    experiment = Experiment.objects.create(
        name="walk-e", dataset=dataset, dataset_version=1, columns=[{"route": "chat"}]
    )
    now = timezone.now()
    batch = Batch.objects.create(
        id="batch_walk", api="openai", endpoint="/v1/chat/completions", key_id=world["key"].pk,
        status="in_progress", created_at=now, expires_at=now + timedelta(hours=24),
    )  # fmt: skip
    return {**world, "dataset": dataset, "experiment": experiment, "batch": batch}


def evals_url(name: str, url: str, w: dict) -> str:
    if name in ("evals-dataset", "evals-row-edit"):
        return re.sub(r"/datasets/\d+/", f"/datasets/{w['dataset'].pk}/", url)
    return re.sub(r"/experiments/\d+/", f"/experiments/{w['experiment'].pk}/", url)


@contextmanager
def watching_writes() -> Iterator[list[str]]:
    """The SQL writes made inside (but the session's and the audit log's own)."""
    writes: list[str] = []

    def note(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        head = sql.lstrip()[:6].lower()
        if head in ("insert", "update", "delete") and not any(
            t in sql[:120] for t in ("django_session", "gateway_auditevent")
        ):
            writes.append(sql[:80])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        yield writes


def check(client: Client, label: str, send: Any, failures: list[str], must: bool) -> None:
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with watching_writes() as writes:
        response = send()
    events = list(AuditEvent.objects.filter(id__gt=before))
    if response.status_code >= 500:
        failures.append(f"{label}: {response.status_code}")
    elif must and not events:
        failures.append(f"{label}: {response.status_code}, no audit row")
    elif writes and not events:
        failures.append(f"{label}: changed the database ({writes[0]}) without an audit row")
    elif any(e.actor != "owner" for e in events):
        failures.append(f"{label}: audit row names {[e.actor for e in events]}, not the owner")


def last_first(name: str) -> tuple[bool, str]:
    return ("delete" in name or "revoke" in name, name)


def test_every_unsafe_console_url_is_audited(evals_world) -> None:
    w = evals_world
    client = Client()
    client.force_login(w["users"]["owner"])
    bodies = console_bodies(w)
    patterns = dict(console_patterns())
    failures: list[str] = []
    for name in sorted(patterns, key=last_first):
        if name in NOT_STATE_CHANGING or name in ("static", "sso-start", "sso-callback", "login"):
            continue
        url = console_url(name, patterns[name], w)
        if name.startswith("evals-"):
            url = evals_url(name, url, w)
        url = url.replace("batch_missing", w["batch"].id)
        body = bodies.get(name, {})
        send = lambda url=url, body=body: client.post(url, body)  # noqa: E731
        check(client, f"POST {url}", send, failures, name in bodies)
    assert failures == []
    assert not set(NOT_STATE_CHANGING) - set(patterns) - {"logout"}, "a stale allow-list entry"


def test_every_unsafe_api_operation_is_audited(evals_world) -> None:
    w = evals_world
    client = Client()
    client.force_login(w["users"]["owner"])
    bodies = api_bodies(w)
    values = {"dataset_id": w["dataset"].pk, "experiment_id": w["experiment"].pk}
    failures: list[str] = []
    operations = [(m, t) for m, t in api_paths() if m in UNSAFE]
    assert operations, "the schema lists no unsafe operation"
    for method, template in sorted(operations, key=lambda op: (op[0] == "delete", op[1])):
        url = template
        for placeholder, value in values.items():
            url = url.replace("{" + placeholder + "}", str(value))
        url = api_url(url, w)
        body = bodies.get(f"{method} {template}", "{}")
        call = getattr(client, method)
        check(
            client,
            f"{method.upper()} {url}",
            lambda call=call, url=url, body=body: call(
                url, data=body, content_type="application/json"
            ),
            failures,
            f"{method} {template}" in bodies,
        )
    assert failures == []


def test_exports_are_audited(evals_world) -> None:
    w = evals_world
    client = Client()
    client.force_login(w["users"]["owner"])
    failures: list[str] = []
    for what in EXPORTS:
        if what.startswith("/api/"):
            url = what.replace("{experiment_id}", str(w["experiment"].pk))
        elif what == "evals-export":
            url = reverse("console:evals-export", args=[w["experiment"].pk, "csv"])
        else:
            url = reverse(f"console:{what}")
        before = AuditEvent.objects.count()
        response = client.get(url)
        made = list(AuditEvent.objects.order_by("-id")[: AuditEvent.objects.count() - before])
        if response.status_code != 200:
            failures.append(f"GET {url}: {response.status_code}")
        elif [(e.action, e.actor) for e in made] != [("export", "owner")]:
            failures.append(f"GET {url}: {[(e.action, e.actor) for e in made]}")
    assert failures == []


def test_the_backstop_records_an_unaudited_write(evals_world) -> None:
    """A console POST whose view records nothing but changes the database (a thumbs up
    on a request) still leaves one row naming the owner."""
    client = Client()
    client.force_login(evals_world["users"]["owner"])
    before = AuditEvent.objects.count()
    response = client.post(
        reverse("console:log-score", args=[evals_world["log"].request_id]), {"value": "up"}
    )
    made = AuditEvent.objects.count() - before
    assert response.status_code < 500
    wrote = made and AuditEvent.objects.order_by("-id").first()
    assert wrote and wrote.actor == "owner" and wrote.action == "post"


def test_a_console_tool_call_is_audited(evals_world) -> None:
    """Calling a tool from the console runs it as the master key: the row names the
    person who pressed the button, the server and the tool (here the server is down,
    so the call is an error, and still audited)."""
    from gateway.features.mcp import save as mcp_admin

    server = mcp_admin.save_server(
        None,
        {"name": "walk", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp",
         "connect_timeout": 1, "call_timeout": 1},
    )  # fmt: skip
    registry.rebuild()
    client = Client()
    client.force_login(evals_world["users"]["owner"])
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response = client.post(
        reverse("console:mcp-call", args=[server.pk]), {"tool": "echo", "arguments": "{}"}
    )
    assert response.status_code == 200
    made = list(AuditEvent.objects.filter(id__gt=before))
    assert [(e.action, e.actor, e.object_name) for e in made] == [("tool_call", "owner", "walk")]
    assert made[0].changes == {"tool": "echo", "is_error": True}
