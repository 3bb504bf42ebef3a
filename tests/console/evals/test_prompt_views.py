"""The pages that compare a prompt's versions on a dataset (``console.evals.prompt_views``):
the form starts one experiment per version (refusals inline, in a 422), the comparison
page polls while they run, then shows every version's totals and answers side by side;
the prompt's page leads there and an unknown comparison goes back to the form."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from gateway.models import ScoreConfig
from tests.console.evals.test_prompt_runs import run_all
from tests.console.role_sets import ADMINS, Expectation

from ..playground_support import make_user

# Running versions on a dataset reads and spends like any experiment: owners and admins.
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "evals-prompt-compare": (ADMINS, ADMINS),
    "evals-prompt-comparison": (ADMINS, ADMINS),
}

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_form_starts_and_the_comparison_shows_the_versions_side_by_side(
    triage, recorder
) -> None:
    prompt, dataset = triage
    client = Client()
    client.force_login(make_user("olive", staff=True))
    detail = client.get("/prompts/support.triage/").content.decode()
    assert 'action="/evals/prompts/support.triage/compare/"' in detail
    form = client.get("/evals/prompts/support.triage/compare/?v=2&v=1")
    assert form.status_code == 200 and b"Compare versions on a dataset" in form.content
    refused = client.post(
        "/evals/prompts/support.triage/compare/", {"v": ["1"], "dataset": dataset.pk}
    )
    assert refused.status_code == 422 and b"choose 2 to 6 versions" in refused.content
    ScoreConfig.objects.create(name="quality", data_type="numeric", min_value=0, max_value=5)
    started = client.post(
        "/evals/prompts/support.triage/compare/",
        {"v": ["1", "2"], "dataset": dataset.pk, "route": "fast", "scorer": ["judge"],
         "judge_route": "judge", "judge_config": "quality"},
    )  # fmt: skip
    assert started.status_code == 302
    run = started["Location"].rstrip("/").rsplit("/", 1)[1]
    running = client.get(started["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in running and "0 of 6 answers" in running
    run_all(run)
    partial = client.get(started["Location"] + "?part=progress&was=running")
    assert partial["HX-Refresh"] == "true"
    page = client.get(started["Location"]).content.decode()
    assert "<h1>support.triage: v1 vs v2</h1>" in page
    assert page.count("4 / 5") >= 2  # the judge's 8 of 10 in quality's 0 to 5 scale
    assert "Echo: Topic t0: q0" in page and "Echo: q0" in page
    assert page.count("cheapest") == 1
    assert re.search(r'href="/evals/experiments/\d+/">v1</a>', page)
    one = client.get(re.search(r'href="(/evals/experiments/\d+/)">v1</a>', page)[1]).content
    assert f'href="/evals/prompts/support.triage/compare/{run}/"'.encode() in one  # and back
    listed = client.get("/evals/prompts/support.triage/compare/").content.decode()
    assert f"/evals/prompts/support.triage/compare/{run}/" in listed


def test_an_unknown_comparison_goes_back_to_the_form(triage) -> None:
    client = Client()
    client.force_login(make_user("olive", staff=True))
    response = client.get("/evals/prompts/support.triage/compare/nope/")
    assert response.status_code == 302 and response["Location"].endswith("/compare/")
