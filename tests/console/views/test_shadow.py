"""A route's shadow traffic compared (``console.views.shadow``): each mirrored request
beside its primary with a summary per shadow route, the newest finished scoring run's
score on each pair; asking for a score queues a run and returns at once (a bad scorer or
nothing to score said on the page); the progress partial, polled while the run goes,
asks for a refresh once it is done. The runs themselves: ``test_shadow_scoring.py``."""

from __future__ import annotations

import pytest
from django.test import Client

from console.evals.models import ShadowScoring
from gateway.models import RequestLog, Route
from tests.console.playground_support import JournalRecorder
from tests.console.test_shadow_scoring import judged

pytestmark = pytest.mark.django_db(transaction=True)


def test_asking_queues_a_job_and_returns_at_once(
    staff_client: Client,
    primary: Route,
    recorder: JournalRecorder,
) -> None:
    response = staff_client.post(
        f"/routes/{primary.pk}/shadow/", {"kind": "judge", "route": "judge", "mode": "pairwise"}
    )
    assert response.status_code == 302 and response["Location"] == f"/routes/{primary.pk}/shadow/"
    job = ShadowScoring.objects.get()
    assert job.status == "queued" and job.mirrors == ["m1", "m0"] and job.scores == {}
    assert judged(recorder, "judge") == 0  # no judge call was made in the request
    page = staff_client.get(f"/routes/{primary.pk}/shadow/").content.decode()
    assert 'id="scoring-bar"' in page and "0 of 2 pairs scored" in page
    assert f"/routes/{primary.pk}/shadow/scoring/{job.pk}/?was=running" in page  # polled


def test_bad_scorer_and_nothing_to_score_are_messages(
    staff_client: Client,
    primary: Route,
    recorder: JournalRecorder,
) -> None:
    response = staff_client.post(f"/routes/{primary.pk}/shadow/", {"kind": "judge"})
    assert response.status_code == 200 and "needs a route" in response.content.decode()
    lonely = Route.objects.create(name="lonely", shadow_routes=["small"], shadow_percent=10)
    RequestLog.objects.filter(route="small").update(shadow_of="elsewhere")
    response = staff_client.post(f"/routes/{lonely.pk}/shadow/", {"kind": "exact"})
    assert "no mirrored request to score" in response.content.decode()
    assert not ShadowScoring.objects.exists()


def test_the_page_pairs_each_mirror_and_shows_the_newest_finished_scores(
    staff_client: Client,
    primary: Route,
) -> None:
    Route.objects.filter(pk=primary.pk).update(shadow_routes=["small", "tiny"])
    older = ShadowScoring.objects.create(
        route=primary, scorer={"kind": "exact"}, mirrors=["m0", "m1"], status="done",
        scores={"m0": 0.0, "m1": 0.0},
    )  # fmt: skip
    newer = ShadowScoring.objects.create(
        route=primary, scorer={"kind": "exact"}, mirrors=["m0", "m1"], status="done",
        scores={"m0": 1.0},
    )  # fmt: skip
    running = ShadowScoring.objects.create(
        route=primary, scorer={"kind": "exact"}, mirrors=["m0", "m1"]
    )
    context = staff_client.get(f"/routes/{primary.pk}/shadow/").context
    pairs = {pair.mirror.request_id: pair for pair in context["pairs"]}
    assert set(pairs) == {"m0", "m1"} and pairs["m0"].primary.request_id == "p0"
    assert (pairs["m0"].score, pairs["m1"].score) == (1.0, None)  # the newest done run's
    assert context["shown"] == newer and context["current"] == running
    assert context["scored_ids"] == {"m0"} and older in context["runs"]
    summaries = {s.route: s for s in context["summaries"]}
    assert summaries["small"].count == 2 and summaries["tiny"].count == 0  # every shadow route


def test_the_progress_partial_asks_for_a_refresh_when_done(
    staff_client: Client,
    primary: Route,
) -> None:
    job = ShadowScoring.objects.create(route=primary, scorer={"kind": "exact"}, mirrors=["m0"])
    url = f"/routes/{primary.pk}/shadow/scoring/{job.pk}/?was=running"
    assert "HX-Refresh" not in staff_client.get(url)
    ShadowScoring.objects.filter(pk=job.pk).update(status="done", scores={"m0": 1.0})
    assert staff_client.get(url)["HX-Refresh"] == "true"
    other = Route.objects.get(name="small")
    assert staff_client.get(f"/routes/{other.pk}/shadow/scoring/{job.pk}/").status_code == 404
