"""LiteLLM's ``guardrails:`` list: imported with LiteLLM's spellings (every kind's name,
``mode`` as one string or a list, ``default_on``, ``unreachable_fallback``, ``timeout``
absent or given, the kind's other params as they are), validated as saving would (a
bad regex skipped naming ``guardrails[i].litellm_params.<field>``, a strict import
refused), marked ``from_config``, idempotent, and exported in the same shape (literal
secrets as ``os.environ/`` references unless included) so that the export imports
again to the same rows."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from gateway.features.guardrails import save as ops
from gateway.features.guardrails.litellm import where
from gateway.models import Guardrail
from gateway.models.telemetry import AuditEvent
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import ConfigError, parse_config
from gateway.ops.litellm.plan import plan_import

SECRET = "guard-literal-Unmistakable-5521"
CONFIG = f"""
guardrails:
  - guardrail_name: no-ssn
    litellm_params:
      guardrail: litellm_content_filter
      mode: pre_call
      default_on: true
      patterns:
        - {{pattern_type: prebuilt, pattern_name: us_ssn, action: MASK}}
        - {{pattern_type: regex, pattern: 'ACME-\\d{{6}}', name: acme_id, action: BLOCK}}
      blocked_words:
        - {{keyword: project-x, action: BLOCK, description: code name}}
  - guardrail_name: words-out
    litellm_params:
      guardrail: litellm_content_filter
      mode: [pre_call, post_call]
      unreachable_fallback: fail_open
      timeout: 2.5
      blocked_words: [{{keyword: forbidden}}]
      api_key: {SECRET}
      api_base: os.environ/FILTER_BASE
    guardrail_info:
      description: words we never send
      switchyard: {{monitor: true}}
"""


def imported(text: str, **options: object):
    plan = plan_import(parse_config(text, **options))  # type: ignore[arg-type]
    return plan, apply_plan(plan)


@pytest.mark.django_db
def test_import_with_litellm_spellings() -> None:
    plan, result = imported(CONFIG)
    assert plan.skipped == [] and result.counts["guardrails"]["create"] == 2
    ssn = Guardrail.objects.get(name="no-ssn")
    assert ssn.kind == "litellm_content_filter" and ssn.modes == ["pre_call"]
    assert ssn.default_on and not ssn.monitor and ssn.from_config
    assert ssn.timeout == 5.0 and ssn.unreachable_fallback == "fail_closed"
    assert ssn.params["patterns"][1] == {
        "pattern_type": "regex", "pattern": r"ACME-\d{6}", "name": "acme_id", "action": "BLOCK",
    }  # fmt: skip
    assert ssn.params["blocked_words"][0]["description"] == "code name"
    words = Guardrail.objects.get(name="words-out")
    assert words.modes == ["pre_call", "post_call"] and words.timeout == 2.5
    assert words.unreachable_fallback == "fail_open" and words.monitor
    assert words.description == "words we never send"
    assert words.params["api_base"] == "os.environ/FILTER_BASE"  # a reference stays one
    assert SECRET not in str(words.params) and words.stored_params()["api_key"] == SECRET
    assert any("FILTER_BASE" in w for w in plan.warnings)  # not set here
    assert AuditEvent.objects.filter(object_type="guardrail", source="import").count() == 2


@pytest.mark.django_db
def test_importing_twice_changes_nothing() -> None:
    imported(CONFIG)
    events = AuditEvent.objects.filter(object_type="guardrail").count()
    plan, result = imported(CONFIG)
    assert {c.action for c in plan.changes("guardrails")} == {"unchanged"}
    assert result.counts["guardrails"]["unchanged"] == 2
    assert AuditEvent.objects.filter(object_type="guardrail").count() == events
    # A changed file updates the row it names.
    plan, _ = imported(CONFIG.replace("mode: pre_call\n", "mode: [pre_call, during_call]\n"))
    (change,) = [c for c in plan.changes("guardrails") if c.action == "update"]
    assert change.fields == {"modes": (["pre_call"], ["pre_call", "during_call"])}
    assert Guardrail.objects.get(name="no-ssn").modes == ["pre_call", "during_call"]


BAD = """
guardrails:
  - guardrail_name: broken
    litellm_params:
      guardrail: litellm_content_filter
      mode: pre_call
      patterns: [{pattern_type: regex, pattern: '(unclosed'}]
  - guardrail_name: fine
    litellm_params: {guardrail: litellm_content_filter, mode: post_call, blocked_words: [x]}
  - guardrail_name: nowhen
    litellm_params: {guardrail: litellm_content_filter, mode: sometimes, blocked_words: [x]}
  - guardrail_name: unknown-kind
    litellm_params: {guardrail: aporia, mode: pre_call}
  - litellm_params: {guardrail: presidio, mode: pre_call}
