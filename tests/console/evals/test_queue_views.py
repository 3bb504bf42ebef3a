"""The annotation queues' and score configs' pages (``console.evals.queue_views``): who
may define and who may review (the role matrix collects ``ROLE_EXPECTATIONS``), a config
form that shows every field's problem at once, requests sent to a queue from a log row,
a session and an experiment, a reviewer's scores checked against the configs (an inline
422, nothing saved) and saved as ``review`` scores on the request, skip, an editor seeing
only the items of their teams, and the done items turned into a dataset."""

from __future__ import annotations

import pytest

from console.evals import queues
from console.evals.models import Cell, Dataset, Experiment, QueueItem
from gateway.models import Score, ScoreConfig
from tests.console.role_sets import ADMINS, ROUTE_EDITORS, Expectation

from .queue_support import make_queue

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
