"""Driving a native batch on Bedrock batch inference (the client is
``gateway.providers.batch_bedrock``), for ``native.drive``.

``submit``: each line is translated by the codecs (``translate.parsed_line``, then
``built_line``) into a Converse request, its image and document URLs fetched first as a
live request's are (Converse and the job read bytes only), written as ``{"recordId": <line index>, "modelInput": ...}``, and the
JSONL goes up with the job made at once. ``read``: the job's state in OpenAI's words.
``collect``: the ``.out`` records are translated back into the batch's format
(``translate.client_answer``) under the caller's custom_ids; a record's ``error`` becomes
an errored line; a line the codecs could not translate or whose media could not be
fetched (so it never went up) is an errored line with the reason, as is a line the
job gave no record for. ``finish``: the batch's S3 objects are deleted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.batches import translate
from gateway.errors import GatewayError, UpstreamError
from gateway.models.batches import Batch, BatchLine
from gateway.providers import batch_bedrock
from gateway.providers.batch_bedrock import BedrockBatches
from gateway.server import db_work

WIRE = batch_bedrock.WIRE  # the codec the job's records speak (Converse)
FETCHES_AT_ONCE = 8  # lines whose image or document URLs are fetched at the same time
Line = tuple[int, str, Any]  # (row id, custom_id, body)
Result = tuple[str, int, Any]  # (outcome, status, body in the batch's format)
Save = Callable[[str, str], Awaitable[None]]


def client(provider: ProviderEntry, deployment: DeploymentEntry | None = None) -> BedrockBatches:
    """The deployment's batch inference (its credentials, its model)."""
    if deployment is None:
        raise GatewayError("Bedrock batch inference needs the deployment")
    return BedrockBatches(provider, deployment)


def refuses(endpoint: str, bodies: list[dict[str, Any]]) -> str:
    """Why batch inference cannot take these lines ("" : it can): it has no tool calling
    and no structured output ("Batch inference does not support tool calling (function
    calling) or structured output", https://docs.aws.amazon.com/bedrock/latest/userguide/
    batch-inference.html), so such a batch runs in the gateway."""
    for body in bodies:
        text = body.get("text") if endpoint == "/v1/responses" else None
        output = (text or {}).get("format") if isinstance(text, dict) else None
        formats = [body.get("response_format"), output, body.get("output_format")]
        if body.get("tools") or body.get("functions"):
            return "Bedrock batch inference does not support tool calling (a line has tools)"
        if any(isinstance(f, dict) and f.get("type") not in (None, "text") for f in formats):
            return "Bedrock batch inference does not support structured output"
    return ""


def _parsed(batch: Batch, deployment: DeploymentEntry, lines: list[Line]) -> list[Any]:
    """Each line as a canonical request, or the ``GatewayError`` that refuses it."""
    parsed: list[Any] = []
    for _id, _custom_id, body in lines:
        try:
            parsed.append(translate.parsed_line(batch.endpoint, body, deployment, WIRE))
        except GatewayError as exc:
            parsed.append(exc)
    return parsed


async def _fetched(parsed: list[Any]) -> list[Any]:
    """``parsed`` with the image and document URLs of each request fetched (Converse
    takes bytes only, and a job reads no URL), ``FETCHES_AT_ONCE`` lines at a time; a
    line whose fetch is refused becomes its ``GatewayError``."""
    gate = asyncio.Semaphore(FETCHES_AT_ONCE)

    async def one(item: Any) -> Any:
        if isinstance(item, GatewayError):
            return item
        async with gate:
            try:
                return await translate.with_media_fetched(item, WIRE)
            except GatewayError as exc:
                return exc

    return list(await asyncio.gather(*(one(item) for item in parsed)))


def _records(deployment: DeploymentEntry, requests: list[Any]) -> bytes:
    out = []
    for index, request in enumerate(requests):
        if isinstance(request, GatewayError):
            continue  # answered as an errored line by ``collect``
        try:
            body = translate.built_line(request, deployment, WIRE)
        except GatewayError:
            continue  # the same: ``collect`` says why
        out.append(orjson.dumps({"recordId": batch_bedrock.record_id(index), "modelInput": body}))
    return b"\n".join(out) + b"\n"