"""


@pytest.mark.django_db
def test_a_bad_guardrail_is_skipped_naming_its_field() -> None:
    plan, result = imported(BAD)
    reasons = {s.path: s.reason for s in plan.skipped}
    assert reasons["guardrails[0]"].startswith(
        "guardrails[0].litellm_params.patterns[0].pattern: not a valid regular expression"
    )
    assert reasons["guardrails[2]"].startswith("guardrails[2].litellm_params.mode: unknown mode")
    assert reasons["guardrails[3]"].startswith(
        "guardrails[3].litellm_params.guardrail: unknown guardrail kind 'aporia'"
    )
    assert reasons["guardrails[4]"] == "guardrails[4].guardrail_name: is required"
    assert list(Guardrail.objects.values_list("name", flat=True)) == ["fine"]
    assert result.counts["guardrails"]["create"] == 1


@pytest.mark.django_db
def test_a_strict_import_refuses_a_bad_guardrail() -> None:
    with pytest.raises(ConfigError, match=r"guardrails\[0\]\.litellm_params\.patterns"):
        plan_import(parse_config(BAD.split("  - guardrail_name: nowhen")[0], strict=True))
    assert not Guardrail.objects.exists()


@pytest.mark.django_db
def test_export_round_trip() -> None:
    imported(CONFIG)
    text = export_config()
    assert SECRET not in text
    data = yaml.safe_load(text)
    entries = {e["guardrail_name"]: e for e in data["guardrails"]}
    ssn = entries["no-ssn"]["litellm_params"]
    assert ssn["guardrail"] == "litellm_content_filter" and ssn["mode"] == "pre_call"
    assert ssn["default_on"] is True and "timeout" not in ssn
    words = entries["words-out"]
    assert words["litellm_params"]["mode"] == ["pre_call", "post_call"]
    assert words["litellm_params"]["api_key"] == "os.environ/WORDS_OUT_GUARDRAIL_API_KEY"
    assert words["litellm_params"]["api_base"] == "os.environ/FILTER_BASE"
    assert words["litellm_params"]["unreachable_fallback"] == "fail_open"
    assert words["guardrail_info"] == {
        "description": "words we never send",
        "switchyard": {"monitor": True},
    }
    assert "words-out: api_key is exported as os.environ/WORDS_OUT_GUARDRAIL_API_KEY" in text
    # The export imports to the same rows (its reference stands for the stored secret).
    plan, _ = imported(text)
    assert {c.action for c in plan.changes("guardrails")} == {"unchanged"}, plan.describe()
    assert Guardrail.objects.get(name="words-out").stored_params()["api_key"] == SECRET
    assert export_config() == text
    revealed = yaml.safe_load(export_config(include_secrets=True))
    assert {e["guardrail_name"]: e for e in revealed["guardrails"]}["words-out"]["litellm_params"][
        "api_key"
    ] == SECRET


@pytest.mark.django_db
def test_a_disabled_guardrail_is_not_exported() -> None:
    imported(CONFIG)
    Guardrail.objects.filter(name="no-ssn").update(enabled=False)
    text = export_config()
    assert "guardrail no-ssn is disabled and not exported" in text
    assert [e["guardrail_name"] for e in yaml.safe_load(text)["guardrails"]] == ["words-out"]


# Every kind, in LiteLLM's spellings: the parse keeps each kind's params as they are;
# the kinds whose modules are in this build are planned (validated) too.
EVERY_KIND = """
guardrails:
  - guardrail_name: pii
    litellm_params:
      guardrail: presidio
      mode: [pre_call, post_call]
      presidio_language: en
      pii_entities_config: {CREDIT_CARD: MASK, EMAIL_ADDRESS: BLOCK}
      presidio_analyzer_api_base: os.environ/PRESIDIO_ANALYZER_API_BASE
  - guardrail_name: secrets
    litellm_params: {guardrail: hide-secrets, mode: pre_call}
  - guardrail_name: words
    litellm_params: {guardrail: litellm_content_filter, mode: pre_call, blocked_words: [x]}
  - guardrail_name: vendor
    litellm_params:
      guardrail: generic_guardrail_api
      mode: during_call
      api_base: https://guard.example/v1
      api_key: os.environ/GUARD_API_KEY
      additional_provider_specific_params: {policy: strict}
  - guardrail_name: moderation
    litellm_params: {guardrail: openai_moderation, mode: pre_call, route: moderation-route}
  - guardrail_name: judge
    litellm_params: {guardrail: llm_judge, mode: post_call, route: llama-guard}
