"""Helpers of the annotation queues' tests: a logged request with its bodies, a signed-in
client of a role, a queue made through the console's form."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from console.evals.models import AnnotationQueue
from gateway.access import roles
from gateway.models import Membership, RequestBody, RequestLog, Team


def logged(request_id: str, question: str, answer: str, **fields: Any) -> RequestLog:
    log = RequestLog.objects.create(request_id=request_id, dialect="openai", endpoint="chat",
                                    route=fields.pop("route", "chat"), status=200, **fields)  # fmt: skip
    RequestBody.objects.create(
        log=log,
        inbound_request=json.dumps({"model": "chat", "messages": [{"role": "user", "content": question}]}),
        outbound_response=json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}),
    )  # fmt: skip
    return log


def user(name: str, role: str, team: Team | None = None) -> Client:
    person = User.objects.create_user(name, password="pw-123456789")
    roles.set_role(person, role)
    if team is not None:
        Membership.objects.create(user=person, team=team, role=role)
    client = Client()
    client.force_login(person)
    return client


def make_queue(world: dict[str, Any], **data: Any) -> AnnotationQueue:
    sent = {"name": "answers", "score_configs": [world["quality"].pk, world["verdict"].pk], **data}
    response = world["lead"].post("/evals/queues/", sent)
    assert response.status_code == 302, response.content.decode()[:2000]
    return AnnotationQueue.objects.get(name=sent["name"])