async def submit(
    batch: Batch, deployment: DeploymentEntry, client: BedrockBatches, lines: list[Line], save: Save
) -> None:
    """Upload the records and make the job; its ARN saved at once (made again after a
    lost answer, the batch id as the idempotency token finds the same job)."""
    parsed = await asyncio.to_thread(_parsed, batch, deployment, lines)
    requests = await _fetched(parsed)
    content = await asyncio.to_thread(_records, deployment, requests)
    made = await client.create(batch.id, content)
    batch.upstream_batch_id = str(made["id"])
    await save("upstream_batch_id", batch.upstream_batch_id)


read = batch_bedrock.read


def _error_body(endpoint: str, status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if 400 <= status < 500 else "api_error"
    if endpoint == "/v1/messages":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}


def _results(
    batch: Batch, deployment: DeploymentEntry, lines: list[Line], data: bytes
) -> dict[str, Result]:
    by_record = {batch_bedrock.record_id(i): line for i, line in enumerate(lines)}
    results: dict[str, Result] = {}
    for text in data.splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            item = orjson.loads(text)
            line = by_record.get(str(item.get("recordId"))) if isinstance(item, dict) else None
            if line is None:
                continue
            _id, custom_id, body = line
            error = item.get("error")
            if isinstance(error, dict) or "modelOutput" not in item:
                error = error if isinstance(error, dict) else {}
                code = str(error.get("errorCode") or "500")
                status = int(code) if code.isdigit() and 400 <= int(code) < 600 else 500
                message = str(error.get("errorMessage") or "Bedrock gave no output")[:500]
                results[custom_id] = (
                    "errored",
                    status,
                    _error_body(batch.endpoint, status, message),
                )
                continue
            try:
                answer, _usage = translate.client_answer(
                    batch.endpoint, body, item["modelOutput"], deployment, batch_bedrock.WIRE
                )
            except GatewayError as exc:
                results[custom_id] = ("errored", 502, _error_body(batch.endpoint, 502, exc.message))
                continue
            results[custom_id] = ("succeeded", 200, answer)
    return results


async def _unanswered(
    batch: Batch,
    deployment: DeploymentEntry,
    lines: list[Line],
    results: dict[str, Result],
    status: str,
) -> None:
    """Say why each line without a record has none: translated again (its media fetched
    again), it is refused as it was at submit; a line that translates now had no record
    from a completed job (of a stopped or expired one it is left to be cancelled or
    expired with the batch)."""
    missing = [line for line in lines if line[1] not in results]
    if not missing:
        return
    parsed = await asyncio.to_thread(_parsed, batch, deployment, missing)
    requests = await _fetched(parsed)
    for (_id, custom_id, _body), request in zip(missing, requests, strict=True):
        if not isinstance(request, GatewayError):
            try:
                translate.built_line(request, deployment, WIRE)
            except GatewayError as exc:
                request = exc
            else:
                if status != "completed":
                    continue
                request = UpstreamError("Bedrock batch inference gave no record for this line")
        results[custom_id] = (
            "errored",
            request.status,
            _error_body(batch.endpoint, request.status, request.message),
        )


async def _collected(
    batch: Batch, deployment: DeploymentEntry, lines: list[Line], data: bytes, status: str
) -> dict[str, Result]:
    """The job's output records as results by custom_id, and why the other lines have
    none (``_unanswered``)."""
    results = await asyncio.to_thread(_results, batch, deployment, lines, data)
    await _unanswered(batch, deployment, lines, results, status)
    return results


def _lines(pk: str) -> list[Line]:
    return list(
        BatchLine.objects.filter(batch_id=pk)
        .order_by("index")
        .values_list("id", "custom_id", "body")
    )


async def results(
    batch: Batch,
    deployment: DeploymentEntry,
    client: BedrockBatches,
    answer: dict[str, Any],
    status: str,
) -> tuple[dict[str, Result], str]:
    """The ended job's results by custom_id, and its status in OpenAI's words
    (``failed:<why>`` when the job failed without a result)."""
    lines = await db_work.arun(_lines, batch.id)
    data = await client.results(batch.id, answer)
    results = await _collected(batch, deployment, lines, data, status)
    if status == "failed" and not any(r[0] == "succeeded" for r in results.values()):
        return results, "failed:" + (str(answer.get("message") or "") or "the Bedrock job failed")[
            :500
        ]
    return results, status


async def finish(batch: Batch, client: BedrockBatches) -> None:
    """Delete the batch's input and output objects (kept when S3 refuses: logged by
    the caller)."""
    await client.clean(batch.id)


__all__ = ["WIRE", "client", "finish", "read", "refuses", "results", "submit"]
