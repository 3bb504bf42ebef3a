"""Scoring shadow traffic: any of the evaluations' scorers (``console.evals.scorers``)
run over a route's mirrored pairs, the primary's answer standing as the reference (and
as the baseline of a pairwise judge), so a team can judge a cheaper model on its own
traffic before switching.

Judge and similarity calls go through the same service as any request, under the key
name ``shadow-scoring`` (journaled, no client key's limits). At most ``MAX_PAIRS`` pairs
are scored per run, ``CONCURRENCY`` calls at a time."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import orjson

from console.evals import scorers, summary
from console.playground import spec as specs
from console.playground.run import ColumnRun, run_column
from gateway.codecs import CODECS
from gateway.codecs.openai_chat import inputs as openai_inputs
from gateway.policy.registry import MASTER
from gateway.types import Text

from . import shadow_pairs

MAX_PAIRS = 50
CONCURRENCY = 8
SCORING_KEY = dataclasses.replace(MASTER, name="shadow-scoring", prefix="shadow-scoring")


def question_of(dialect: str, raw: str | bytes | None) -> str:
    """The last user message of a logged request, as text ("" when unreadable)."""
    if not raw:
        return ""
    codec = CODECS.get(dialect)
    client = codec.client if codec is not None else None
    if client is None:
        return ""
    try:
        request = client.parse_request(orjson.loads(raw))
    except Exception:
        return ""
    for message in reversed(request.messages):
        if message.role == "user":
            return "".join(p.text for p in message.parts if isinstance(p, Text))
    return ""


async def _chat(route: str, prompt: str) -> str:
    """One judge call through the service, its body written by the OpenAI codec (as the
    playground's and the evaluations' are), its streamed answer folded."""
    body = specs.build_body(
        "openai", route, "", [{"role": "user", "content": prompt}], specs.Params(max_tokens=300), []
    )
    run = ColumnRun(0, route, "openai", body)
    await run_column(run, SCORING_KEY, "switchyard-shadow-scoring")
    if run.error:
        raise RuntimeError(run.error)
    return str(run.reader.fold.text)


async def _embed(route: str, texts: list[str]) -> list[list[float]]:
    from gateway.core import service

    caller = service.Caller(key=SCORING_KEY, user_agent="switchyard-shadow-scoring")
    body = orjson.dumps(openai_inputs.embeddings_body(route, texts))
    reply = await service.handle("embeddings", "openai", body, {}, caller)
    if not isinstance(reply, service.Reply) or reply.status >= 400:
        raise RuntimeError("the embedding route failed")
    data = orjson.loads(reply.body)["data"]
    return [item["embedding"] for item in sorted(data, key=lambda d: d["index"])]


async def score_one(scorer: dict[str, Any], pair: shadow_pairs.Pair, question: str) -> float | None:
    """The shadow's answer scored against the primary's (None: unscored)."""
    output, reference = pair.mirror_text, pair.primary_text
    if output is None or reference is None:
        return None
    kind = scorer["kind"]
    if kind == "similarity":
        return await scorers.similarity(scorer, output, reference, _embed)
    if kind == "judge":
        if scorer.get("mode") == "pairwise":
            return await scorers.judge_pairwise(scorer, question, output, reference, "", _chat)
        return await scorers.judge_pointwise(scorer, question, output, reference, _chat)
    try:
        return scorers.score_sync(scorer, output, reference)
    except Exception:
        return None


async def score_pairs(
    scorer: dict[str, Any], pairs: list[shadow_pairs.Pair], questions: list[str]
) -> list[float | None]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(pair: shadow_pairs.Pair, question: str) -> float | None:
        async with gate:
            return await score_one(scorer, pair, question)

    return list(await asyncio.gather(*(one(p, q) for p, q in zip(pairs, questions, strict=True))))


def verdict(scorer: dict[str, Any], scores: list[float | None]) -> dict[str, Any]:
    """What the scores say: their mean and count, and for a pairwise judge the shadow's
    win rate against the primary with its 95% (Wilson) interval."""
    scored = [s for s in scores if s is not None]
    out: dict[str, Any] = {
        "scored": len(scored),
        "unscored": len(scores) - len(scored),
        "mean": sum(scored) / len(scored) if scored else None,
    }
    if scorer["kind"] == "judge" and scorer.get("mode") == "pairwise":
        out["win_rate"] = summary.win_rate([(s, 0.5) for s in scored])
    return out
