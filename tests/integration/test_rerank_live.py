"""``POST /v1/rerank`` end to end: a real gateway, Cohere v2 and Jina-shaped bodies,
routes on a mock vLLM-style server (``{api_base}/rerank``), a mock
text-embeddings-inference (``"rerank_api": "tei"``), a mock Cohere (``/v2/rerank``)
and a mock Bedrock agent runtime (``/rerank``, SigV4 verified); answers in Cohere's v2
shape, key permissions, one journal row each, priced by tokens, or per search unit where
the catalog or the deployment has a price for one (the units Cohere reports, else
counted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.live import MASTER_KEY, running_gateway

from .bedrock_upstream import MockBedrock
from .mock_cohere import MockCohere
from .mock_upstream import MockUpstream

LIMITED_KEY = "sy-rerank-only-0123456789abcdefghij"
SETUP = """
from decimal import Decimal
from gateway.models import ApiKey, Deployment, Provider, Route

def provider(name, kind, url):
    p = Provider(name=name, kind=kind, base_url=url)
    p.set_secret("sk-upstream-rerank-0123456789")
    p.save()
    return p

def route(name, p, model, params=None):
    r = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(route=r, provider=p, model=model, params=params or {{}},
        input_price=Decimal("2"), output_price=Decimal("0"))

oa = provider("mock-vllm", "openai", "{chat}/v1")
route("rr-vllm", oa, "bge-reranker")
route("rr-tei", oa, "bge-reranker", {{"rerank_api": "tei"}})
cohere = provider("mock-cohere", "cohere", "{cohere}")
route("rr-cohere", cohere, "rerank-v3.5")
r = Route.objects.create(name="rr-cohere-units", max_attempts=1)  # the catalog's prices
Deployment.objects.create(route=r, provider=cohere, model="rerank-v3.5")
cohere_own = provider("mock-cohere-own", "cohere", "{cohere}")
r = Route.objects.create(name="rr-cohere-own-price", max_attempts=1)
Deployment.objects.create(route=r, provider=cohere_own, model="rerank-v3.5",
    search_unit_price=Decimal("0.01"))
route("rr-claude", provider("mock-anthropic", "anthropic", "{chat}"), "claude")
aws = Provider(name="mock-bedrock", kind="bedrock", base_url="{bedrock}")
aws.set_secret("{aws_secret}")
aws.save()
route("rr-bedrock", aws, "cohere.rerank-v3-5:0",
    {{"aws_access_key_id": "{aws_key}", "aws_region_name": "{region}"}})
r = Route.objects.create(name="rr-bedrock-units", max_attempts=1)
Deployment.objects.create(route=r, provider=aws, model="cohere.rerank-v3-5:0",
    params={{"aws_access_key_id": "{aws_key}", "aws_region_name": "{region}"}})
key = ApiKey.objects.create(name="limited", prefix="{limited}"[:10],
    key_hash=ApiKey.hash_key("{limited}"))
