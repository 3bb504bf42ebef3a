"""``POST /v1/rerank``: the request and answer shapes, upstream-neutral.

Callers send Cohere's v2 rerank body (``model``, ``query``, ``documents`` as strings,
``top_n``, ``max_tokens_per_doc``), Jina's (documents as strings or ``{"text": ...}``
objects, ``top_n``, ``return_documents``) or Voyage's (``top_k`` for ``top_n``,
``return_documents``, ``truncation``: the ``voyageai`` client always sends it); ``parse``
makes one ``RerankRequest`` of any. Upstreams:

- Cohere (``/v2/rerank``): the Cohere body; ``meta.billed_units.search_units`` read;
- Bedrock's ``Rerank`` (agent runtime ``/rerank``): queries, inline text sources and the
  reranking configuration (the provider fills in the model's ARN);
- OpenAI-compatible rerank servers (vLLM, Infinity, Jina-style: ``{api_base}/rerank``,
  the same body with ``return_documents``), or text-embeddings-inference's ``/rerank``
  at the server's root (``{"query", "texts", "return_text"}``, answered by a bare list)
  when the deployment's params say ``"rerank_api": "tei"``; in calls of at most 32
  documents (its default client batch size; ``"tei_batch_size"`` in the params if the
  server was started with another), made together and joined.

Pricing: a deployment with a price per search unit (the catalog's for Cohere's and
Bedrock's rerank models, or set on the deployment) is charged per search unit: the
units the upstream reports (Cohere's ``meta.billed_units.search_units``), else
``search_units``: one per query with up to 100 documents, a document longer than 500
tokens with the query counting once per 500-token chunk (Cohere's rule, which Bedrock
follows), tokens counted at about four characters each. Without one, rerank is priced
by the tokens reported, as before.

``read`` takes any of those answers; ``render`` answers Cohere's v2 shape (``id``,
``results`` of ``index`` / ``relevance_score`` / ``document``, ``meta``) plus ``model``
and ``usage`` (what Jina and vLLM clients read), highest score first, at most ``top_n``.
A Voyage-shaped request (``top_k`` or ``truncation``) also gets Voyage's ``data``
(``index`` / ``relevance_score`` / ``document`` as a string), which its client reads
instead of ``results`` (docs.voyageai.com, reranker API).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.types import Usage

MAX_DOCUMENTS = 10_000
DOCUMENTS_PER_UNIT = 100  # one search unit: one query with up to 100 documents
CHUNK_TOKENS = 500  # a longer document (with the query) counts once per chunk
TEI_BATCH = 32  # text-embeddings-inference's default --max-client-batch-size
BEDROCK_MAX_DOCUMENTS = 1000  # Rerank's sources and numberOfResults (botocore's model)


@dataclass(slots=True)
class RerankRequest:
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    return_documents: bool = False
    max_tokens_per_doc: int | None = None
    voyage: bool = False  # sent in Voyage's shape: answered with its ``data`` too


@dataclass(slots=True)
class Ranked:
    results: list[tuple[int, float]]  # (document index, relevance score), best first
    usage: Usage
    search_units: int | None = None


def _document(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    raise InvalidRequest(f"{where} must be a string or an object with a text", param=where)


def _count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest(f"{name} must be a positive integer", param=name)
    return value


def parse(body: dict[str, Any]) -> RerankRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required and must be a string", param="model")
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise InvalidRequest("query is required and must be a non-empty string", param="query")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents:
        raise InvalidRequest("documents must be a non-empty array", param="documents")
    if len(documents) > MAX_DOCUMENTS:
        raise InvalidRequest(f"at most {MAX_DOCUMENTS} documents", param="documents")
    texts = [_document(d, f"documents[{i}]") for i, d in enumerate(documents)]
    top_n = _count(body, "top_n") if body.get("top_n") is not None else _count(body, "top_k")
    returned = body.get("return_documents", False)
    if not isinstance(returned, bool):
        raise InvalidRequest("return_documents must be a boolean", param="return_documents")
    truncation = body.get("truncation")
    if truncation is not None and not isinstance(truncation, bool):
        raise InvalidRequest("truncation must be a boolean", param="truncation")
    return RerankRequest(
        model=model,
        query=query,
        documents=texts,
        top_n=top_n,
        return_documents=returned,
        max_tokens_per_doc=_count(body, "max_tokens_per_doc"),
        voyage="top_k" in body or "truncation" in body,
    )


def upstream_body(request: RerankRequest, model: str, api: str) -> dict[str, Any]:
    """The body for an upstream: ``api`` is ``cohere``, ``bedrock``, ``tei`` or
    ``openai``."""
    if api == "tei":
        return {"query": request.query, "texts": request.documents, "return_text": False}
    if api == "bedrock":  # Rerank of the agent runtime (the provider names the model ARN)
        if len(request.documents) > BEDROCK_MAX_DOCUMENTS:
            raise InvalidRequest(
                f"Bedrock rerank models take at most {BEDROCK_MAX_DOCUMENTS} documents",
                param="documents",
            )
        wanted = min(request.top_n or len(request.documents), len(request.documents))
        config: dict[str, Any] = {"numberOfResults": wanted}
        return {
            "queries": [{"type": "TEXT", "textQuery": {"text": request.query}}],
            "sources": [
                {
                    "type": "INLINE",
                    "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}},
                }
                for text in request.documents
            ],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": config,
            },
        }
    body: dict[str, Any] = {"model": model, "query": request.query, "documents": request.documents}
    if request.top_n is not None:
        body["top_n"] = request.top_n
    if request.max_tokens_per_doc is not None and api == "cohere":
        body["max_tokens_per_doc"] = request.max_tokens_per_doc
    return body


def tei_bodies(request: RerankRequest, batch: int) -> list[dict[str, Any]]:
    """text-embeddings-inference refuses more texts than its ``--max-client-batch-size``
    (32 unless set) in one call: the bodies of ``batch`` documents each, in order."""
    return [
        {"query": request.query, "texts": request.documents[i : i + batch], "return_text": False}
        for i in range(0, len(request.documents), batch)
    ]


def join_tei(answers: list[Any], batch: int) -> list[dict[str, Any]]:
    """The answers of ``tei_bodies``' calls as one answer, each index moved to its
    document's place in the whole request."""
    joined: list[dict[str, Any]] = []
    for n, answer in enumerate(answers):
        if not isinstance(answer, list):
            raise UpstreamError("upstream rerank answer without results", status=502)
        for entry in answer:
            if isinstance(entry, dict) and isinstance(entry.get("index"), int):
                entry = {**entry, "index": entry["index"] + n * batch}
            joined.append(entry)
    return joined


