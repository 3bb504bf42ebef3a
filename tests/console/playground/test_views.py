"""The playground's pages: staff only, replay of a logged request, reopening a saved
comparison, the word diff, blind voting with its reveal and the win-rate tally."""

from __future__ import annotations

import json
import re

import orjson
import pytest
from django.test import Client

from console.models import BlindVote, Comparison
from gateway.models import RequestBody, RequestLog
from tests.console.role_sets import PLAYGROUND, Expectation

from ..playground_support import make_echo_routes, make_user

# Who may open the playground's pages (the role matrix collects this): every role but
# viewers (who change nothing, and a run is a request).
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    name: (PLAYGROUND, PLAYGROUND)
    for name in (
        "playground",
        "playground-history",
        "playground-votes",
        "playground-prompt-save",
        "playground-panel",
        "playground-diff",
        "playground-vote",
        "playground-raw",
    )
}

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(make_user("alice", staff=True))
    return client


def prefill_of(html: str) -> dict:
    match = re.search(r'<script id="pg-prefill" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries no prefill"
    return json.loads(match.group(1))


def answer(route: str, text: str, **extra) -> dict:
    return {
        "route": route,
        "dialect": "openai",
        "state": "done",
        "text": text,
        "tool_calls": [],
        "error": "",
        "request_id": f"req-{route}",
        "metrics": {"ttft_ms": 12.0, "total_ms": 80.0, "output_tokens": 3, "cost_usd": "0.0000042"},
        "request": {"model": route, "messages": [{"role": "user", "content": "hi"}]},
        "transcript": f'data: {{"route": "{route}"}}\n\n',
        **extra,
    }


def comparison(blind: bool = False, routes=("fast", "smart", "cheap")) -> Comparison:
    return Comparison.objects.create(
        title="hi",
        messages=[{"role": "user", "content": "hi"}],
        columns=[{"route": r, "dialect": "openai", "params": {}} for r in routes],
        results=[[answer(r, f"the {r} answer") for r in routes]],
        blind=blind,
    )


URLS = [
    ("get", "/playground/"),
    ("get", "/playground/history/"),
    ("get", "/playground/votes/"),
    ("get", "/playground/{pk}/panel/"),
    ("get", "/playground/{pk}/diff/?a=0&b=1"),
    ("get", "/playground/{pk}/raw/0/0/"),
    ("post", "/playground/{pk}/vote/"),
    ("post", "/playground/prompts/"),
]


@pytest.mark.parametrize(("method", "url"), URLS)
def test_signed_out_visitors_are_sent_to_sign_in(client: Client, method: str, url: str) -> None:
    pk = comparison(blind=True).pk
    response = getattr(client, method)(
        url.format(pk=pk), {"winner": "0"} if method == "post" else None
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not BlindVote.objects.exists()


@pytest.mark.parametrize(("method", "url"), URLS)
def test_non_staff_users_are_refused(client: Client, method: str, url: str) -> None:
    pk = comparison(blind=True).pk
    client.force_login(make_user("bob", staff=False))
    response = getattr(client, method)(
        url.format(pk=pk), {"winner": "0"} if method == "post" else None
    )
    assert response.status_code == 403
    assert not BlindVote.objects.exists()


def test_the_page_offers_every_enabled_route(staff_client: Client) -> None:
    make_echo_routes({"alpha": {}, "beta": {}, "gamma": {}})
    response = staff_client.get("/playground/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("alpha", "beta", "gamma"):
        assert f'<option value="{name}"' in html
    prefill = prefill_of(html)
    assert [c["route"] for c in prefill["columns"]] == ["alpha", "beta"]
    assert 'data-ws="/ws/playground/"' in html
    assert "console/playground.js" in html


def test_a_new_comparison_starts_on_routes_that_can_answer(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routes whose only deployment needs an unset variable, or is disabled, or whose
    route is disabled, are offered but not picked for the first columns."""
    from gateway.models import Deployment, Provider, Route

    monkeypatch.delenv("PG_TEST_UNSET_KEY", raising=False)
    monkeypatch.setenv("PG_TEST_SET_KEY", "sk-set")
    make_echo_routes({"aaa-off": {}, "bbb-unset": {}, "ccc-ready": {}, "ddd-ready": {}})
    Deployment.objects.filter(route__name="aaa-off").update(enabled=False)
    unset = Provider.objects.create(
        name="needs-env",
        kind="openai",
        base_url="http://127.0.0.1:9/v1",
        secret_ref="os.environ/PG_TEST_UNSET_KEY",
    )
    Deployment.objects.filter(route__name="bbb-unset").update(provider=unset)
    ready = Provider.objects.create(
        name="has-env",
        kind="openai",
        base_url="http://127.0.0.1:9/v1",
        secret_ref="os.environ/PG_TEST_SET_KEY",
    )
    Deployment.objects.filter(route__name="ddd-ready").update(provider=ready)
    Route.objects.create(name="aaa-disabled", enabled=False)
    html = staff_client.get("/playground/").content.decode()
    assert [c["route"] for c in prefill_of(html)["columns"]] == ["ccc-ready", "ddd-ready"]
    assert '<option value="bbb-unset"' in html  # still offered, just not picked


def test_with_one_ready_route_both_columns_use_it(staff_client: Client) -> None:
    from gateway.models import Deployment

    make_echo_routes({"alpha": {}, "beta": {}})
    Deployment.objects.filter(route__name="alpha").update(enabled=False)
    prefill = prefill_of(staff_client.get("/playground/").content.decode())
    assert [c["route"] for c in prefill["columns"]] == ["beta", "beta"]


def logged_request(dialect: str, body: dict, route: str = "smart") -> RequestLog:
    log = RequestLog.objects.create(
        request_id="req-42", dialect=dialect, endpoint="chat", route=route
    )
    RequestBody.objects.create(log=log, inbound_request=orjson.dumps(body).decode())
    return log


def test_a_logged_anthropic_request_opens_prefilled(staff_client: Client) -> None:
    logged_request(
        "anthropic",
        {
            "model": "smart",
            "max_tokens": 300,
            "system": [{"type": "text", "text": "You are terse."}],
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": [{"type": "text", "text": "4"}]},
                {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
            ],
            "tools": [{"name": "calc", "input_schema": {"type": "object"}}],
        },
    )
    response = staff_client.get("/playground/?replay=req-42")
    assert response.status_code == 200
    prefill = prefill_of(response.content.decode())
    assert prefill["system"] == "You are terse."
    assert prefill["messages"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    # 2000 thinking tokens: the smallest effort whose budget in the Anthropic codec's
    # table covers it (low = 2048), so the replay sends about the same budget again.
    assert prefill["params"] == {"max_tokens": 300, "reasoning_effort": "low"}
    assert prefill["tools"] == [
        {"name": "calc", "description": "", "parameters": {"type": "object"}}
    ]
    assert prefill["columns"] == [
        {"route": "smart", "dialect": "anthropic", "params": {}},
        {"route": "smart", "dialect": "openai", "params": {}},
    ]
    assert prefill["replay_of"] == "req-42"
    html = response.content.decode()
    assert "And 3+3?</textarea>" in html  # the prompt box holds the last user message


def test_a_logged_openai_request_opens_prefilled(staff_client: Client) -> None:
    logged_request(
        "openai",
        {
            "model": "fast",
            "temperature": 0.3,
            "reasoning_effort": "high",
            "messages": [
                {"role": "system", "content": "Sys."},
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "wx", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ],
        },
        route="fast",
    )
    html = staff_client.get("/playground/?replay=req-42").content.decode()
    prefill = prefill_of(html)
    assert prefill["system"] == "Sys."
    assert prefill["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "wx", "arguments": "{}"}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    assert prefill["params"] == {"temperature": 0.3, "reasoning_effort": "high"}
    assert prefill["columns"][0] == {"route": "fast", "dialect": "openai", "params": {}}
    # It ends in the tool result: all three turns are earlier messages, the prompt box
    # is empty (the models answer the result).
    assert "Earlier messages (3)" in html
    assert "&quot;tool_call_id&quot;: &quot;c1&quot;" in html  # in the earlier JSON
    assert re.search(r'<textarea name="prompt"[^>]*></textarea>', html)


def test_replaying_an_unknown_request_is_404(staff_client: Client) -> None:
    assert staff_client.get("/playground/?replay=nope").status_code == 404


def test_a_saved_comparison_reopens_with_its_answers(staff_client: Client) -> None:
    saved = comparison()
    html = staff_client.get(f"/playground/?comparison={saved.pk}").content.decode()
    for route in ("fast", "smart", "cheap"):
        assert f"the {route} answer" in html
    assert f'data-comparison="{saved.pk}"' in html
    assert "$0.0000042" in html
    prefill = prefill_of(html)
    assert [c["route"] for c in prefill["columns"]] == ["fast", "smart", "cheap"]
    history = staff_client.get("/playground/history/").content.decode()
    assert f"?comparison={saved.pk}" in history


def test_word_diff_between_two_columns(staff_client: Client) -> None:
    saved = comparison()
    html = staff_client.get(f"/playground/{saved.pk}/diff/?a=0&b=2&turn=0").content.decode()
    # each word keeps its space: "fast cheap answer", never "fastcheapanswer"
    assert "the <del>fast </del><ins>cheap </ins>answer" in html
    bad = staff_client.get(f"/playground/{saved.pk}/diff/?a=0&b=9")
    assert bad.status_code == 400


def test_a_bad_diff_shows_its_error_to_htmx(staff_client: Client) -> None:
    """htmx 2 swaps nothing from a 4xx: the error comes as a 200 for #pg-diff."""
    saved = comparison()
    bad = staff_client.get(f"/playground/{saved.pk}/diff/?a=0&b=9", HTTP_HX_REQUEST="true")
    assert bad.status_code == 200
    assert '<p class="pg-error">pick two columns of a finished turn</p>' in bad.content.decode()


def test_blind_comparisons_hide_routes_until_the_vote_reveals_them(staff_client: Client) -> None:
    saved = comparison(blind=True)
    page = staff_client.get(f"/playground/?comparison={saved.pk}").content.decode()
    panel = staff_client.get(f"/playground/{saved.pk}/panel/").content.decode()
    for html in (page, panel):
        for route in ("fast", "smart", "cheap"):
            assert f'mono pg-route">{route}' not in html
            assert f"· {route}" not in html
    assert "B is best" in panel
    # nor do the timings, token counts or cost, which would tell the models apart
    assert "data-metric=" not in page.split('id="pg-col-template"')[0]
    assert "hidden until you vote" in page and "12 ms" not in page and "$0.0000042" not in page
    # reopening does not give the order away either
    assert [c["route"] for c in prefill_of(page)["columns"]] == ["cheap", "fast", "smart"]
    assert staff_client.get(f"/playground/{saved.pk}/raw/0/0/").status_code == 403

    # htmx: back to the permalink, whose page names the columns the stream painted hidden
    voted = staff_client.post(
        f"/playground/{saved.pk}/vote/", {"winner": "1"}, HTTP_HX_REQUEST="true"
    )
    assert voted.status_code == 200
    assert voted["HX-Redirect"] == f"/playground/?comparison={saved.pk}"
    html = staff_client.get(voted["HX-Redirect"]).content.decode()
    assert "You preferred <strong>B</strong>" in html
    assert re.search(
        r'class="winner"><span class="pg-label">B</span> was <span class="mono">smart', html
    )
    for route in ("fast", "smart", "cheap"):
        assert f'mono pg-route">{route}' in html
    assert 'data-metric="cost_usd">$0.0000042<' in html and ">hidden<" not in html
    assert "Win rates so far" in html
    vote = BlindVote.objects.get()
    assert (vote.winner_index, vote.winner_route, vote.routes) == (
        1,
        "smart",
        ["fast", "smart", "cheap"],
    )

    # without JavaScript: a real redirect to the same page; one vote per comparison
    again = staff_client.post(f"/playground/{saved.pk}/vote/", {"winner": "0"})
    assert again.status_code == 302 and again["Location"] == f"/playground/?comparison={saved.pk}"
    assert BlindVote.objects.count() == 1
    raw = staff_client.get(f"/playground/{saved.pk}/raw/0/1/").content.decode()
    assert "&quot;model&quot;: &quot;smart&quot;" in raw or '"model": "smart"' in raw
    assert "data: {&quot;route&quot;: &quot;smart&quot;}" in raw


def test_votes_are_tallied_into_win_rates(staff_client: Client) -> None:
    first = comparison(blind=True, routes=("fast", "smart"))
    second = comparison(blind=True, routes=("smart", "cheap"))
    third = comparison(blind=True, routes=("fast", "cheap"))
    staff_client.post(f"/playground/{first.pk}/vote/", {"winner": "1"})  # smart
    staff_client.post(f"/playground/{second.pk}/vote/", {"winner": "0"})  # smart
    staff_client.post(f"/playground/{third.pk}/vote/", {"winner": "tie"})
    html = staff_client.get("/playground/votes/").content.decode()
    rows = re.findall(
        r'<td class="mono">(\w+)</td><td class="num">(\d+)</td><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td>\s*<td class="num">(\d+)%</td>',
        html,
    )
    assert rows == [
        ("smart", "2", "2", "0", "100"),
        ("cheap", "2", "0", "1", "0"),
        ("fast", "2", "0", "1", "0"),
    ]


def test_votes_need_a_blind_finished_comparison_and_a_valid_pick(staff_client: Client) -> None:
    assert (
        staff_client.post(f"/playground/{comparison().pk}/vote/", {"winner": "0"}).status_code
        == 400
    )
    blind = comparison(blind=True)
    assert staff_client.post(f"/playground/{blind.pk}/vote/", {"winner": "7"}).status_code == 400
    assert not BlindVote.objects.exists()


def test_vote_errors_reach_the_vote_form_under_htmx(staff_client: Client) -> None:
    blind = comparison(blind=True)
    panel = staff_client.get(f"/playground/{blind.pk}/panel/").content.decode()
    assert 'id="pg-vote-error"' in panel  # the slot the errors go to
    bad = staff_client.post(
        f"/playground/{blind.pk}/vote/", {"winner": "7"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 200  # htmx 2 would not swap a 400
    assert bad["HX-Retarget"] == "#pg-vote-error" and bad["HX-Reswap"] == "outerHTML"
    html = bad.content.decode()
    assert 'id="pg-vote-error"' in html and "pick a column or a tie" in html
    assert " hidden" not in html
    assert not BlindVote.objects.exists()
