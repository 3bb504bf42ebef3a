"""``presidio``: personal data found by Microsoft Presidio, each entity type MASK (as
``<ENTITY_TYPE>``) or BLOCK (LiteLLM's spellings: ``pii_entities_config``,
``presidio_analyzer_api_base``, ``presidio_anonymizer_api_base``, ``presidio_language``,
``presidio_score_thresholds``; no ``pii_entities_config``: every entity found is masked).

Two ways to run:
- with both API bases set, Presidio's HTTP services (``POST {analyzer}/analyze``, then
  ``POST {anonymizer}/anonymize`` for what is masked) through the gateway's pooled
  client; any entity type the services know may be named, PERSON and LOCATION included;
- without them, in this process (``presidio-analyzer`` and ``presidio-anonymizer``,
  imported when the first such guardrail is validated or built, never with the
  guardrails package), with Presidio's predefined *pattern* recognizers only: no spaCy
  model can be assumed here, so the NLP engine is ours and returns empty artifacts. In
  English that is CREDIT_CARD, CRYPTO, DATE_TIME, EMAIL_ADDRESS, IBAN_CODE, IP_ADDRESS,
  MAC_ADDRESS, MEDICAL_LICENSE, PHONE_NUMBER, UK_NHS, URL, US_BANK_NUMBER,
  US_DRIVER_LICENSE, US_ITIN, US_PASSPORT, US_SSN and UUID (``supported_entities``);
  PERSON, LOCATION, NRP and ORGANIZATION need an NLP model, so the HTTP services.
  Context words cannot raise a score without tokens: thresholds apply to the patterns'
  own scores. An analysis of more than ``INLINE_CHARS`` runs in a thread.

A BLOCK entity found refuses the text, naming the entity type (never the value)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.base import http
from gateway.base.entries import GuardrailEntry
from gateway.base.secrets.secret_refs import reference_name, resolve_secret
from gateway.features.guardrails.kinds import Checker as BaseChecker
from gateway.features.guardrails.kinds import ConfigError, Context, Verdict

ACTIONS = ("MASK", "BLOCK")
INLINE_CHARS = 2_000  # larger texts are analysed in a thread, off the event loop
ENTITY_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# the recognizers that need an NLP model's entities (dropped: ours finds none)
_NLP_MODULES = (".nlp_engine_recognizers.", ".ner.", ".third_party.")


@dataclass(frozen=True, slots=True)
class Settings:
    entities: dict[str, str]  # {ENTITY_TYPE: MASK|BLOCK}; empty: mask all found
    analyzer: str  # API bases, "" in process
    anonymizer: str
    language: str
    thresholds: dict[str, float]  # {ENTITY_TYPE or ALL: minimum score}

    def threshold(self, entity: str) -> float:
        return self.thresholds.get(entity, self.thresholds.get("ALL", 0.0))

    def action(self, entity: str) -> str | None:
        if not self.entities:
            return "MASK"
        return self.entities.get(entity)


def _base(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        return ""
    where = f"params.{name}"
    if not isinstance(value, str):
        raise ConfigError(where, "must be a URL")
    if reference_name(value) is not None:
        return value  # os.environ/NAME: checked when resolved, at build
    return _checked_url(value, where)


def _checked_url(value: str, where: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(where, "must be an http(s) URL, e.g. http://presidio-analyzer:3000")
    return value.strip().rstrip("/")


def settings(params: Mapping[str, Any]) -> Settings:
    """The params read and checked, or ``ConfigError`` naming the field."""
    params = dict(params)
    analyzer = _base(params, "presidio_analyzer_api_base")
    anonymizer = _base(params, "presidio_anonymizer_api_base")
    if bool(analyzer) != bool(anonymizer):
        missing = "anonymizer" if analyzer else "analyzer"
        raise ConfigError(
            f"params.presidio_{missing}_api_base",
            "set both API bases (the analyzer's and the anonymizer's) or neither (in process)",
        )
    language = params.get("presidio_language") or "en"
    if not isinstance(language, str) or not re.fullmatch(
        r"[a-z]{2,3}(?:[-_][A-Za-z]{2,4})?", language
    ):
        raise ConfigError("params.presidio_language", "must be a language code such as en")
    known = None if analyzer else supported_entities(language)
    if known is not None and not known:
        raise ConfigError(
            "params.presidio_language",
            f"Presidio has no pattern recognizers for {language!r} in process; "
            "use the HTTP services for this language",
        )

    def entity(name: Any, where: str) -> str:
        if not isinstance(name, str) or not ENTITY_NAME.match(name):
            raise ConfigError(where, "an entity type is written in capitals, e.g. EMAIL_ADDRESS")
        if known is not None and name not in known:
            raise ConfigError(
                where,
                f"Presidio in process does not recognize {name} (it needs an NLP model or "
                f"the HTTP services); known: {', '.join(sorted(known))}",
            )
        return name

    config = params.get("pii_entities_config") or {}
    if not isinstance(config, dict):
        raise ConfigError("params.pii_entities_config", "must map entity types to MASK or BLOCK")
    entities: dict[str, str] = {}
    for name, action in config.items():
        where = f"params.pii_entities_config.{name}"
        entity(name, where)
        upper = str(action).upper() if isinstance(action, str) else ""
        if upper not in ACTIONS:
            raise ConfigError(where, f"unknown action {action!r}: MASK or BLOCK")
        entities[name] = upper
    raw = params.get("presidio_score_thresholds") or {}
    if not isinstance(raw, dict):
        raise ConfigError(
            "params.presidio_score_thresholds", "must map entity types (or ALL) to scores"
        )
    thresholds: dict[str, float] = {}
    for name, value in raw.items():
        where = f"params.presidio_score_thresholds.{name}"
        if name != "ALL":
            entity(name, where)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ConfigError(where, "must be a score between 0 and 1")
        thresholds[name] = float(value)
    if "output_parse_pii" in params and params["output_parse_pii"] not in (None, False):
        # LiteLLM puts the originals back into the answer; the masks here are the
        # entity type alone, so there is nothing to map back from (yet)
        raise ConfigError(
            "params.output_parse_pii",
            "not supported: masked values are not restored into the answer",
        )
    return Settings(entities, analyzer, anonymizer, language, thresholds)


def validate(params: dict[str, Any]) -> dict[str, Any]:
    settings(params)
    return params


# --- in process --------------------------------------------------------------------

_engines: dict[str, Any] = {}
_engines_lock = threading.Lock()


def _engine(language: str) -> Any:
    """Presidio's analyzer for ``language`` with the pattern recognizers (once per
    process and language)."""
    with _engines_lock:
        found = _engines.get(language)
        if found is None:
            found = _engines[language] = _build_engine(language)
        return found


def _build_engine(language: str) -> Any:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

    class PatternsOnly(NlpEngine):
        """No model: empty artifacts, so only pattern recognizers find anything."""

        def load(self) -> None:
            return None

        def is_loaded(self) -> bool:
            return True

        def process_text(self, text: str, language: str) -> Any:
            no_tokens: Any = []  # no model, no spaCy Doc: context is skipped
            return NlpArtifacts([], no_tokens, [], [], None, language)

        def process_batch(
            self,
            texts: Iterable[str],
            language: str,
            batch_size: int = 1,
            n_process: int = 1,
            **kwargs: Any,
        ) -> Iterator[tuple[str, Any]]:
            for text in texts:
                yield text, self.process_text(text, language)

        def is_stopword(self, word: str, language: str) -> bool:
            return False

        def is_punct(self, word: str, language: str) -> bool:
            return False

        def get_supported_entities(self) -> list[str]:
            return []

        def get_supported_languages(self) -> list[str]:
            return [language]

    nlp = PatternsOnly()
    registry = RecognizerRegistry(supported_languages=[language])
    # Presidio logs each recognizer loaded, those of other languages skipped, and at
    # every analysis that context was skipped: keep its warnings, once built
    presidio_log = logging.getLogger("presidio-analyzer")
    presidio_log.setLevel(logging.ERROR)
    try:
        registry.load_predefined_recognizers(languages=[language], nlp_engine=nlp)
    finally:
        presidio_log.setLevel(logging.WARNING)
    loaded: list[Any] = list(registry.recognizers)
    for recognizer in loaded:
        module = type(recognizer).__module__
        if any(part in module for part in _NLP_MODULES):
            registry.remove_recognizer(str(recognizer.name))
        elif type(recognizer).__name__ == "EmailRecognizer":
            _offline_email(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=[language])


def _offline_email(recognizer: Any) -> None:
    """The email recognizer checks the domain with ``tldextract``, whose default
    fetches the public suffix list from the internet on first use: read the copy
    bundled with it instead."""
    import tldextract

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(pattern_text: str) -> bool:
        return extract(pattern_text).fqdn != ""

    recognizer.validate_result = validate_result


def supported_entities(language: str) -> frozenset[str]:
    """The entity types Presidio finds in process for ``language``."""
    engine = _engine(language)
    return frozenset(engine.get_supported_entities(language=language))


_anonymizer: list[Any] = []


def _anonymize(text: str, found: list[Any]) -> str:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    if not _anonymizer:
        _anonymizer.append(AnonymizerEngine())  # type: ignore[no-untyped-call]
    operators = {
        result.entity_type: OperatorConfig("replace", {"new_value": f"<{result.entity_type}>"})
        for result in found
    }
    anonymized: str = (
        _anonymizer[0].anonymize(text=text, analyzer_results=found, operators=operators).text
    )
    return anonymized


# --- the checker --------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    text: str
    blocked: list[str]
    masked: list[str]


class Checker(BaseChecker):
    stream_step = 48  # its recognizers cost ~0.1-1 ms a check: every few deltas on a stream

    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        read = settings(entry.params)
        if read.analyzer:
            analyzer = _checked_url(
                resolve_secret(read.analyzer), "params.presidio_analyzer_api_base"
            )
            anonymizer = _checked_url(
                resolve_secret(read.anonymizer), "params.presidio_anonymizer_api_base"
            )
            read = Settings(read.entities, analyzer, anonymizer, read.language, read.thresholds)
        self.settings = read
        self.local = not read.analyzer
        self.engine: Any = _engine(read.language) if self.local else None
        self.asked = sorted(read.entities) or None  # None: every entity Presidio knows

    async def check(self, texts: list[str], context: Context) -> Verdict:
        if self.local:
            if sum(len(text) for text in texts) > INLINE_CHARS:
                found = await asyncio.to_thread(self._local_all, texts)
            else:
                found = self._local_all(texts)
        else:
            found = list(await asyncio.gather(*(self._remote(text) for text in texts)))
        return self._verdict(texts, found)

    def _verdict(self, texts: list[str], found: list[_Found]) -> Verdict:
        blocked = list(dict.fromkeys(e for item in found for e in item.blocked))
        if blocked:
            return Verdict("blocked", f"{', '.join(blocked)} detected", entities=tuple(blocked))
        masked = list(dict.fromkeys(e for item in found for e in item.masked))
        if not masked:
            return Verdict()
        rewritten = [item.text for item in found]
        if rewritten == texts:
            return Verdict()
        return Verdict("intervened", f"masked {', '.join(masked)}", rewritten, tuple(masked))

    def _kept(self, results: Iterable[Any]) -> tuple[list[Any], list[Any]]:
        """(BLOCK results, MASK results) above their thresholds."""
        block: list[Any] = []
        mask: list[Any] = []
        for result in results:
            entity = _field(result, "entity_type")
            if _field(result, "score") < self.settings.threshold(entity):
                continue
            action = self.settings.action(entity)
            if action == "BLOCK":
                block.append(result)
            elif action == "MASK":
                mask.append(result)
        return block, mask

    def _local_all(self, texts: list[str]) -> list[_Found]:
        return [self._local(text) for text in texts]

    def _local(self, text: str) -> _Found:
        results = self.engine.analyze(
            text=text, language=self.settings.language, entities=self.asked
        )
        block, mask = self._kept(results)
        if block:
            return _Found(text, _types(block), [])
        if not mask:
            return _Found(text, [], [])
        return _Found(_anonymize(text, mask), [], _types(mask))

    async def _remote(self, text: str) -> _Found:
        body: dict[str, Any] = {"text": text, "language": self.settings.language}
        if self.asked:
            body["entities"] = self.asked
        answer = await _post(f"{self.settings.analyzer}/analyze", body)
        if not isinstance(answer, list):
            raise ValueError("the Presidio analyzer answered something other than a list")
        results = [item for item in answer if isinstance(item, dict)]
        block, mask = self._kept(results)
        if block:
            return _Found(text, _types(block), [])
        if not mask:
            return _Found(text, [], [])
        types = _types(mask)
        anonymized = await _post(
            f"{self.settings.anonymizer}/anonymize",
            {
                "text": text,
                "analyzer_results": [
                    {k: item[k] for k in ("entity_type", "start", "end", "score") if k in item}
                    for item in mask
                ],
                "anonymizers": {
                    entity: {"type": "replace", "new_value": f"<{entity}>"} for entity in types
                },
            },
        )
        new = anonymized.get("text") if isinstance(anonymized, dict) else None
        if not isinstance(new, str):
            raise ValueError("the Presidio anonymizer's answer has no text")
        return _Found(new, [], types)


def _field(result: Any, name: str) -> Any:
    return result[name] if isinstance(result, dict) else getattr(result, name)


def _types(results: list[Any]) -> list[str]:
    return list(dict.fromkeys(str(_field(result, "entity_type")) for result in results))


async def _post(url: str, body: dict[str, Any]) -> Any:
    response = await http.client().post(
        url, content=orjson.dumps(body), headers={"content-type": "application/json"}
    )
    if response.status_code >= 300:
        raise RuntimeError(f"Presidio answered {response.status_code} at {url}")
    return orjson.loads(response.content)