"""


def test_every_kind_parses_with_its_params_as_they_are() -> None:
    config = parse_config(EVERY_KIND)
    specs = {s.name: s for s in config.specs("guardrails")}
    assert [s.kind for s in config.specs("guardrails")] == [
        "presidio", "hide-secrets", "litellm_content_filter", "generic_guardrail_api",
        "openai_moderation", "llm_judge",
    ]  # fmt: skip
    assert specs["pii"].modes == ["pre_call", "post_call"] and specs["secrets"].modes == "pre_call"
    assert specs["pii"].params == {
        "presidio_language": "en",
        "pii_entities_config": {"CREDIT_CARD": "MASK", "EMAIL_ADDRESS": "BLOCK"},
        "presidio_analyzer_api_base": "os.environ/PRESIDIO_ANALYZER_API_BASE",
    }
    assert specs["vendor"].params["api_key"] == "os.environ/GUARD_API_KEY"
    assert specs["vendor"].params["additional_provider_specific_params"] == {"policy": "strict"}
    assert specs["judge"].params == {"route": "llama-guard"}  # a route stays a name
    assert all(s.timeout == 5.0 and s.default_on is False for s in specs.values())
    assert config.env_references["guardrails[3].litellm_params.api_key"] == "GUARD_API_KEY"


@pytest.mark.django_db
def test_every_kind_in_this_build_imports() -> None:
    from gateway.features.guardrails.kinds import KINDS

    present = {
        name
        for name, kind in KINDS.items()
        if importlib.util.find_spec(f"gateway.features.guardrails.kinds.{kind.module}") is not None
    }
    plan, _ = imported(EVERY_KIND)
    made = set(Guardrail.objects.values_list("kind", flat=True))
    assert "litellm_content_filter" in made
    for spec in parse_config(EVERY_KIND).specs("guardrails"):
        skipped = [s.reason for s in plan.skipped if s.path == spec.path]
        if spec.kind not in present:
            assert skipped and "not available in this build" in skipped[0]
        elif spec.kind not in made:  # validated by its kind: the reason names a field
            assert skipped[0].startswith(f"{spec.path}.litellm_params")


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("name", "guardrails[1].guardrail_name"),
        ("kind", "guardrails[1].litellm_params.guardrail"),
        ("mode", "guardrails[1].litellm_params.mode"),
        ("modes", "guardrails[1].litellm_params.mode"),
        ("timeout", "guardrails[1].litellm_params.timeout"),
        ("params", "guardrails[1].litellm_params"),
        ("params.patterns[2].pattern", "guardrails[1].litellm_params.patterns[2].pattern"),
        ("description", "guardrails[1].guardrail_info.description"),
    ],
)
def test_fields_named_in_the_files_terms(field: str, path: str) -> None:
    assert where("guardrails[1]", field) == path


@pytest.mark.django_db
def test_the_ops_save_is_all_or_nothing() -> None:
    with pytest.raises(Exception) as caught:
        ops.save_guardrail(
            None,
            {
                "name": "x",
                "kind": "litellm_content_filter",
                "mode": "pre_call",
                "params": {"patterns": [{"pattern": "a)"}]},
            },
        )
    assert "params.patterns[0].pattern" in caught.value.message_dict  # type: ignore[attr-defined]
    assert not Guardrail.objects.exists()
