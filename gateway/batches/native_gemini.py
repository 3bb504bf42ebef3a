"""A native batch on the Gemini API's batch mode (``gateway.providers.batch_gemini``),
for ``native``'s driver table: its lines, in the batch's own format (OpenAI chat,
Anthropic messages, Responses), are translated by the codecs (``translate``) into
``GenerateContentRequest`` bodies keyed by their custom_id, and each answer back into
the batch's format.

Submitting: inline when the requests fit Gemini's inline limit, else as an uploaded
JSONL file. Before the create call, ``upstream_file_id`` is saved (the file's name, or
``INLINE``): a submit that finds it set looks the batch up by its display name (which
carries our batch id) before making it, so a creation whose answer was lost is not
made twice. A line the upstream's format cannot carry (say, a parameter Gemini has no
field for) is answered here with the 400 a live request would get and not sent."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.utils import timezone

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.batches import translate
from gateway.errors import GatewayError, InvalidRequest, UpstreamError
from gateway.models.batches import Batch, BatchLine
from gateway.providers.batch_gemini import (
    INLINE_LIMIT,
    GeminiBatches,
    batch_of,
    output_of,
)
from gateway.server import db_work

WIRE = "gemini"  # the codec the batch API's requests speak
INLINE = "inline"  # upstream_file_id of a batch whose requests went up inline
ENDED = {
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "CANCELLED": "cancelled",
    "EXPIRED": "expired",
}
# google.rpc.Code of a line's error -> the HTTP status Google maps it to
GRPC_HTTP = {
    1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409,
    11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401,
}  # fmt: skip

Save = Callable[[str, str], Awaitable[Any]]
Result = tuple[str, int, Any]  # (outcome, status, body in the batch's format)


def client(provider: ProviderEntry, _deployment: DeploymentEntry | None = None) -> GeminiBatches:
    return GeminiBatches(provider)


def display_name(batch: Batch) -> str:
    return f"switchyard {batch.id}"


async def submit(
    batch: Batch,
    deployment: DeploymentEntry,
    client: GeminiBatches,
    lines: list[tuple[int, str, Any]],
    save: Save,
) -> None:
    """Make the upstream batch (or find the one made before) and save its name."""
    name = display_name(batch)
    if batch.upstream_file_id:  # a creation went up before: its answer may be lost
        found = await client.find(name)
        if found:
            batch.upstream_batch_id = found
            await save("upstream_batch_id", found)
            return
    requests = await _requests(batch, deployment, lines)
    inline = orjson.dumps(requests)
    if len(inline) + len(name) + 200 <= INLINE_LIMIT:
        batch.upstream_file_id = INLINE
        await save("upstream_file_id", INLINE)
        made = await client.create(deployment.model, name, requests)
    else:
        if not batch.upstream_file_id.startswith("files/"):
            content = b"".join(
                orjson.dumps({"key": r["metadata"]["key"], "request": r["request"]}) + b"\n"
                for r in requests
            )
            batch.upstream_file_id = await client.upload(content, name)
            await save("upstream_file_id", batch.upstream_file_id)
        made = await client.create_from_file(deployment.model, name, batch.upstream_file_id)
    upstream = str(made.get("name") or "") if isinstance(made, dict) else ""
    if not upstream.startswith("batches/"):
        raise UpstreamError(f"provider {deployment.provider.name!r} named no batch", status=502)
    batch.upstream_batch_id = upstream
    await save("upstream_batch_id", upstream)


async def _requests(
    batch: Batch, deployment: DeploymentEntry, lines: list[tuple[int, str, Any]]
) -> list[dict[str, Any]]:
    """The lines as Gemini's inline requests; those it cannot take are answered here."""
    requests: list[dict[str, Any]] = []
    refused: list[tuple[int, int, Any]] = []
    for line_id, custom_id, body in lines:
        try:
            request = translate.upstream_request(batch.endpoint, body, deployment, WIRE)
        except GatewayError as exc:
            refused.append((line_id, exc.status, translate.client_error(batch.endpoint, exc)))
            continue
        requests.append({"request": request, "metadata": {"key": custom_id}})
    if refused:
        await db_work.arun(_refuse, refused)
    if not requests:
        raise InvalidRequest("no line of the batch can go to the Gemini batch API")
    return requests


