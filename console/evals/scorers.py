"""Scorers. A scorer is a dict saved with the experiment: ``{"kind": ..., options}``;
``name`` (default: the kind) keys its value in each cell's ``scores``.

Every value is a float in [0, 1] (pointwise judge: its 1–10 grade divided by 10;
pairwise judge: 1 the column beat the baseline, 0.5 a tie, 0 it lost, averaged over both
orders) or None: unscored (no reference to compare with, a judge that answered
garbage, an embedding call that failed). A scorer never raises for an answer it cannot
grade.

- ``exact``: the output equals the reference (stripped; ``ignore_case``).
- ``contains``: the output contains ``value`` (default: the reference).
- ``regex``: ``pattern`` matches somewhere in the output.
- ``json_valid``: the output (a ```json fence allowed) parses as JSON.
- ``json_schema``: it parses and validates against ``schema`` (``jsonschema``).
- ``numeric``: the first number in the output is within ``tolerance`` (absolute, or
  ``relative``) of the reference's number.
- ``similarity``: cosine of the output's and the reference's embeddings from the
  embedding ``route`` (async, through the service).
- ``judge``: an LLM through ``route`` with an editable ``rubric``; ``mode`` pointwise
  (a grade 1–10) or pairwise (A/B against the baseline column, asked in both orders).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

KINDS = (
    "exact", "contains", "regex", "json_valid", "json_schema", "numeric", "similarity", "judge",
)  # fmt: skip
ASYNC_KINDS = ("similarity", "judge")
NUMBER = re.compile(r"[-+]?(?:\d+(?:[.,]\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)
GRADE = re.compile(r"(?:score|grade|rating)\s*[:=]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
VERDICT = re.compile(r"(?:verdict|winner|answer)\s*[:=]?\s*\**\s*\[?(A|B|tie)\b", re.IGNORECASE)

DEFAULT_POINTWISE_RUBRIC = (
    "Grade the answer for correctness and helpfulness with respect to the question"
    " (and the reference answer, when given). 10 is perfect, 1 is useless."
)
DEFAULT_PAIRWISE_RUBRIC = (
    "Which answer is better for the question: more correct, more helpful, more concise?"
)


# Why a scorer left an answer unscored (kept per cell in ``Cell.unscored``, counted in
# the summary): "3 unscored: the judge's answer had no score" says what to fix.
NO_REFERENCE = "the row has no reference answer"
NO_REFERENCE_NUMBER = "the reference has no number"
NO_ANSWER = "the answer is empty"
EMBED_FAILED = "the embedding call failed"
JUDGE_FAILED = "the judge's call failed"
JUDGE_NO_SCORE = "the judge's answer had no score"
JUDGE_NO_VERDICT = "the judge's answer had no verdict"
LABELS = {
    "exact": "Exact match", "contains": "Contains", "regex": "Regex", "json_valid": "Valid JSON",
    "json_schema": "JSON schema", "numeric": "Numeric", "similarity": "Similarity",
}  # fmt: skip


class ScorerError(ValueError):
    """A scorer definition that cannot be used (unknown kind, bad regex or schema)."""


def label_of(scorer: dict[str, Any]) -> str:
    """What a person reads in a header: the scorer's own name when given, else its kind
    in words ("Judge (1–10)", not the internal ``judge_pointwise``)."""
    if scorer.get("name"):
        return str(scorer["name"])
    if scorer["kind"] == "judge":
        return "Judge vs baseline" if scorer.get("mode") == "pairwise" else "Judge (1–10)"
    return LABELS.get(scorer["kind"], str(scorer["kind"]))


def why_sync_unscored(scorer: dict[str, Any]) -> str:
    """Why ``score_sync`` returned None for ``scorer`` (it does only for a missing or
    numberless reference)."""
    return NO_REFERENCE_NUMBER if scorer["kind"] == "numeric" else NO_REFERENCE


def name_of(scorer: dict[str, Any]) -> str:
    return str(
        scorer.get("name")
        or scorer["kind"]
        + (f"_{scorer.get('mode', 'pointwise')}" if scorer["kind"] == "judge" else "")
    )


def validate(
    scorers: Any, routes_exist: Callable[[str], bool] | None = None
) -> list[dict[str, Any]]:
    """The scorer list as saved, or ``ScorerError`` naming the bad one."""
    import jsonschema  # here: every serving process imports this module, few validate

    if scorers in (None, ""):
        return []
    if not isinstance(scorers, list):
        raise ScorerError("scorers must be a list")
    out, names = [], set()
    for n, raw in enumerate(scorers, 1):
        if isinstance(raw, str):
            raw = {"kind": raw}
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
            raise ScorerError(f"scorer {n}: kind must be one of {', '.join(KINDS)}")
        scorer = {k: v for k, v in raw.items() if v not in (None, "")}
        kind = scorer["kind"]
        if kind == "regex":
            try:
                re.compile(str(scorer.get("pattern", "")))
            except re.error as exc:
                raise ScorerError(f"scorer {n}: bad regular expression ({exc})") from None
            if not scorer.get("pattern"):
                raise ScorerError(f"scorer {n}: regex needs a pattern")
        if kind == "json_schema":
            schema = scorer.get("schema")
            if isinstance(schema, str):
                try:
                    schema = json.loads(schema)
                except ValueError:
                    raise ScorerError(f"scorer {n}: the schema is not JSON") from None
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except (jsonschema.SchemaError, TypeError, AttributeError) as exc:
                raise ScorerError(f"scorer {n}: not a JSON schema ({exc})") from None
            scorer["schema"] = schema
        if kind == "numeric":
            try:
                scorer["tolerance"] = float(scorer.get("tolerance", 0))
            except (TypeError, ValueError):
                raise ScorerError(f"scorer {n}: tolerance must be a number") from None
        if kind in ASYNC_KINDS:
            route = scorer.get("route")
            if not route:
                raise ScorerError(f"scorer {n}: {kind} needs a route")
            if routes_exist is not None and not routes_exist(route):
                raise ScorerError(f"scorer {n}: no route named {route!r}")
        if kind == "judge":
            mode = scorer.setdefault("mode", "pointwise")
            if mode not in ("pointwise", "pairwise"):
                raise ScorerError(f"scorer {n}: judge mode is pointwise or pairwise")
            scorer.setdefault(
                "rubric",
                DEFAULT_PAIRWISE_RUBRIC if mode == "pairwise" else DEFAULT_POINTWISE_RUBRIC,
            )
        name = name_of(scorer)
        if name in names:
            raise ScorerError(f"scorer {n}: a second scorer named {name!r} (give it a name)")
        names.add(name)
        out.append(scorer)
    return out


# --- the synchronous scorers ---------------------------------------------------------------


def _json_of(output: str) -> Any:
    fenced = FENCE.match(output)
    return json.loads(fenced.group(1) if fenced else output)


def _number(text: str) -> float | None:
    text = THOUSANDS.sub("", text)  # 1,050 is 1050; a lone decimal comma (3,5) stays
    match = NUMBER.search(text)
    if match is None:
        return None
    try:
        return float(match.group(0).replace(",", "."))
    except ValueError:
        return None


def score_sync(scorer: dict[str, Any], output: str, reference: str) -> float | None:
    import jsonschema  # here: every serving process imports this module, few score

    kind = scorer["kind"]
    if kind == "exact":
        if not reference:
            return None
        a, b = output.strip(), reference.strip()
        if scorer.get("ignore_case"):
            a, b = a.casefold(), b.casefold()
        return float(a == b)
    if kind == "contains":
        needle = str(scorer.get("value") or reference)
        if not needle:
            return None
        if scorer.get("ignore_case", True):
            return float(needle.casefold() in output.casefold())
        return float(needle in output)
    if kind == "regex":
        flags = re.IGNORECASE if scorer.get("ignore_case") else 0
        return float(re.search(str(scorer["pattern"]), output, flags) is not None)
    if kind == "json_valid":
        try:
            _json_of(output)
        except ValueError:
            return 0.0
        return 1.0
    if kind == "json_schema":
        try:
            value = _json_of(output)
        except ValueError:
            return 0.0
        validator = jsonschema.validators.validator_for(scorer["schema"])(scorer["schema"])
        return float(validator.is_valid(value))
    if kind == "numeric":
        expected = _number(reference)
        if expected is None:
            return None
        got = _number(output)
        if got is None:
            return 0.0
        tolerance = float(scorer.get("tolerance", 0))
        if scorer.get("relative"):
            tolerance *= abs(expected)
        return float(abs(got - expected) <= tolerance + 1e-12)
    raise ScorerError(f"{kind} is not a synchronous scorer")


# --- similarity and judges -----------------------------------------------------------------


def cosine(a: list[float], b: list[float]) -> float | None:
    if len(a) != len(b) or not a:
        return None
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return None if norm == 0 else dot / norm


Embed = Callable[[str, list[str]], Awaitable[list[list[float]]]]
Chat = Callable[[str, str], Awaitable[str]]


async def similarity(
    scorer: dict[str, Any], output: str, reference: str, embed: Embed
) -> float | None:
    if not reference or not output:
        return None
    try:
        vectors = await embed(scorer["route"], [output, reference])
        value = cosine(vectors[0], vectors[1])
    except Exception:
        return None
    return None if value is None else max(0.0, min(1.0, value))


def pointwise_prompt(rubric: str, question: str, answer: str, reference: str) -> str:
    parts = [
        "You are grading an answer.", f"Rubric: {rubric}", f"Question:\n{question}",
    ]  # fmt: skip
    if reference:
        parts.append(f"Reference answer:\n{reference}")
    parts.append(f"Answer to grade:\n{answer}")
    parts.append(
        "Say in one to three sentences why the answer deserves its grade, then end with a"
        " line 'Score: N' where N is a whole number from 1 to 10."
    )
    return "\n\n".join(parts)


def pairwise_prompt(rubric: str, question: str, a: str, b: str, reference: str) -> str:
    parts = ["You are comparing two answers.", f"Rubric: {rubric}", f"Question:\n{question}"]
    if reference:
        parts.append(f"Reference answer:\n{reference}")
    parts += [f"Answer A:\n{a}", f"Answer B:\n{b}"]
    parts.append("Reply with one line: 'Verdict: A', 'Verdict: B' or 'Verdict: tie'.")
    return "\n\n".join(parts)


def parse_grade(text: str) -> float | None:
    """A 1–10 grade as a value in [0.1, 1], or None for anything else."""
    match = GRADE.search(text)
    if match is None:
        stripped = text.strip().rstrip(".")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)(?:\s*/\s*10)?", stripped)
    if match is None:
        return None
    grade = float(match.group(1))
    return grade / 10 if 1 <= grade <= 10 else None


def parse_verdict(text: str) -> str | None:
    """'A', 'B' or 'tie'; None when the judge said something else."""
    match = VERDICT.search(text)
    if match is None:
        bare = text.strip().strip(".*").strip()
        if bare.upper() in ("A", "B") or bare.lower() == "tie":
            return bare.upper() if bare.lower() != "tie" else "tie"
        return None
    value = match.group(1)
    return "tie" if value.lower() == "tie" else value.upper()


async def judge_pointwise(
    scorer: dict[str, Any], question: str, output: str, reference: str, chat: Chat
) -> float | None:
    value, _ = await judge_pointwise_reasoned(scorer, question, output, reference, chat)
    return value


async def judge_pointwise_reasoned(
    scorer: dict[str, Any], question: str, output: str, reference: str, chat: Chat
) -> tuple[float | None, str]:
    """The grade and the judge's own words ("" when its call failed): a 0.80 is kept
    with the "The answer is correct and concise. Score: 8" it was read from."""
    try:
        answer = await chat(
            scorer["route"], pointwise_prompt(scorer["rubric"], question, output, reference)
        )
    except Exception:
        return None, ""
    return parse_grade(answer), reasoning_of(answer)


MAX_REASONING = 4000


def reasoning_of(answer: str) -> str:
    """What a judge said, as kept beside its grade (trimmed, at most ``MAX_REASONING``)."""
    text = answer.strip()
    return text if len(text) <= MAX_REASONING else text[: MAX_REASONING - 1] + "…"


RULE_KINDS = ("contains", "regex", "json_valid", "json_schema")


def rule_reasoning(scorer: dict[str, Any], value: float | None) -> str:
    """Why a rule scorer gave ``value`` (the words a log shows beside it)."""
    kind = scorer["kind"]
    if kind == "contains":
        yes, no = (
            f"contains {scorer.get('value', '')!r}",
            f"does not contain {scorer.get('value', '')!r}",
        )
    elif kind == "regex":
        yes, no = (
            f"matches /{scorer.get('pattern', '')}/",
            f"does not match /{scorer.get('pattern', '')}/",
        )
    elif kind == "json_valid":
        yes, no = "is valid JSON", "is not valid JSON"
    else:
        yes, no = "validates against the JSON schema", "does not validate against the JSON schema"
    return f"The answer {yes if value else no}."


async def judge_pairwise(
    scorer: dict[str, Any], question: str, candidate: str, baseline: str, reference: str, chat: Chat
) -> float | None:
    """The candidate's result against the baseline, asked with the candidate as B and
    then as A (position swapping cancels a judge's preference for one side); None when
    either answer is garbage."""
    rubric = scorer["rubric"]
    try:
        first = parse_verdict(
            await chat(
                scorer["route"], pairwise_prompt(rubric, question, baseline, candidate, reference)
            )
        )
        second = parse_verdict(
            await chat(
                scorer["route"], pairwise_prompt(rubric, question, candidate, baseline, reference)
            )
        )
    except Exception:
        return None
    if first is None or second is None:
        return None
    won = {"B": 1.0, "tie": 0.5, "A": 0.0}[first] + {"A": 1.0, "tie": 0.5, "B": 0.0}[second]
    return won / 2