key.routes.set([Route.objects.get(name="rr-vllm")])
"""
DOCS = ["The cat sat on the mat.", "Paris is the capital of France.", "France exports wine."]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chat, cohere, bedrock = MockUpstream().start(), MockCohere().start(), MockBedrock().start()
    try:
        setup = SETUP.format(
            chat=chat.url,
            cohere=cohere.url,
            bedrock=bedrock.url,
            aws_key=ACCESS_KEY,
            aws_secret=SECRET_KEY,
            region=REGION,
            limited=LIMITED_KEY,
        )
        with running_gateway(
            tmp_path_factory.mktemp("gateway"), setup=[["shell", "-c", setup]]
        ) as gw:
            gw.chat, gw.cohere, gw.bedrock = chat, cohere, bedrock
            yield gw
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
    finally:
        chat.stop()
        cohere.stop()
        bedrock.stop()


def rerank(gw: Any, body: dict[str, Any], key: str = MASTER_KEY, path: str = "/v1/rerank"):  # type: ignore[no-untyped-def]
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(gw.url + path, json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("route", ["rr-vllm", "rr-tei", "rr-cohere", "rr-bedrock"])
def test_cohere_v2_body_on_each_upstream(gateway: Any, route: str) -> None:
    answer = rerank(
        gateway,
        {"model": route, "query": "capital of France", "documents": DOCS, "top_n": 2},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["index"] for r in body["results"]] == [1, 2]  # best first, top_n kept
    assert body["results"][0]["relevance_score"] > body["results"][1]["relevance_score"]
    assert "document" not in body["results"][0]
    assert body["model"] == route and body["meta"]["api_version"]["version"] == "2"


def test_the_upstreams_got_their_own_shapes(gateway: Any) -> None:
    gateway.chat.reset()
    gateway.cohere.reset()
    rerank(gateway, {"model": "rr-tei", "query": "wine", "documents": DOCS})
    rerank(gateway, {"model": "rr-vllm", "query": "wine", "documents": DOCS})
    rerank(gateway, {"model": "rr-cohere", "query": "wine", "documents": DOCS, "top_n": 1})
    tei, vllm = [s for s in gateway.chat.seen if s.path.endswith("/rerank")]
    # the provider's base URL ends in /v1; TEI serves /rerank at its root only
    assert tei.path == "/rerank" and tei.body == {
        "query": "wine",
        "texts": DOCS,
        "return_text": False,
    }
    assert vllm.body == {"model": "bge-reranker", "query": "wine", "documents": DOCS}
    [cohere] = [s for s in gateway.cohere.seen if s.path.endswith("/v2/rerank")]
    assert cohere.body["model"] == "rerank-v3.5" and cohere.body["top_n"] == 1
    assert "sk-upstream-rerank" in cohere.headers.get("authorization", "")
    assert MASTER_KEY not in str(cohere.headers)


def test_tei_gets_at_most_32_documents_a_call(gateway: Any) -> None:
    """text-embeddings-inference refuses more texts than its client batch size (32 by
    default): 70 documents go in three calls, made together, answered as one ranking."""
    gateway.chat.reset()
    documents = [f"document {n}" for n in range(70)]
    documents[45] = "the capital of France is Paris"
    answer = rerank(gateway, {"model": "rr-tei", "query": "capital of France",
                              "documents": documents, "top_n": 3})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][0]["index"] == 45
    sent = [s.body["texts"] for s in gateway.chat.seen if s.path == "/rerank"]
    assert sorted(len(texts) for texts in sent) == [6, 32, 32]
    assert sorted(t for texts in sent for t in texts) == sorted(documents)


def test_bedrock_gets_a_signed_rerank_naming_the_models_arn(gateway: Any) -> None:
    rerank(gateway, {"model": "rr-bedrock", "query": "wine", "documents": DOCS, "top_n": 1})
    seen = [s for s in gateway.bedrock.seen if s.path == "/rerank"][-1]
    config = seen.body["rerankingConfiguration"]["bedrockRerankingConfiguration"]
    assert config == {
        "numberOfResults": 1,
        "modelConfiguration": {
            "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/cohere.rerank-v3-5:0"
        },
    }
    assert seen.body["sources"][2]["inlineDocumentSource"]["textDocument"]["text"] == DOCS[2]
    assert gateway.bedrock.rejected == []  # the SigV4 signature verified


def test_jina_shape_and_cohere_path(gateway: Any) -> None:
    answer = rerank(
        gateway,
        {
            "model": "rr-vllm",
            "query": "cat",
            "documents": [{"text": d} for d in DOCS],
            "top_k": 1,
            "return_documents": True,
        },
        path="/v2/rerank",
    )
    [result] = answer.json()["results"]
    assert result["index"] == 0 and result["document"] == {"text": DOCS[0]}


def test_voyage_shape_gets_voyages_data(gateway: Any) -> None:
    """The ``voyageai`` client's body (``top_k``, ``truncation`` always sent) is answered
    with Voyage's ``data`` (documents as strings), which that client reads; Cohere's
    fields stay for every other reader."""
    body = {"model": "rr-cohere", "query": "capital of France", "documents": DOCS,
            "top_k": 2, "truncation": True, "return_documents": True}  # fmt: skip
    answer = rerank(gateway, body).json()
    assert answer["object"] == "list" and answer["usage"]["total_tokens"] >= 0
    assert [(d["index"], d["document"]) for d in answer["data"]] == [(1, DOCS[1]), (2, DOCS[2])]
    assert [r["index"] for r in answer["results"]] == [1, 2]
    bare = rerank(gateway, {**body, "return_documents": False}).json()
    assert [set(d) for d in bare["data"]] == [{"index", "relevance_score"}] * 2
    cohere = rerank(gateway, {"model": "rr-cohere", "query": "x", "documents": DOCS}).json()
    assert "data" not in cohere  # a Cohere-shaped body gets Cohere's answer
    bad = rerank(gateway, {**body, "truncation": "yes"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "truncation"


def test_refusals_in_the_openai_envelope(gateway: Any) -> None:
    chat_only = rerank(gateway, {"model": "rr-claude", "query": "q", "documents": DOCS})
    assert chat_only.status_code == 400 and "cannot serve rerank" in chat_only.text
    bad = rerank(gateway, {"model": "rr-vllm", "query": "", "documents": DOCS})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "query"
    denied = rerank(
        gateway, {"model": "rr-cohere", "query": "q", "documents": DOCS}, key=LIMITED_KEY
    )
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    allowed = rerank(gateway, {"model": "rr-vllm", "query": "q", "documents": DOCS}, LIMITED_KEY)
    assert allowed.status_code == 200
    unknown = rerank(gateway, {"model": "nope", "query": "q", "documents": DOCS})
    assert unknown.status_code == 404


def test_each_rerank_is_one_priced_journal_row(gateway: Any) -> None:
    import time

    code = (
        "from gateway.models import RequestLog; "
        "rows = RequestLog.objects.filter(endpoint='rerank', route='rr-vllm', status=200); "
        "print(rows.count(), max((r.cost_usd for r in rows), default=0), "
        "max((r.input_tokens for r in rows), default=0))"
    )
    deadline = time.monotonic() + 10
    while True:
        count, cost, tokens = gateway.shell(code).strip().splitlines()[-1].split()
        if int(count) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert int(count) >= 3 and int(tokens) == 23  # the tokens vLLM reported
    assert float(cost) == pytest.approx(23 * 2 / 1_000_000)


def rerank_costs(gw: Any, route: str, count: int) -> list[float]:
    """The costs of ``route``'s rerank rows once ``count`` are written."""
    import sqlite3
    import time
    from contextlib import closing

    query = (
        "SELECT cost_usd FROM gateway_requestlog WHERE endpoint = 'rerank' AND route = ? "
        "AND status = 200 ORDER BY id"
    )
    costs: list[float] = []
    for _ in range(100):
        with closing(sqlite3.connect(gw.data_dir / "switchyard.sqlite3")) as db:
            costs = [float(row[0]) for row in db.execute(query, (route,))]
        if len(costs) >= count:
            return costs
        time.sleep(0.1)
    raise AssertionError(f"{len(costs)} rerank rows for {route}, wanted {count}")


def test_cohere_and_bedrock_rerank_are_priced_per_search_unit(gateway: Any) -> None:
    many = [f"document number {n} about France" for n in range(150)]
    for route in ("rr-cohere-units", "rr-bedrock-units", "rr-cohere-own-price"):
        answer = rerank(gateway, {"model": route, "query": "France", "documents": many})
        assert answer.status_code == 200, answer.text
        assert answer.json()["meta"]["billed_units"]["search_units"] == 2  # 150 documents
        extra = rerank(gateway, {"model": route, "query": "bill extra", "documents": DOCS})
        assert extra.status_code == 200, extra.text
        costs = rerank_costs(gateway, route, 2)
        # catalog: $2 per 1,000 searches (Cohere Rerank 3.5, also on Bedrock); the
        # deployment's own price wins; Cohere's reported units (2 for the extra query)
        # win over the gateway's count, Bedrock reports none (counted: 1)
        unit = 0.01 if route == "rr-cohere-own-price" else 0.002
        extra_units = 1 if route == "rr-bedrock-units" else 2
        assert costs == [pytest.approx(2 * unit), pytest.approx(extra_units * unit)], route