def _refuse(refused: list[tuple[int, int, Any]]) -> None:
    now = timezone.now()
    for line_id, status, body in refused:
        BatchLine.objects.filter(id=line_id, outcome="").update(
            outcome="errored", status_code=status, response=body, finished_at=now
        )


def read(answer: dict[str, Any]) -> tuple[str, int, int, bool]:
    """(status in OpenAI's words, completed, failed, ended) of the upstream batch."""
    batch = batch_of(answer)
    state = str(batch.get("state") or "").rsplit("_STATE_", 1)[-1]  # BATCH_ or JOB_
    stats = batch.get("batchStats") or {}
    completed = int(stats.get("successfulRequestCount") or 0)
    failed = int(stats.get("failedRequestCount") or 0)
    if state in ENDED:
        return ENDED[state], completed, failed, True
    if answer.get("done") is True:  # ended in a state this module does not know
        return ("failed" if answer.get("error") else "completed"), completed, failed, True
    return "in_progress", completed, failed, False


async def results(
    batch: Batch,
    deployment: DeploymentEntry,
    client: GeminiBatches,
    answer: dict[str, Any],
    status: str,
) -> tuple[dict[str, Result], str]:
    """The ended batch's results by custom_id, in the batch's format, and its final
    status ("failed:<why>" when it failed with no result at all)."""
    output = output_of(answer)
    items: list[tuple[str, dict[str, Any]]] = []
    inline = (output.get("inlinedResponses") or {}).get("inlinedResponses")
    if isinstance(inline, list):
        for item in inline:
            if isinstance(item, dict):
                items.append((str((item.get("metadata") or {}).get("key", "")), item))
    elif output.get("responsesFile"):
        for text in (await client.content(str(output["responsesFile"]))).splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                item = orjson.loads(text) if text.strip() else None
                if isinstance(item, dict):
                    items.append((str(item.get("key", "")), item))
    bodies = await db_work.arun(_bodies, batch.id)
    found: dict[str, Result] = {}
    for key, item in items:
        if key in bodies:
            found[key] = _result(batch.endpoint, bodies[key], item, deployment)
    if batch.upstream_file_id.startswith("files/"):
        with contextlib.suppress(GatewayError):  # the upstream keeps it 48 h otherwise
            await client.delete_file(batch.upstream_file_id)
    if status == "failed" and not found:
        error = answer.get("error") or batch_of(answer).get("error") or {}
        message = error.get("message") if isinstance(error, dict) else ""
        return {}, "failed:" + (str(message or "") or "the upstream batch failed")[:500]
    return found, {"cancelled": "cancelled", "expired": "expired"}.get(status, "completed")


def _bodies(pk: str) -> dict[str, Any]:
    return dict(BatchLine.objects.filter(batch_id=pk).values_list("custom_id", "body"))


def _result(endpoint: str, body: Any, item: dict[str, Any], deployment: DeploymentEntry) -> Result:
    response = item.get("response")
    if isinstance(response, dict):
        try:
            answer, _usage = translate.client_answer(endpoint, body, response, deployment, WIRE)
        except GatewayError as exc:  # an answer the codec cannot read (no candidate...)
            return "errored", exc.status, translate.client_error(endpoint, exc)
        return "succeeded", 200, answer
    error = item.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    status = GRPC_HTTP.get(code, 500) if isinstance(code, int) else 500
    failure = UpstreamError(str(message or "the upstream failed this line"), status=status)
    return "errored", status, translate.client_error(endpoint, failure)


__all__ = ["INLINE", "WIRE", "client", "display_name", "read", "results", "submit"]
