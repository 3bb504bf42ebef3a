"""Annotation queues and score configs in the console: who may define and who may review
(the role matrix collects ``ROLE_EXPECTATIONS``), a config form that shows every field's
problem at once, a queue filled from a journal filter (a stable sample), requests sent to
it from a log row, a session and an experiment, two reviewers never given the same item
(the lock), a reviewer's scores checked against the configs (an inline 422, nothing
saved) and saved as ``review`` scores on the request, skip, an editor seeing only the
items of their teams, and the done items turned into a dataset."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from console.evals import queues
from console.evals.models import AnnotationQueue, Cell, Dataset, Experiment, QueueItem
from gateway.access import roles
from gateway.models import ApiKey, Membership, RequestBody, RequestLog, Score, ScoreConfig, Team
from tests.console.role_sets import ADMINS, ROUTE_EDITORS, Expectation

# Leads (evals.use: owners, admins) define queues and configs and send requests to queues;
# reviewers (editors and above) open the queues and work them.
REVIEWERS = ROUTE_EDITORS
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "evals-scoring": (ADMINS, ADMINS),
    "evals-scoring-edit": (ADMINS, ADMINS),
    "evals-queues": (REVIEWERS, ADMINS),
    "evals-queue": (REVIEWERS, ADMINS),
    "evals-queue-add": (ADMINS, ADMINS),
    "evals-queue-dataset": (ADMINS, ADMINS),
    "evals-queue-review": (REVIEWERS, REVIEWERS),
    "evals-queue-item": (REVIEWERS, REVIEWERS),
}

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def world(db) -> dict[str, Any]:
    team = Team.objects.create(name="alpha")
    key = ApiKey.objects.create(name="k", prefix="sy-k", key_hash="a" * 64, team=team)
    logs = [logged(f"r-{i}", f"question {i}", f"answer {i}", key_id=key.pk, key_name="k",
                   session="s-1" if i < 2 else "") for i in range(4)]  # fmt: skip
    outsider = logged("r-out", "not yours", "no", route="other")
    quality = ScoreConfig.objects.create(
        name="quality", data_type="numeric", min_value=1, max_value=5
    )
    verdict = ScoreConfig.objects.create(name="verdict", data_type="categorical",
                                         categories=["correct", "wrong"])  # fmt: skip
    return {"team": team, "logs": logs, "outsider": outsider, "quality": quality,
            "verdict": verdict, "lead": user("lena", "admin"),
            "editor": user("eddie", "editor", team), "editor2": user("erin", "editor", team)}  # fmt: skip


def make_queue(world: dict[str, Any], **data: Any) -> AnnotationQueue:
    sent = {"name": "answers", "score_configs": [world["quality"].pk, world["verdict"].pk], **data}
    response = world["lead"].post("/evals/queues/", sent)
    assert response.status_code == 302, response.content.decode()[:2000]
    return AnnotationQueue.objects.get(name=sent["name"])


def test_a_config_form_shows_every_problem_at_once(world) -> None:
    lead = world["lead"]
    refused = lead.post("/evals/score-configs/", {"name": "bad name", "data_type": "numeric",
                                                  "min_value": "x", "categories": "a"})  # fmt: skip
    html = refused.content.decode()
    assert refused.status_code == 422 and "3 fields to fix" in html
    assert "a finite number" in html and "only a categorical score has categories" in html
    assert 'value="bad name"' in html  # what was typed stays
    made = lead.post("/evals/score-configs/", {"name": "tone", "data_type": "categorical",
                                               "categories": "calm\nrude, neutral"})  # fmt: skip
    assert made.status_code == 302
    assert ScoreConfig.objects.get(name="tone").categories == ["calm", "rude", "neutral"]
    page = lead.get("/evals/score-configs/").content.decode()
    assert "calm, rude, neutral" in page and "1 to 5" in page
    tone = ScoreConfig.objects.get(name="tone")
    edited = lead.post(f"/evals/score-configs/{tone.pk}/", {"name": "tone", "data_type": "numeric",
                                                           "min_value": "3", "max_value": "1"})  # fmt: skip
    assert edited.status_code == 422 and "above the minimum" in edited.content.decode()
    assert lead.post(f"/evals/score-configs/{tone.pk}/", {"action": "delete"}).status_code == 302
    assert not ScoreConfig.objects.filter(name="tone").exists()


def test_a_queue_filled_from_a_filter_takes_a_stable_sample(world) -> None:
    refused = world["lead"].post("/evals/queues/", {"name": "", "status": "bogus", "sample": "0"})
    html = refused.content.decode()
    assert refused.status_code == 422 and "score_configs" not in html.split("alert")[0]
    assert "choose at least one score config" in html and "from 1 to 100" in html
    full = make_queue(world, route="chat")
    assert full.items.count() == 4 and full.filters == {"route": "chat"}
    half = make_queue(world, name="half", route="chat", sample="50")
    chosen = set(half.items.values_list("log__request_id", flat=True))
    assert chosen == {f"r-{i}" for i in range(4) if queues.sampled(f"r-{i}", 50)}
    assert queues.fill(half) == 0  # the same sample again: nothing new
    logged("r-new", "q", "a")
    assert queues.fill(full) == 1


def test_requests_are_sent_from_a_log_row_a_session_and_an_experiment(world) -> None:
    queue = make_queue(world)
    lead = world["lead"]
    detail = lead.get("/logs/r-3/").content.decode()
    assert 'id="add-to-queue"' in detail and "answers" in detail
    sent = lead.post(
        "/evals/queues/add/", {"queue": queue.pk, "request_id": "r-3", "next": "/logs/r-3/"}
    )
    assert sent.status_code == 302 and sent["Location"] == "/logs/r-3/"
    assert "session" in lead.get("/sessions/s-1/").content.decode()
    lead.post("/evals/queues/add/", {"queue": queue.pk, "session": "s-1"})
    dataset = Dataset.objects.create(name="d")
    experiment = Experiment.objects.create(name="e", dataset=dataset, dataset_version=1,
                                           columns=[{"route": "chat"}], status="done")  # fmt: skip
    Cell.objects.create(experiment=experiment, row_index=0, column=0, request_id="r-2")
    assert 'id="add-to-queue"' in lead.get(f"/evals/experiments/{experiment.pk}/").content.decode()
    lead.post("/evals/queues/add/", {"queue": queue.pk, "experiment": experiment.pk})
    lead.post("/evals/queues/add/", {"queue": queue.pk, "request_id": "r-3"})  # once only
    items = dict(queue.items.values_list("log__request_id", "source"))
    assert items == {"r-3": "log", "r-0": "session", "r-1": "session", "r-2": "experiment"}
    # a reviewer gets no "Add to queue" form; a bad queue is a message, not a 500
    assert 'id="add-to-queue"' not in world["editor"].get("/logs/r-3/").content.decode()
    assert lead.post("/evals/queues/add/", {"queue": "x", "request_id": "r-3"}).status_code == 302


def test_two_reviewers_never_get_the_same_item(world) -> None:
    queue = make_queue(world, route="chat")
    first = world["editor"].get(f"/evals/queues/{queue.pk}/review/")
    second = world["editor2"].get(f"/evals/queues/{queue.pk}/review/")
    assert first.status_code == second.status_code == 302
    assert first["Location"] != second["Location"]
    # opening again gives the same item back (it is still theirs)
    assert world["editor"].get(f"/evals/queues/{queue.pk}/review/")["Location"] == first["Location"]
    # the other reviewer sees it read-only, and may not score it
    page = world["editor2"].get(first["Location"])
    assert "eddie has this item open" in page.content.decode()
    taken = world["editor2"].post(first["Location"], {"action": "submit", "score-quality": "4"})
    assert taken.status_code == 409 and not Score.objects.exists()
    # once the lock has run out, another reviewer may take it
    QueueItem.objects.filter(locked_by="eddie").update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    item = QueueItem.objects.get(locked_by="eddie")
    assert queues.take(item, "erin", 10)


def test_a_reviewer_scores_are_checked_then_saved_on_the_request(world) -> None:
    queue = make_queue(world, route="chat")
    editor = world["editor"]
    url = editor.get(f"/evals/queues/{queue.pk}/review/")["Location"]
    page = editor.get(url).content.decode()
    assert "question 0" in page and "answer 0" in page and "0 of 4 done" in page
    assert "<kbd>1</kbd> correct" in page and "data-queue-review" in page
    refused = editor.post(url, {"action": "submit", "score-quality": "9", "score-verdict": "maybe"})
    html = refused.content.decode()
    assert refused.status_code == 422
    assert "9 is above quality&#x27;s maximum 5" in html and "not a category of verdict" in html
    assert not Score.objects.exists()
    assert editor.post(url, {"action": "submit"}).status_code == 422  # nothing given
    done = editor.post(url, {"action": "submit", "score-quality": "4", "score-verdict": "correct",
                             "comment": "good"})  # fmt: skip
    assert done.status_code == 302 and done["Location"].endswith("/review/")
    saved = {(s.name, s.value, s.label, s.source, s.author, s.comment) for s in Score.objects.all()}
    assert saved == {("quality", 4.0, "", "review", "eddie", "good"),
                     ("verdict", None, "correct", "review", "eddie", "good")}  # fmt: skip
    item = QueueItem.objects.get(status="done")
    assert item.done_by == "eddie" and item.locked_by == ""
    # the next one; skip it
    nxt = editor.get(done["Location"])["Location"]
    assert nxt != url
    assert editor.post(nxt, {"action": "skip"}).status_code == 302
    assert queues.progress(queue) == queues.Progress(4, 1, 1)
    # the queue page: progress and who scored what; the log list shows the scores
    detail = world["lead"].get(f"/evals/queues/{queue.pk}/").content.decode()
    assert "1 of 4 done" in detail and "by eddie" in detail and "quality: 4" in detail
    assert "verdict correct" in world["lead"].get("/logs/").content.decode()


def test_an_editor_works_only_the_requests_they_may_see(world) -> None:
    queue = make_queue(world, name="all")
    queues.add_logs(queue, [world["outsider"].pk], QueueItem.Source.LOG)
    item = queue.items.get(log=world["outsider"])
    assert world["editor"].get(f"/evals/queues/{queue.pk}/items/{item.pk}/").status_code == 404
    assert world["lead"].get(f"/evals/queues/{queue.pk}/items/{item.pk}/").status_code == 200
    # the editor's review: nothing visible left, the end page
    finished = world["editor"].get(f"/evals/queues/{queue.pk}/review/")
    assert finished.status_code == 200 and "open by other reviewers" in finished.content.decode()


def test_done_items_become_a_dataset(world) -> None:
    queue = make_queue(world, route="chat")
    empty = world["lead"].post(f"/evals/queues/{queue.pk}/dataset/", {"name": "nothing"})
    assert empty.status_code == 302 and not Dataset.objects.exists()
    for _ in range(2):
        url = world["editor"].get(f"/evals/queues/{queue.pk}/review/")["Location"]
        world["editor"].post(url, {"score-quality": "5", "score-verdict": "wrong"})
    made = world["lead"].post(f"/evals/queues/{queue.pk}/dataset/", {"name": "reviewed"})
    dataset = Dataset.objects.get(name="reviewed")
    assert made["Location"] == f"/evals/datasets/{dataset.pk}/" and dataset.source == "queue"
    rows = list(dataset.rows())
    assert [r.messages[-1]["content"] for r in rows] == ["question 0", "question 1"]
    assert rows[0].reference == "answer 0"
    assert rows[0].metadata["scores"] == {"quality": 5.0, "verdict": "wrong"}
    assert rows[0].metadata["reviewers"] == ["eddie"] and rows[0].metadata["queue"] == "answers"
    queue.refresh_from_db()
    assert queue.dataset == dataset


def test_queues_through_the_api(world) -> None:
    """``/api/annotation-queues``: a lead creates one (filled from its filter), sends
    requests by id, fills it again; a reviewer reads it with its progress and may not
    change it; a bad field is a 422 naming it."""
    lead, editor = world["lead"], world["editor"]

    def send(client: Client, method: str, path: str, body: Any = None) -> Any:
        return getattr(client, method)(path, data=body, content_type="application/json")

    refused = send(lead, "post", "/api/annotation-queues/",
                   {"name": "api", "score_configs": ["nope"], "status": "bogus", "sample": 0})  # fmt: skip
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"score_configs", "status", "sample"}
    made = send(lead, "post", "/api/annotation-queues/",
                {"name": "api", "score_configs": ["quality"], "route": "chat", "sample": 100})  # fmt: skip
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["score_configs"] == ["quality"] and body["total"] == 4 and body["done"] == 0
    qid = body["id"]
    added = send(lead, "post", f"/api/annotation-queues/{qid}/items",
                 {"request_ids": ["r-out", "r-0", "missing"]})  # fmt: skip
    assert added.json() == {"added": 1, "present": 1, "unknown": ["missing"]}
    assert send(lead, "post", f"/api/annotation-queues/{qid}/fill").json() == {"added": 0}
    seen = send(editor, "get", f"/api/annotation-queues/{qid}")
    assert seen.status_code == 200 and seen.json()["total"] == 5
    assert send(editor, "post", f"/api/annotation-queues/{qid}/fill").status_code == 403
    assert send(editor, "delete", f"/api/annotation-queues/{qid}").status_code == 403
    assert send(lead, "delete", f"/api/annotation-queues/{qid}").status_code == 204
    assert send(lead, "get", f"/api/annotation-queues/{qid}").status_code == 404
