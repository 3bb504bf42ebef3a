"""The guardrails page: the list with each guardrail's last 24 hours from the journal
(a fail-open bypass as a warning), the form (kind, modes, failure policy, params checked
by the kind, every field's error at once, never a 500), edit and delete audited,
monitor mode toggled, the test panel's verdicts, a journaled request replayed; owners
and admins change, members and viewers read."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gateway.access import roles
from gateway.features.guardrails.plane import WITHHELD
from gateway.models import Guardrail, RequestBody, RequestLog
from gateway.models.telemetry import AuditEvent
from tests.console.role_sets import ADMINS, ALL, Expectation

# Who may open the guardrail pages (the role matrix collects this): everyone reads;
# owners and admins change, test and replay (a replay reads any key's logged bodies).
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "guardrails": (ALL, ADMINS),
    "guardrail-detail": (ALL, ADMINS),
    **{
        f"guardrail-{name}": (ADMINS, ADMINS)
        for name in ("create", "edit", "delete", "monitor", "test", "replay")
    },
}

EMAIL_MASK = {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}]}
BLOCK_WORD = {"blocked_words": [{"keyword": "nightingale", "action": "BLOCK"}]}


def form(**over: object) -> dict:
    data = {
        "name": "pii-mask",
        "kind": "litellm_content_filter",
        "modes": ["pre_call", "post_call"],
        "unreachable_fallback": "fail_closed",
        "timeout": "5",
        "params": json.dumps(EMAIL_MASK),
        "description": "mask e-mail addresses",
        "enabled": "on",
    }
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def client_as(role: str) -> Client:
    user = User.objects.create_user(role, password="pw-123456789")
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(db) -> Client:
    return client_as("owner")


@pytest.fixture
def guard(db) -> Guardrail:
    return Guardrail.objects.create(
        name="pii-mask",
        kind="litellm_content_filter",
        modes=["pre_call", "post_call"],
        params=EMAIL_MASK,
    )


def log_with_notes(request_id: str, notes: list[dict], **fields: object) -> RequestLog:
    return RequestLog.objects.create(
        request_id=request_id,
        dialect="openai",
        endpoint="chat",
        route="chat",
        status=200,
        guardrails=notes,
        **fields,
    )


# --- the list ------------------------------------------------------------------------------


def test_the_list_counts_the_last_day_and_warns_of_bypasses(owner, guard) -> None:
    Guardrail.objects.create(
        name="judge", kind="litellm_content_filter", modes=["pre_call"], params=BLOCK_WORD,
        unreachable_fallback="fail_open", monitor=True,
    )  # fmt: skip
    note = {"name": "pii-mask", "mode": "pre_call", "checks": 1, "latency_ms": 0.1}
    log_with_notes("r1", [{**note, "verdict": "intervened", "entities": ["email"]}])
    log_with_notes(
        "r2", [{**note, "verdict": "none"}, {**note, "mode": "post_call", "verdict": "blocked"}]
    )
    log_with_notes("r3", [{"name": "judge", "mode": "pre_call", "verdict": "would_block"}])
    log_with_notes(
        "r4", [{"name": "judge", "mode": "pre_call", "verdict": "error", "bypassed": True}]
    )
    old = log_with_notes("r5", [{**note, "verdict": "blocked"}])
    RequestLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    log_with_notes("r6", None)  # no guardrail ran

    from gateway.features.guardrails.views import recent_counts

    counts, capped = recent_counts()
    assert not capped
    assert dict(counts["pii-mask"]) == {"checks": 3, "intervened": 1, "blocked": 1}
    assert dict(counts["judge"]) == {"checks": 2, "would_block": 1, "error": 1, "bypassed": 1}

    page = owner.get(reverse("console:guardrails"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "judge let 1 request through unchecked" in html and "bypass-banner" in html
    assert "monitor only" in html and "fail open" in html
    assert reverse("console:guardrail-create") in html
    assert 'aria-current="page">Guardrails<' in html


def test_no_banner_without_a_bypass(owner, guard) -> None:
    log_with_notes("r1", [{"name": "pii-mask", "mode": "pre_call", "verdict": "error"}])
    html = owner.get(reverse("console:guardrails")).content.decode()
    assert "bypass-banner" not in html and "pii-mask" in html


# --- the form --------------------------------------------------------------------------------


def test_create_a_valid_guardrail_is_saved_and_audited(owner) -> None:
    response = owner.post(reverse("console:guardrail-create"), form())
    row = Guardrail.objects.get(name="pii-mask")
    assert response.status_code == 302
    assert response["Location"] == reverse("console:guardrail-detail", args=[row.pk])
    assert row.modes == ["pre_call", "post_call"] and row.params == EMAIL_MASK
    assert row.enabled and not row.monitor and row.unreachable_fallback == "fail_closed"
    event = AuditEvent.objects.get(object_type="guardrail", action="create")
    assert event.actor == "owner" and event.object_name == "pii-mask"


def test_the_form_offers_every_kind_with_its_help_and_example(owner) -> None:
    from django.utils.html import escape

    from gateway.features.guardrails.kinds import KINDS

    html = owner.get(reverse("console:guardrail-create")).content.decode()
    for kind in KINDS.values():
        assert f'value="{kind.name}"' in html and escape(kind.help) in html
    assert "every bypass is journaled and counted" in html
    assert "&quot;pattern_name&quot;: &quot;email&quot;" in html  # the example, in the box


def test_invalid_input_shows_every_field_error_at_once(owner) -> None:
    bad = form(
        name="bad name!",
        timeout="900",
        unreachable_fallback="fail_open",
        params=json.dumps({"patterns": [{"pattern_type": "regex", "pattern": "(["}]}),
    )
    response = owner.post(reverse("console:guardrail-create"), bad)
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert set(errors) == {"name", "timeout", "params"}
    assert "between 0 and 300" in errors["timeout"][0]
    assert "params.patterns[0].pattern" in errors["params"][0]
    assert "not a valid regular expression" in errors["params"][0]
    assert not Guardrail.objects.exists()


@pytest.mark.parametrize(
    ("over", "field", "text"),
    [
        ({"params": "{not json"}, "params", "not JSON"),
        ({"params": "[1, 2]"}, "params", "must be a JSON object"),
        ({"params": "{}"}, "params", "at least one rule"),
        ({"params": "x" * 1_000_000}, "params", "at most"),
        ({"modes": None}, "modes", "at least one mode"),
        ({"modes": ["bogus"]}, "modes", "not one of the available"),
        ({"kind": "nope"}, "kind", "not one of the available"),
        ({"timeout": "soon"}, "timeout", "number"),
        ({"unreachable_fallback": "shrug"}, "unreachable_fallback", "not one of the available"),
    ],
)
def test_each_bad_field_is_named_never_a_500(owner, over, field, text) -> None:
    response = owner.post(reverse("console:guardrail-create"), form(**over))
    assert response.status_code == 422
    messages = " ".join(response.context["form"].errors.get(field, []))
    assert text in messages, response.context["form"].errors
    assert not Guardrail.objects.exists()


def test_a_kind_whose_module_is_missing_is_a_kind_error(owner, monkeypatch) -> None:
    from gateway.features.guardrails import kinds

    def missing(self, params):  # type: ignore[no-untyped-def]
        raise ModuleNotFoundError("No module named 'presidio_analyzer'")

    monkeypatch.setattr(kinds.Kind, "validate", missing)
    response = owner.post(reverse("console:guardrail-create"), form(kind="presidio"))
    assert response.status_code == 422
    assert "not available" in response.context["form"].errors["kind"][0]


def test_a_taken_name_is_refused(owner, guard) -> None:
    response = owner.post(reverse("console:guardrail-create"), form())
    assert "exists" in response.context["form"].errors["name"][0]


def test_edit_keeps_a_masked_secret_stored_encrypted_and_is_audited(owner) -> None:
    from gateway.features.guardrails.save import save_guardrail
    from gateway.models import HEADER_MASK

    secret = "sk-live-very-secret-123"
    row = save_guardrail(
        None,
        {"name": "words", "kind": "litellm_content_filter", "modes": ["pre_call"],
         "params": {**BLOCK_WORD, "api_key": secret}},
    )  # fmt: skip
    assert row.params["api_key"] != secret  # sealed at rest
    page = owner.get(reverse("console:guardrail-edit", args=[row.pk])).content.decode()
    assert secret not in page and HEADER_MASK in page
    assert "nightingale" in page  # a blocked word is no secret, though its name has "key"
    params = {**BLOCK_WORD, "api_key": HEADER_MASK, "patterns": EMAIL_MASK["patterns"]}
    response = owner.post(
        reverse("console:guardrail-edit", args=[row.pk]),
        form(name="words", params=json.dumps(params), modes=["pre_call"], monitor="on"),
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.stored_params()["api_key"] == secret and row.params["api_key"] != secret
    assert row.params["patterns"] == EMAIL_MASK["patterns"] and row.monitor
    event = AuditEvent.objects.filter(object_type="guardrail", action="update").latest("id")
    assert event.changes["monitor"] == [False, True]
    assert secret not in json.dumps(event.changes)
    # the test panel runs with the secret decrypted (the entry's params)
    from gateway.features.guardrails.views import entry_of

    assert entry_of(row).params["api_key"] == secret and not entry_of(row).monitor


def test_a_mask_where_nothing_is_stored_is_a_params_error(owner) -> None:
    from gateway.models import HEADER_MASK

    params = {**BLOCK_WORD, "api_key": HEADER_MASK}
    response = owner.post(reverse("console:guardrail-create"), form(params=json.dumps(params)))
    assert response.status_code == 422
    assert "params.api_key" in response.context["form"].errors["params"][0]
    assert not Guardrail.objects.exists()


def test_every_kinds_example_is_valid() -> None:
    from gateway.features.guardrails import kinds

    for name, found in kinds.KINDS.items():
        assert found.example, f"{name} has no example"
        kinds.validate(name, ["pre_call"], dict(found.example))


def test_an_htmx_save_with_errors_swaps_only_the_form(owner) -> None:
    response = owner.post(
        reverse("console:guardrail-create"), form(params="{"), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps only a 2xx answer
    assert (
        "not JSON" in html
        and html.lstrip().startswith('<form class="card form"')
        and "<html" not in html
    )


def test_delete_is_audited(owner, guard) -> None:
    response = owner.post(reverse("console:guardrail-delete", args=[guard.pk]))
    assert response.status_code == 302 and not Guardrail.objects.exists()
    assert AuditEvent.objects.filter(object_type="guardrail", action="delete").exists()


def test_a_guardrail_a_route_names_is_not_deleted(owner, guard) -> None:
    from gateway.models import Route

    Route.objects.create(name="chat", guardrails=["pii-mask"])
    url = reverse("console:guardrail-delete", args=[guard.pk])
    response = owner.post(url, {"from": "list"}, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("console:guardrail-detail", args=[guard.pk])
    assert Guardrail.objects.filter(pk=guard.pk).exists()
    page = owner.get(response["HX-Redirect"]).content.decode()
    assert "still named by routes chat" in page


def test_monitor_toggle_flips_and_is_audited(owner, guard) -> None:
    url = reverse("console:guardrail-monitor", args=[guard.pk])
    response = owner.post(url, HTTP_HX_REQUEST="true")
    guard.refresh_from_db()
    assert guard.monitor and response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tbody id="guardrail-{guard.pk}">')
    assert "monitor only" in html and "Enforce" in html
    assert owner.post(url).status_code == 302
    guard.refresh_from_db()
    assert not guard.monitor
    updates = AuditEvent.objects.filter(object_type="guardrail", action="update").order_by("id")
    changes = [e.changes["monitor"] for e in updates]
    assert changes == [[False, True], [True, False]]


# --- who may do what -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "viewer", "editor"])
def test_readers_see_but_cannot_change(role, guard) -> None:
    client = client_as(role)
    listing = client.get(reverse("console:guardrails"))
    html = listing.content.decode()
    assert listing.status_code == 200 and "pii-mask" in html
    assert "New guardrail" not in html and "Monitor only</button>" not in html
    assert reverse("console:guardrail-edit", args=[guard.pk]) not in html
    detail = client.get(reverse("console:guardrail-detail", args=[guard.pk]))
    assert detail.status_code == 200 and "Test a text" not in detail.content.decode()
    for name in ("edit", "delete", "monitor", "test", "replay"):
        url = reverse(f"console:guardrail-{name}", args=[guard.pk])
        assert client.post(url, form()).status_code == 403, name
    assert client.get(reverse("console:guardrail-create")).status_code == 403
    guard.refresh_from_db()
    assert not guard.monitor and Guardrail.objects.count() == 1


def test_an_admin_may_change(guard) -> None:
    admin = client_as("admin")
    response = admin.post(reverse("console:guardrail-monitor", args=[guard.pk]))
    assert response.status_code == 302
    guard.refresh_from_db()
    assert guard.monitor


# --- the test panel --------------------------------------------------------------------------


def test_the_test_panel_masks_an_email(owner, guard) -> None:
    response = owner.post(
        reverse("console:guardrail-test", args=[guard.pk]),
        {"text": "write to ann@example.com today", "input_type": "request"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    outcome = response.context["test"]
    assert outcome.verdict == "intervened" and outcome.entities == ["email"]
    assert outcome.rewritten == ["write to [EMAIL_REDACTED] today"]
    assert "[EMAIL_REDACTED]" in html and "ann@example.com" not in html  # the result only
    assert html.lstrip().startswith('<div id="test-result"')


def test_the_test_panel_blocks_and_passes(owner) -> None:
    row = Guardrail.objects.create(
        name="words", kind="litellm_content_filter", modes=["post_call"], params=BLOCK_WORD,
        monitor=True, enabled=False,
    )  # fmt: skip
    url = reverse("console:guardrail-test", args=[row.pk])
    blocked = owner.post(url, {"text": "About Nightingale.", "input_type": "response"})
    outcome = blocked.context["test"]
    assert outcome.verdict == "blocked" and outcome.what == "the answer"
    assert outcome.latency_ms >= 0
    html = blocked.content.decode()
    assert "monitor only: in traffic this is recorded, not enforced" in html.lower()
    assert "Disabled: in traffic this guardrail does not run" in html
    assert "<html" in html  # without htmx: the whole page, the text kept in its box
    passed = owner.post(url, {"text": "nothing to see", "input_type": "request"})
    assert passed.context["test"].verdict == "none"
    empty = owner.post(url, {"text": "  "})
    assert "paste a text" in empty.content.decode()
    long = owner.post(url, {"text": "a" * 100_001})
    assert long.status_code == 200 and "longer than" in long.content.decode()


# --- replay ----------------------------------------------------------------------------------


def test_replay_runs_the_stored_request_and_answer(owner, guard) -> None:
    log = log_with_notes("req-pii", [], upstream_model="gpt-x")
    inbound = {
        "model": "chat",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "mail bob@example.org please"},
        ],
    }
    answer = {
        "id": "c1", "object": "chat.completion", "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sent to bob@example.org."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }  # fmt: skip
    RequestBody.objects.create(
        log=log, inbound_request=json.dumps(inbound), outbound_response=json.dumps(answer)
    )
    response = owner.post(
        reverse("console:guardrail-replay", args=[guard.pk]),
        {"request_id": "req-pii"},
        HTTP_HX_REQUEST="true",
    )
    request, answered = response.context["replay_results"]
    assert request.verdict == "intervened" and request.original == [
        "be brief",
        "mail bob@example.org please",
    ]
    assert request.rewritten == ["be brief", "mail [EMAIL_REDACTED] please"]
    assert answered.what == "the answer" and answered.rewritten == ["Sent to [EMAIL_REDACTED]."]
    assert "req-pii" in response.content.decode()


def test_replay_of_a_stream_answer(owner, guard) -> None:
    log = log_with_notes("req-sse", [], stream=True)
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi a@b.io"}, "finish_reason": None}]}  # fmt: skip
    done = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # fmt: skip
    sse = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(done)}\n\ndata: [DONE]\n\n"
    RequestBody.objects.create(
        log=log,
        inbound_request=json.dumps(
            {"model": "chat", "messages": [{"role": "user", "content": "x"}]}
        ),
        outbound_response=sse,
    )
    response = owner.post(
        reverse("console:guardrail-replay", args=[guard.pk]), {"request_id": "req-sse"}
    )
    request, answered = response.context["replay_results"]
    assert request.verdict == "none"
    assert answered.rewritten == ["hi [EMAIL_REDACTED]"]


def test_replay_says_what_is_missing(owner, guard) -> None:
    url = reverse("console:guardrail-replay", args=[guard.pk])
    assert "give a logged request" in owner.post(url, {}).content.decode()
    assert "no logged request nope" in owner.post(url, {"request_id": "nope"}).content.decode()
    log_with_notes("no-body", [])
    assert "were not kept" in owner.post(url, {"request_id": "no-body"}).content.decode()
    withheld = log_with_notes("withheld", [])
    RequestBody.objects.create(
        log=withheld, inbound_request=WITHHELD.decode(), outbound_response=WITHHELD.decode()
    )
    response = owner.post(url, {"request_id": "withheld"})
    request, answered = response.context["replay_results"]
    assert "withheld" in request.note and "withheld" in answered.note
    cut = log_with_notes("cut", [])
    RequestBody.objects.create(log=cut, inbound_request='{"model": "chat", "mess', truncated=True)
    response = owner.post(url, {"request_id": "cut"})
    html = response.content.decode()
    assert "not JSON" in html and "cut at the log" in html and "no answer was kept" in html
    odd = log_with_notes("odd", [])
    RequestBody.objects.create(
        log=odd,
        inbound_request=json.dumps({"model": "chat", "messages": "not a list"}),
        outbound_response="upstream said no",
    )
    response = owner.post(url, {"request_id": "odd"})
    assert response.status_code == 200
    request, answered = response.context["replay_results"]
    assert "does not parse" in request.note and "could not be read" in answered.note


def test_the_log_detail_links_to_a_replay(owner, guard) -> None:
    log_with_notes("req-link", [])
    html = owner.get(reverse("console:log-detail", args=["req-link"])).content.decode()
    assert f"{reverse('console:guardrails')}?replay=req-link" in html
    listing = owner.get(reverse("console:guardrails"), {"replay": "req-link"}).content.decode()
    detail_url = reverse("console:guardrail-detail", args=[guard.pk]) + "?replay=req-link#replay"
    assert detail_url in listing
    detail = owner.get(reverse("console:guardrail-detail", args=[guard.pk]), {"replay": "req-link"})
    assert 'value="req-link"' in detail.content.decode()


def test_where_a_guardrail_applies_is_shown(owner: Client, guard: Guardrail) -> None:
    """The keys (revoked left out), teams and routes naming a guardrail, on its page and
    in the list, each linking to its edit page where the reader may open it (#66: where
    a guardrail applies was shown nowhere)."""
    from gateway.access import keys
    from gateway.models import ApiKey, Route, Team

    team = Team.objects.create(name="research", guardrails=["pii-mask"])
    route = Route.objects.create(name="chat", guardrails=["pii-mask", "other"])
    key = keys.create_key(name="ci-key").key
    ApiKey.objects.filter(pk=key.pk).update(guardrails=["pii-mask"])
    gone = keys.create_key(name="old-key").key
    ApiKey.objects.filter(pk=gone.pk).update(guardrails=["pii-mask"], revoked_at=timezone.now())
    Guardrail.objects.create(name="lonely", kind="litellm_content_filter", modes=["pre_call"],
                             params=EMAIL_MASK)  # fmt: skip

    detail = owner.get(reverse("console:guardrail-detail", args=[guard.pk])).content.decode()
    applies = detail[detail.index('id="applies-head"') : detail.index("Last 24 hours")]
    assert f'href="{reverse("console:key-edit", args=[key.pk])}"' in applies
    assert f'href="{reverse("console:team-edit", args=[team.pk])}"' in applies
    assert f'href="{reverse("console:route-edit", args=[route.pk])}"' in applies
    assert "ci-key" in applies and "research" in applies and "chat" in applies
    assert "old-key" not in applies
    lonely = Guardrail.objects.get(name="lonely")
    alone = owner.get(reverse("console:guardrail-detail", args=[lonely.pk])).content.decode()
    assert "No key, team or route names this guardrail" in alone
    listed = owner.get(reverse("console:guardrails")).content.decode()
    row = listed[listed.index(f'id="guardrail-{guard.pk}"') :]
    row = row[: row.index("</tbody>")]
    assert "where named:" in row and "research" in row and "ci-key" in row
    # a viewer sees where it applies, without links to pages it may not open
    viewer = client_as("viewer")
    seen = viewer.get(reverse("console:guardrail-detail", args=[guard.pk])).content.decode()
    seen = seen[seen.index('id="applies-head"') : seen.index("Last 24 hours")]
    assert "ci-key" in seen and "/edit/" not in seen
