"""The console's key, team and route forms attach guardrails by name (the choices are
the guardrails that exist), and what they attach is what the snapshot runs."""

from __future__ import annotations

from gateway.access import registry
from gateway.models import ApiKey, Guardrail, Team

WORDS = {"blocked_words": [{"keyword": "nope", "action": "BLOCK"}]}


def make_guardrail() -> Guardrail:
    return Guardrail.objects.create(
        name="words", kind="litellm_content_filter", modes=["pre_call"], params=WORDS
    )


def test_the_route_form_attaches_a_guardrail(staff_client, registry_rows) -> None:
    make_guardrail()
    route = registry_rows["route"]
    page = staff_client.get(f"/routes/{route.pk}/").content.decode()
    assert 'name="guardrails" value="words"' in page
    form = {"name": "chat", "strategy": "weighted", "max_attempts": 3, "enabled": "on"}
    saved = staff_client.post(f"/routes/{route.pk}/", {**form, "guardrails": ["words"]})
    assert saved.status_code == 302
    route.refresh_from_db()
    assert route.guardrails == ["words"]
    registry.rebuild()
    assert registry.current().routes["chat"].guardrails == ("words",)
    refused = staff_client.post(f"/routes/{route.pk}/", {**form, "guardrails": ["ghost"]})
    assert refused.status_code == 200 and "ghost" in refused.content.decode()


def test_the_key_form_attaches_a_guardrail(staff_client, registry_rows) -> None:
    make_guardrail()
    made = staff_client.post(
        "/keys/new/", {"name": "guarded", "budget_period": "month", "guardrails": ["words"]}
    )
    assert made.status_code == 200
    key = ApiKey.objects.get(name="guarded")
    assert key.guardrails == ["words"]
    edited = staff_client.post(
        f"/keys/{key.pk}/edit/", {"name": "guarded", "budget_period": "month"}
    )
    assert edited.status_code in (200, 302)
    key.refresh_from_db()
    assert key.guardrails == []


def test_the_team_form_attaches_a_guardrail(staff_client, db) -> None:
    make_guardrail()
    made = staff_client.post(
        "/teams/new/", {"name": "alpha", "budget_period": "month", "guardrails": ["words"]}
    )
    assert made.status_code in (200, 302)
    assert Team.objects.get(name="alpha").guardrails == ["words"]


def test_the_log_detail_shows_each_guardrails_verdict(staff_client, registry_rows) -> None:
    log = registry_rows["log"]
    log.guardrails = [
        {
            "name": "pii",
            "kind": "presidio",
            "mode": "pre_call",
            "verdict": "intervened",
            "checks": 1,
            "latency_ms": 0.4,
            "entities": ["CREDIT_CARD"],
            "reason": "masked",
        },
        {
            "name": "svc",
            "kind": "generic_guardrail_api",
            "mode": "pre_call",
            "verdict": "error",
            "checks": 1,
            "latency_ms": 5000.0,
            "bypassed": True,
            "error": "no verdict within 5s",
        },
    ]
    log.save()
    page = staff_client.get(f"/logs/{log.request_id}/").content.decode()
    assert "CREDIT_CARD" in page and "intervened" in page
    assert "bypassed" in page and "no verdict within 5s" in page
