"""What Google's two codecs read alike from an upstream error (``google_common``)."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import UpstreamError
from gateway.codecs import google_common


def test_the_status_is_the_given_one_then_the_code_then_the_name() -> None:
    error = {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow down"}
    assert google_common.error_fields(error, 503)[3] == 503
    assert google_common.error_fields(error, None) == (
        error,
        "RESOURCE_EXHAUSTED",
        "slow down",
        429,
    )
    assert google_common.error_fields({"status": "NOT_FOUND"}, None)[3] == 404
    assert google_common.error_fields({"code": "uri"}, None)[3] == 502  # a stream's code
    assert google_common.error_fields("not an object", None) == ({}, None, "", 502)


def test_the_error_names_the_upstream_and_an_over_long_prompt() -> None:
    long = "The input token count (2000000) exceeds the maximum number of tokens allowed"
    error = google_common.upstream_error("Gemini", "INVALID_ARGUMENT", long, 400)
    assert error.status == 400 and error.code == "INVALID_ARGUMENT"
    assert str(error).startswith("Gemini upstream: The input token count")
    assert "(context length exceeded)" in str(error) and str(error).endswith("[INVALID_ARGUMENT]")
    assert str(google_common.upstream_error("X", None, "", 500)) == "X upstream: status 500"
    assert google_common.upstream_error("X", None, "m", 429, retry_after=2.0).retry_after == 2.0


def test_an_error_body_is_read_from_its_envelope_or_its_text() -> None:
    seen: list[tuple[Any, int]] = []

    def from_object(error: Any, status: int) -> UpstreamError:
        seen.append((error, status))
        return UpstreamError("x", status=status)

    google_common.parse_error(400, b'[{"error": {"message": "bad"}}]', from_object)
    google_common.parse_error(502, b"<html>proxy</html>", from_object)
    google_common.parse_error(500, b"", from_object)
    assert seen == [
        ({"message": "bad"}, 400),
        ({"message": "<html>proxy</html>"}, 502),
        ({"message": "answered 500"}, 500),
    ]


def test_a_schema_loses_its_meta_keywords_at_every_level_but_not_its_property_names() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"$id": {"type": "string", "$comment": "x"}},
        "items": [{"$id": "a", "type": "integer"}],
        "enum": [{"$id": "kept as a value"}],
    }
    assert google_common.clean_schema(schema) == {
        "type": "object",
        "properties": {"$id": {"type": "string"}},
        "items": [{"type": "integer"}],
        "enum": [{"$id": "kept as a value"}],
    }


def test_what_the_model_refuses_leaves_a_deployments_params_in_either_spelling() -> None:
    refuses = frozenset({"temperature", "top_p", "top_k"})
    params = {
        "temperature": 0.2,
        "topK": 40,
        "seed": 7,
        "generationConfig": {"top_p": 0.9, "candidateCount": 1},
        "generation_config": {"topP": 0.8},
    }
    kept, dropped = google_common.without_refused(params, refuses)
    assert kept == {"seed": 7, "generationConfig": {"candidateCount": 1}, "generation_config": {}}
    assert dropped == ["temperature", "top_k", "top_p"]
    assert params["generationConfig"] == {"top_p": 0.9, "candidateCount": 1}  # not changed
    # control: a model that refuses nothing, or params that hold nothing refused: as is
    assert google_common.without_refused(params, frozenset()) == (params, [])
    same = {"seed": 7}
    assert google_common.without_refused(same, refuses)[0] is same
