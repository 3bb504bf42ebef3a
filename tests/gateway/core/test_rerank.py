"""``gateway.core.rerank``: both request shapes, every upstream answer, the v2 answer."""

from __future__ import annotations

import pytest

from gateway.base import errors
from gateway.core import rerank

DOCS = ["Paris is in France.", "Berlin is in Germany.", "Rome is in Italy."]


def test_cohere_and_jina_shapes_parse_alike() -> None:
    cohere = rerank.parse({"model": "r", "query": "q", "documents": DOCS, "top_n": 2})
    jina = rerank.parse(
        {
            "model": "r",
            "query": "q",
            "documents": [{"text": d} for d in DOCS],
            "top_k": 2,
            "return_documents": True,
        }
    )
    assert cohere.documents == jina.documents == DOCS
    assert cohere.top_n == jina.top_n == 2
    assert (cohere.return_documents, jina.return_documents) == (False, True)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": "q", "documents": DOCS}, "model"),
        ({"model": "r", "documents": DOCS}, "query"),
        ({"model": "r", "query": "q", "documents": []}, "documents"),
        ({"model": "r", "query": "q", "documents": [3]}, "documents[0]"),
        ({"model": "r", "query": "q", "documents": DOCS, "top_n": 0}, "top_n"),
    ],
)
def test_bad_bodies_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(errors.InvalidRequest) as caught:
        rerank.parse(body)
    assert caught.value.param == param


def test_upstream_bodies() -> None:
    request = rerank.parse({"model": "r", "query": "q", "documents": DOCS, "top_n": 2})
    assert rerank.upstream_body(request, "up", "tei") == {
        "query": "q",
        "texts": DOCS,
        "return_text": False,
    }
    assert rerank.upstream_body(request, "up", "openai") == {
        "model": "up",
        "query": "q",
        "documents": DOCS,
        "top_n": 2,
    }


def test_answers_of_each_upstream_render_the_v2_shape_best_first() -> None:
    request = rerank.parse(
        {"model": "r", "query": "q", "documents": DOCS, "top_n": 2, "return_documents": True}
    )
    tei = [{"index": 0, "score": 0.1}, {"index": 2, "score": 0.9}, {"index": 1, "score": 0.5}]
    vllm = {"results": [{"index": 2, "relevance_score": 0.9}], "usage": {"total_tokens": 30}}
    cohere = {
        "results": [{"index": 2, "relevance_score": 0.9}],
        "meta": {"billed_units": {"search_units": 1}},
    }
    for answer in (tei, vllm, cohere):
        body = rerank.render(rerank.read(answer, request), request, "r")
        assert body["results"][0] == {
            "index": 2,
            "relevance_score": 0.9,
            "document": {"text": "Rome is in Italy."},
        }
        assert len(body["results"]) <= 2 and body["model"] == "r"
        assert body["meta"]["api_version"] == {"version": "2"}
    assert rerank.read(vllm, request).usage.input_tokens == 30
    with pytest.raises(errors.UpstreamError):
        rerank.read({"results": [{"index": 7, "relevance_score": 1.0}]}, request)


def test_search_units_count_queries_of_up_to_100_documents_in_500_token_chunks() -> None:
    def request(documents: list[str], query: str = "q") -> rerank.RerankRequest:
        return rerank.parse({"model": "r", "query": query, "documents": documents})

    assert rerank.search_units(request(DOCS)) == 1
    assert rerank.search_units(request(["d"] * 100)) == 1
    assert rerank.search_units(request(["d"] * 101)) == 2
    long = "x" * 3996  # 999 tokens: with a 1-token query two 500-token chunks
    assert rerank.search_units(request([long] * 50)) == 1  # 100 chunks
    # a 100-token query makes each document three chunks: 150, two search units
    assert rerank.search_units(request([long] * 50, query="y" * 400)) == 2


def test_reported_search_units_win_over_the_count() -> None:
    from decimal import Decimal

    parsed = rerank.parse({"model": "r", "query": "q", "documents": DOCS})
    answer = {"results": [{"index": 0, "relevance_score": 0.5}],
              "meta": {"billed_units": {"search_units": 3}}}  # fmt: skip
    ranked = rerank.read(answer, parsed)
    assert rerank.price(ranked, parsed, Decimal("0.002")) == Decimal("0.006")
    silent = rerank.read({"results": [{"index": 0, "relevance_score": 0.5}]}, parsed)
    assert rerank.price(silent, parsed, Decimal("0.002")) == Decimal("0.002")  # counted: 1
    assert rerank.render(silent, parsed, "r")["meta"]["billed_units"]["search_units"] == 1


def test_a_voyage_shaped_request_is_answered_with_voyages_data_too() -> None:
    voyage = rerank.parse(
        {"model": "r", "query": "q", "documents": DOCS, "top_k": 1, "truncation": True}
    )
    ranked = rerank.Ranked([(2, 0.9)], rerank.Usage(input_tokens=7))
    answer = rerank.render(ranked, voyage, "r")
    assert answer["data"] == [{"index": 2, "relevance_score": 0.9}]
    assert answer["usage"] == {"total_tokens": 7} and answer["object"] == "list"
    voyage.return_documents = True
    assert rerank.render(ranked, voyage, "r")["data"][0]["document"] == DOCS[2]
    cohere = rerank.parse({"model": "r", "query": "q", "documents": DOCS, "top_n": 1})
    assert "data" not in rerank.render(ranked, cohere, "r")


def test_bedrock_takes_at_most_1000_documents_and_as_many_results() -> None:
    """Bedrock's Rerank refuses more than 1000 sources, and a numberOfResults above the
    documents it got: the gateway says so itself, naming the field."""
    few = rerank.parse({"model": "r", "query": "q", "documents": DOCS, "top_n": 50})
    config = rerank.upstream_body(few, "m", "bedrock")["rerankingConfiguration"]
    assert config["bedrockRerankingConfiguration"] == {"numberOfResults": 3}
    many = rerank.parse({"model": "r", "query": "q", "documents": ["d"] * 1001})
    with pytest.raises(errors.InvalidRequest) as refused:
        rerank.upstream_body(many, "m", "bedrock")
    assert refused.value.param == "documents"


def test_tei_batches_join_with_each_index_in_its_place() -> None:
    request = rerank.parse({"model": "r", "query": "q", "documents": [f"d{n}" for n in range(5)]})
    bodies = rerank.tei_bodies(request, 2)
    assert [b["texts"] for b in bodies] == [["d0", "d1"], ["d2", "d3"], ["d4"]]
    answers = [[{"index": 1, "score": 0.2}, {"index": 0, "score": 0.1}],
               [{"index": 0, "score": 0.9}], [{"index": 0, "score": 0.5}]]  # fmt: skip
    ranked = rerank.read(rerank.join_tei(answers, 2), request)
    assert ranked.results == [(2, 0.9), (4, 0.5), (1, 0.2), (0, 0.1)]
