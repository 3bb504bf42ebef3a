"""The Gemini API's batch mode (https://ai.google.dev/api/batch-mode,
https://ai.google.dev/gemini-api/docs/batch-mode), for a provider of kind ``gemini``
unless its ``native_batches`` setting says ``off`` (Vertex AI's batch prediction reads
and writes Cloud Storage or BigQuery: not here).

- ``POST {root}/models/{model}:batchGenerateContent`` with ``{"batch": {"displayName",
  "inputConfig": {"requests": {"requests": [{"request", "metadata": {"key"}}]}}}}``
  (inline, up to ``INLINE_LIMIT`` bytes), or ``"inputConfig": {"fileName": "files/..."}``
  naming a JSONL file (``{"key", "request"}`` a line) uploaded through the Files API's
  resumable protocol (``POST /upload/v1beta/files``: a ``start`` call whose answer's
  ``X-Goog-Upload-URL`` then takes the bytes with ``upload, finalize``);
- ``GET {root}/batches/{id}``, ``POST {root}/batches/{id}:cancel``, ``GET {root}/batches``
  (pages of ``operations``; no filter on the Gemini API: a batch is found by its
  display name), ``DELETE {root}/files/{id}``;
- results inline (``response.inlinedResponses.inlinedResponses``) or in a
  ``responsesFile`` read from ``/download/v1beta/{file}:download?alt=media``.

Every answer about a batch is a long-running ``Operation`` whose ``metadata`` is the
``GenerateContentBatch`` (``state``, ``batchStats``, ``output``). Each call is signed by
the provider's adapter (the ``x-goog-api-key`` header, never the URL).

Price: "Batch Mode ... at 50% of the standard cost" (https://ai.google.dev/gemini-api/
docs/batch-mode; the per-model batch prices on https://ai.google.dev/gemini-api/docs/
pricing are half the standard ones).

Driving: the batch's lines, in its own format (OpenAI chat, Anthropic messages,
Responses), are translated by the codecs (``gateway.features.batches.translate``) into
``GenerateContentRequest`` bodies keyed by their custom_id, and each answer back into
the batch's format. Submitting: inline when the requests fit Gemini's inline limit,
else as an uploaded JSONL file. Before the create call, ``upstream_file_id`` is saved
(the file's name, or ``INLINE``): a submit that finds it set looks the batch up by its
display name (which carries our batch id) before making it, so a creation whose answer
was lost is not made twice. A line the upstream's format cannot carry (say, a parameter
Gemini has no field for) is answered here with the 400 a live request would get and not
sent."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote, urlparse

import httpx
import orjson
from django.utils import timezone

from gateway.base import db_work
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import GatewayError, InvalidRequest, UpstreamError
from gateway.features.batches import translate
from gateway.features.batches.upstreams.base import Line, Progress, Result, Save
from gateway.features.batches.upstreams.http import HttpBatches
from gateway.models.batches import Batch, BatchLine
from gateway.providers.gemini import model_path

# "The total request size must be under 20MB" for inline requests (batch-mode guide);
# a batch whose inline body would pass this goes up as a file instead.
INLINE_LIMIT = 20_000_000
LIST_PAGES = 10  # pages of 100 batches looked through to find a lost creation
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


class GeminiBatches(HttpBatches):
    """One Gemini API provider's batch mode."""

    api = "gemini"
    wire = "gemini"  # the codec the batch API's requests speak

    @classmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        return provider.kind == "gemini"

    def root(self) -> str:
        """``{base}/v1beta``: where models, batches and files hang."""
        return str(self.adapter.root())

    def url(self, path: str) -> str:
        return f"{self.root()}/{path.lstrip('/')}"

    def _beside(self, kind: str, path: str) -> str:
        """A URL of the upload or download service: ``{host}/{kind}/{version}/{path}``."""
        head, version = self.root().rsplit("/", 1)
        return f"{head}/{kind}/{version}/{path}"

    async def create(self, model: str, display_name: str, requests: list[dict[str, Any]]) -> Any:
        """A batch of inline requests (``{"request", "metadata": {"key"}}`` each)."""
        config = {"requests": {"requests": requests}}
        return await self._create(model, display_name, config)

    async def create_from_file(self, model: str, display_name: str, file_name: str) -> Any:
        return await self._create(model, display_name, {"fileName": file_name})

    async def _create(self, model: str, display_name: str, config: dict[str, Any]) -> Any:
        body = {"batch": {"displayName": display_name, "inputConfig": config}}
        return await self.call("POST", f"{model_path(model)}:batchGenerateContent", json=body)

    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        return await self.object_call("GET", upstream_id)

    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        return await self.object_call("POST", f"{upstream_id}:cancel")

    async def find(self, display_name: str) -> str:
        """The name (``batches/...``) of a batch already made with ``display_name`` ("" :
        none), so a creation whose answer was lost is not made twice."""
        token = ""
        for _page in range(LIST_PAGES):
            path = "batches?pageSize=100" + (f"&pageToken={quote(token)}" if token else "")
            answer = await self.call("GET", path)
            if not isinstance(answer, dict):
                return ""
            for item in answer.get("operations") or []:
                if isinstance(item, dict) and display_name_of(item) == display_name:
                    return str(item.get("name") or "")
            token = str(answer.get("nextPageToken") or "")
            if not token:
                return ""
        return ""

    async def upload(self, content: bytes, display_name: str) -> str:
        """A JSONL file through the resumable upload protocol; its name (``files/...``)."""
        start = await self.send(
            "POST",
            self._beside("upload", "files"),
            orjson.dumps({"file": {"displayName": display_name}}),
            {
                "Content-Type": "application/json",
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(len(content)),
                "X-Goog-Upload-Header-Content-Type": "application/jsonl",
            },
        )
        target = start.headers.get("x-goog-upload-url", "")
        if urlparse(target).netloc != urlparse(self.root()).netloc:
            raise UpstreamError(  # the provider's key goes to its own host only
                f"upstream provider {self.provider.name!r} gave no upload URL on its own host"
            )
        done = await self.send(
            "POST",
            target,
            content,
            {"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )
        name = (_json(done, self.provider.name).get("file") or {}).get("name")
        if not isinstance(name, str) or not name.startswith("files/"):
            raise UpstreamError(f"upstream provider {self.provider.name!r} named no file")
        return name

    async def content(self, file_name: str) -> bytes:
        url = self._beside("download", f"{file_name}:download?alt=media")
        return (await self.send("GET", url, b"", {})).content

    async def delete_file(self, file_name: str) -> None:
        await self.call("DELETE", file_name)

    # --- driving ------------------------------------------------------------------------

    async def submit(
        self, batch: Batch, deployment: DeploymentEntry, lines: list[Line], save: Save
    ) -> None:
        """Make the upstream batch (or find the one made before) and save its name."""
        name = display_name(batch)
        if batch.upstream_file_id:  # a creation went up before: its answer may be lost
            found = await self.find(name)
            if found:
                batch.upstream_batch_id = found
                await save("upstream_batch_id", found)
                return
        requests = await _requests(batch, deployment, lines)
        inline = orjson.dumps(requests)
        if len(inline) + len(name) + 200 <= INLINE_LIMIT:
            batch.upstream_file_id = INLINE
            await save("upstream_file_id", INLINE)
            made = await self.create(deployment.model, name, requests)
        else:
            if not batch.upstream_file_id.startswith("files/"):
                content = b"".join(
                    orjson.dumps({"key": r["metadata"]["key"], "request": r["request"]}) + b"\n"
                    for r in requests
                )
                batch.upstream_file_id = await self.upload(content, name)
                await save("upstream_file_id", batch.upstream_file_id)
            made = await self.create_from_file(deployment.model, name, batch.upstream_file_id)
        upstream = str(made.get("name") or "") if isinstance(made, dict) else ""
        if not upstream.startswith("batches/"):
            raise UpstreamError(f"provider {deployment.provider.name!r} named no batch", status=502)
        batch.upstream_batch_id = upstream
        await save("upstream_batch_id", upstream)

    @staticmethod
    def read(answer: dict[str, Any]) -> Progress:
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
        self, batch: Batch, deployment: DeploymentEntry, answer: dict[str, Any], status: str
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
            for text in (await self.content(str(output["responsesFile"]))).splitlines():
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
                await self.delete_file(batch.upstream_file_id)
        if status == "failed" and not found:
            error = answer.get("error") or batch_of(answer).get("error") or {}
            message = error.get("message") if isinstance(error, dict) else ""
            return {}, "failed:" + (str(message or "") or "the upstream batch failed")[:500]
        return found, {"cancelled": "cancelled", "expired": "expired"}.get(status, "completed")


def _json(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamError(f"upstream provider {provider!r} answered with no JSON object")
    return data


def batch_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The ``GenerateContentBatch`` of an answer: an ``Operation``'s ``metadata``, or
    the batch itself."""
    metadata = answer.get("metadata")
    return metadata if isinstance(metadata, dict) and "state" in metadata else answer


def display_name_of(answer: dict[str, Any]) -> str:
    batch = batch_of(answer)
    return str(batch.get("displayName") or batch.get("display_name") or "")


def output_of(answer: dict[str, Any]) -> dict[str, Any]:
    """The ended batch's ``GenerateContentBatchOutput``: the operation's ``response``,
    or the batch's ``output``."""
    for candidate in (answer.get("response"), batch_of(answer).get("output")):
        if isinstance(candidate, dict) and (
            "inlinedResponses" in candidate or "responsesFile" in candidate
        ):
            return candidate
    return {}


def display_name(batch: Batch) -> str:
    return f"switchyard {batch.id}"


async def _requests(
    batch: Batch, deployment: DeploymentEntry, lines: list[Line]
) -> list[dict[str, Any]]:
    """The lines as Gemini's inline requests; those it cannot take are answered here."""
    requests: list[dict[str, Any]] = []
    refused: list[tuple[int, int, Any]] = []
    for line_id, custom_id, body in lines:
        try:
            request = translate.upstream_request(
                batch.endpoint, body, deployment, GeminiBatches.wire
            )
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


def _bodies(pk: str) -> dict[str, Any]:
    return dict(BatchLine.objects.filter(batch_id=pk).values_list("custom_id", "body"))


def _result(endpoint: str, body: Any, item: dict[str, Any], deployment: DeploymentEntry) -> Result:
    response = item.get("response")
    if isinstance(response, dict):
        try:
            answer, _usage = translate.client_answer(
                endpoint, body, response, deployment, GeminiBatches.wire
            )
        except GatewayError as exc:  # an answer the codec cannot read (no candidate...)
            return "errored", exc.status, translate.client_error(endpoint, exc)
        return "succeeded", 200, answer
    error = item.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    status = GRPC_HTTP.get(code, 500) if isinstance(code, int) else 500
    failure = UpstreamError(str(message or "the upstream failed this line"), status=status)
    return "errored", status, translate.client_error(endpoint, failure)


__all__ = [
    "INLINE",
    "INLINE_LIMIT",
    "GeminiBatches",
    "batch_of",
    "display_name",
    "display_name_of",
    "output_of",
]
