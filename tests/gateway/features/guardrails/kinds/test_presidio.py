"""The presidio kind: its params checked with the field named; in process (Presidio's
pattern recognizers) masking a card number and an email as ``<ENTITY_TYPE>`` and
blocking an SSN; over HTTP against a small Presidio on 127.0.0.1 speaking its
``/analyze`` and ``/anonymize`` contract, the service being down taking the failure
policy; and never loaded by a gateway without such a guardrail."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.base.entries import GuardrailEntry
from gateway.base.errors import GuardrailUnavailable
from gateway.features.guardrails import engine, kinds
from gateway.features.guardrails.kinds import ConfigError, Context
from gateway.features.guardrails.kinds import presidio as kind

CARD = "4111 1111 1111 1111"
SSN = "536-22-8726"
CONTEXT = Context("request", "pre_call")


def entry(params: dict[str, Any], **extra: Any) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(json.dumps(params, sort_keys=True) + repr(sorted(extra.items())))) % 10**9,
        name="pii",
        kind="presidio",
        modes=frozenset({"pre_call"}),
        params=params,
        **extra,
    )


def field_of(params: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        kinds.validate("presidio", ["pre_call"], params)
    return caught.value.field


# --- validation ---------------------------------------------------------------------


def test_a_good_config_is_kept_as_given() -> None:
    params = {
        "pii_entities_config": {"CREDIT_CARD": "MASK", "US_SSN": "block"},
        "presidio_score_thresholds": {"ALL": 0.4, "EMAIL_ADDRESS": 0.6},
        "presidio_language": "en",
    }
    assert kinds.validate("presidio", "pre_call", params) == (["pre_call"], params)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (
            {"pii_entities_config": {"EMAIL_ADDRESS": "HIDE"}},
            "params.pii_entities_config.EMAIL_ADDRESS",
        ),
        ({"pii_entities_config": {"FOO": "MASK"}}, "params.pii_entities_config.FOO"),
        # a name needs an NLP model: not in process
        ({"pii_entities_config": {"PERSON": "MASK"}}, "params.pii_entities_config.PERSON"),
        ({"pii_entities_config": {"email": "MASK"}}, "params.pii_entities_config.email"),
        ({"pii_entities_config": ["EMAIL_ADDRESS"]}, "params.pii_entities_config"),
        ({"presidio_score_thresholds": {"ALL": 1.5}}, "params.presidio_score_thresholds.ALL"),
        (
            {"presidio_score_thresholds": {"US_SSN": "high"}},
            "params.presidio_score_thresholds.US_SSN",
        ),
        ({"presidio_score_thresholds": {"NOPE": 0.5}}, "params.presidio_score_thresholds.NOPE"),
        ({"presidio_language": "english!"}, "params.presidio_language"),
        (
            {
                "presidio_analyzer_api_base": "ftp://presidio:3000",
                "presidio_anonymizer_api_base": "http://anon:3000",
            },
            "params.presidio_analyzer_api_base",
        ),
        (
            {"presidio_analyzer_api_base": "http://presidio:3000"},
            "params.presidio_anonymizer_api_base",
        ),
        ({"output_parse_pii": True}, "params.output_parse_pii"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(params: dict[str, Any], field: str) -> None:
    assert field_of(params) == field


def test_the_services_may_name_any_entity_and_an_environment_reference() -> None:
    params = {
        "presidio_analyzer_api_base": "os.environ/PRESIDIO_ANALYZER_API_BASE",
        "presidio_anonymizer_api_base": "https://anon.internal/",
        "pii_entities_config": {"PERSON": "MASK", "LOCATION": "BLOCK"},
    }
    assert kind.validate(dict(params)) == params


# --- in process ---------------------------------------------------------------------


async def test_in_process_masks_a_card_and_an_email_as_their_types() -> None:
    checker = kinds.checker(
        entry({"pii_entities_config": {"CREDIT_CARD": "MASK", "EMAIL_ADDRESS": "MASK"}})
    )
    assert checker.local
    verdict = await checker.check(
        [f"pay with {CARD} please", "write to jane.doe@example.com", "nothing here"], CONTEXT
    )
    assert verdict.action == "intervened"
    assert verdict.texts == [
        "pay with <CREDIT_CARD> please",
        "write to <EMAIL_ADDRESS>",
        "nothing here",
    ]
    assert verdict.entities == ("CREDIT_CARD", "EMAIL_ADDRESS")


async def test_in_process_blocks_an_ssn_naming_the_type_never_the_value() -> None:
    checker = kinds.checker(
        entry({"pii_entities_config": {"US_SSN": "BLOCK", "EMAIL_ADDRESS": "MASK"}})
    )
    verdict = await checker.check([f"mail a@example.com, my ssn is {SSN}"], CONTEXT)
    assert verdict.action == "blocked" and verdict.entities == ("US_SSN",)
    assert "US_SSN" in verdict.reason and SSN not in verdict.reason


async def test_only_the_configured_entities_are_acted_on() -> None:
    checker = kinds.checker(entry({"pii_entities_config": {"EMAIL_ADDRESS": "MASK"}}))
    verdict = await checker.check([f"card {CARD} ssn {SSN}"], CONTEXT)
    assert verdict.action == "none"


async def test_without_a_config_every_entity_found_is_masked() -> None:
    verdict = await kinds.checker(entry({})).check(
        [f"card {CARD} mail x@example.org from 192.168.10.20"], CONTEXT
    )
    assert verdict.texts == ["card <CREDIT_CARD> mail <EMAIL_ADDRESS> from <IP_ADDRESS>"]


async def test_a_score_threshold_drops_weaker_findings() -> None:
    config = {"CREDIT_CARD": "MASK", "US_SSN": "MASK"}
    # an SSN's pattern scores 0.5; a card passing its checksum scores 1.0
    checker = kinds.checker(
        entry({"pii_entities_config": config, "presidio_score_thresholds": {"ALL": 0.6}})
    )
    verdict = await checker.check([f"{CARD} and {SSN}"], CONTEXT)
    assert verdict.texts == [f"<CREDIT_CARD> and {SSN}"]
    per_entity = kinds.checker(
        entry({"pii_entities_config": config, "presidio_score_thresholds": {"CREDIT_CARD": 1.0}})
    )
    verdict = await per_entity.check([f"{CARD} and {SSN}"], CONTEXT)
    assert verdict.texts == ["<CREDIT_CARD> and <US_SSN>"]


async def test_a_large_text_is_analysed_off_the_event_loop(monkeypatch) -> None:
    threaded: list[int] = []
    real = asyncio.to_thread

    async def to_thread(function, *args):  # type: ignore[no-untyped-def]
        threaded.append(sum(len(text) for text in args[0]))
        return await real(function, *args)

    monkeypatch.setattr(kind.asyncio, "to_thread", to_thread)
    checker = kinds.checker(entry({"pii_entities_config": {"CREDIT_CARD": "MASK"}}))
    small = await checker.check([f"card {CARD}"], CONTEXT)
    assert small.texts == ["card <CREDIT_CARD>"] and threaded == []
    text = "lorem ipsum " * 250 + f"card {CARD}"
    large = await checker.check([text], CONTEXT)
    assert large.texts == [text.replace(CARD, "<CREDIT_CARD>")]
    assert threaded == [len(text)]


def test_the_guardrails_package_never_loads_presidio_or_detect_secrets() -> None:
    code = (
        "import sys, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'gateway.server.settings');"
        "django.setup();"
        "import gateway.features.guardrails.plane, gateway.features.guardrails.plugin, gateway.features.guardrails.stream;"
        "import gateway.features.guardrails.kinds.presidio, gateway.features.guardrails.kinds.secrets;"
        "print(sorted(m for m in sys.modules if m.startswith(('presidio', 'detect_secrets', 'spacy'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- over HTTP: a small Presidio on 127.0.0.1 ---------------------------------------


class Presidio(BaseHTTPRequestHandler):
    """Presidio's analyzer and anonymizer contract, with two recognizers of its own:
    PERSON (a few known names, as an NLP model would find) and EMAIL_ADDRESS."""

    calls: list[tuple[str, dict[str, Any]]] = []
    status = 200
    NAMES = re.compile(r"\b(?:Jane Doe|John Smith)\b")
    EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Presidio.calls.append((self.path, body))
        if Presidio.status != 200:
            return self._answer(Presidio.status, {"error": "overloaded"})
        if self.path == "/analyze":
            if not isinstance(body.get("text"), str) or not body.get("language"):
                return self._answer(400, {"error": "text and language are required"})
            found = [
                {"entity_type": entity, "start": m.start(), "end": m.end(), "score": score}
                for entity, pattern, score in (
                    ("PERSON", self.NAMES, 0.85),
                    ("EMAIL_ADDRESS", self.EMAIL, 1.0),
                )
                for m in pattern.finditer(body["text"])
            ]
            wanted = body.get("entities")
            return self._answer(200, [f for f in found if not wanted or f["entity_type"] in wanted])
        if self.path == "/anonymize":
            text: str = body["text"]
            operators = body.get("anonymizers", {})
            items = []
            for result in sorted(body["analyzer_results"], key=lambda r: -r["start"]):
                operator = operators.get(result["entity_type"], operators.get("DEFAULT", {}))
                new = operator.get("new_value", f"<{result['entity_type']}>")
                text = text[: result["start"]] + new + text[result["end"] :]
                items.append(
                    {"operator": "replace", "entity_type": result["entity_type"], "text": new}
                )
            return self._answer(200, {"text": text, "items": items})
        return self._answer(404, {"error": "not found"})

    def _answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Presidio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def calls() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    Presidio.calls.clear()
    Presidio.status = 200
    yield Presidio.calls
    Presidio.status = 200


def remote(base: str, config: dict[str, str], **extra: Any) -> GuardrailEntry:
    return entry(
        {
            "presidio_analyzer_api_base": base,
            "presidio_anonymizer_api_base": base + "/",
            "presidio_language": "en",
            "pii_entities_config": config,
        },
        **extra,
    )


async def test_the_services_mask_through_analyze_then_anonymize(service, calls) -> None:
    checker = kinds.checker(remote(service, {"PERSON": "MASK", "EMAIL_ADDRESS": "MASK"}))
    assert not checker.local
    verdict = await checker.check(["Jane Doe writes from jane@example.com", "all clear"], CONTEXT)
    assert verdict.action == "intervened"
    assert verdict.texts == ["<PERSON> writes from <EMAIL_ADDRESS>", "all clear"]
    analyzed = [body for path, body in calls if path == "/analyze"]
    assert sorted(b["text"] for b in analyzed) == [
        "Jane Doe writes from jane@example.com",
        "all clear",
    ]
    assert all(
        b["language"] == "en" and b["entities"] == ["EMAIL_ADDRESS", "PERSON"] for b in analyzed
    )
    (anonymized,) = [body for path, body in calls if path == "/anonymize"]  # the clean text: none
    assert anonymized["anonymizers"]["PERSON"] == {"type": "replace", "new_value": "<PERSON>"}
    assert {r["entity_type"] for r in anonymized["analyzer_results"]} == {"PERSON", "EMAIL_ADDRESS"}


async def test_the_services_block_without_anonymizing(service, calls) -> None:
    checker = kinds.checker(remote(service, {"PERSON": "BLOCK", "EMAIL_ADDRESS": "MASK"}))
    verdict = await checker.check(["ask John Smith at js@example.com"], CONTEXT)
    assert verdict.action == "blocked" and verdict.entities == ("PERSON",)
    assert [path for path, _ in calls] == ["/analyze"]


async def test_a_service_error_fails_closed_through_the_engine(service, calls) -> None:
    Presidio.status = 503
    guard = remote(service, {"PERSON": "MASK"})
    with pytest.raises(GuardrailUnavailable) as caught:
        await engine.run([guard], ["Jane Doe"], CONTEXT, engine.Notes())
    assert "503" in caught.value.message


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_service_down_fails_closed_or_open_as_configured() -> None:
    base = f"http://127.0.0.1:{_closed_port()}"
    closed = remote(base, {"PERSON": "MASK"}, timeout=2.0)
    notes = engine.Notes()
    with pytest.raises(GuardrailUnavailable):
        await engine.run([closed], ["Jane Doe"], CONTEXT, notes)
    assert notes.as_list()[0]["verdict"] == "error"

    opened = remote(base, {"PERSON": "MASK"}, timeout=2.0, fail_open=True)
    notes = engine.Notes()
    assert await engine.run([opened], ["Jane Doe"], CONTEXT, notes) == ["Jane Doe"]
    (note,) = notes.as_list()
    assert note["bypassed"] is True and note["verdict"] == "error" and note["error"]