def _score(entry: dict[str, Any]) -> float:
    score = entry.get("relevance_score", entry.get("relevanceScore", entry.get("score")))
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise UpstreamError("upstream rerank answer without scores", status=502)
    return float(score)


def read(data: Any, request: RerankRequest) -> Ranked:
    """An upstream's answer (Cohere / vLLM ``{"results": [...]}`` or TEI's bare list)."""
    entries = data.get("results") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise UpstreamError("upstream rerank answer without results", status=502)
    results: list[tuple[int, float]] = []
    for entry in entries:
        index = entry.get("index") if isinstance(entry, dict) else None
        if not isinstance(index, int) or not 0 <= index < len(request.documents):
            raise UpstreamError("upstream rerank answer with a bad document index", status=502)
        results.append((index, _score(entry)))
    results.sort(key=lambda pair: pair[1], reverse=True)
    if request.top_n is not None:
        results = results[: request.top_n]
    usage, units = Usage(), None
    if isinstance(data, dict):
        reported = data.get("usage") or {}
        tokens = reported.get("total_tokens") or reported.get("prompt_tokens") or 0
        meta = data.get("meta") or {}
        billed = meta.get("billed_units") or {}
        tokens = tokens or (billed.get("input_tokens") or 0)
        count = billed.get("search_units")
        if isinstance(count, int | float) and not isinstance(count, bool) and count >= 0:
            units = int(count)
        usage = Usage(input_tokens=int(tokens) if isinstance(tokens, int | float) else 0)
    return Ranked(results, usage, units)


def _rough_tokens(text: str) -> int:
    return -(-len(text) // 4)  # about four characters a token, rounded up


def search_units(request: RerankRequest) -> int:
    """The search units ``request`` bills when the upstream does not say."""
    query = _rough_tokens(request.query)
    chunks = sum(
        max(1, -(-(query + _rough_tokens(document)) // CHUNK_TOKENS))
        for document in request.documents
    )
    return max(1, -(-chunks // DOCUMENTS_PER_UNIT))


def price(ranked: Ranked, request: RerankRequest, per_unit: Decimal) -> Decimal:
    """USD for ``ranked`` at ``per_unit`` per search unit (reported, else counted; the
    count is then kept in ``ranked`` for the answer's ``meta``)."""
    if ranked.search_units is None:
        ranked.search_units = search_units(request)
    return per_unit * ranked.search_units


def render(ranked: Ranked, request: RerankRequest, model: str) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for index, score in ranked.results:
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if request.return_documents:
            result["document"] = {"text": request.documents[index]}
        results.append(result)
    units = ranked.search_units if ranked.search_units is not None else search_units(request)
    billed: dict[str, Any] = {"search_units": units}
    if ranked.usage.input_tokens:
        billed["input_tokens"] = ranked.usage.input_tokens
    answer: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "object": "list",
        "model": model,
        "results": results,
        "meta": {"api_version": {"version": "2"}, "billed_units": billed},
        "usage": {"total_tokens": ranked.usage.input_tokens},
    }
    if request.voyage:
        answer["data"] = [
            {"index": index, "relevance_score": score}
            | ({"document": request.documents[index]} if request.return_documents else {})
            for index, score in ranked.results
        ]
    return answer
