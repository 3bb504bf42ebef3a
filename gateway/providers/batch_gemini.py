"""The Gemini API's batch mode (https://ai.google.dev/api/batch-mode,
https://ai.google.dev/gemini-api/docs/batch-mode), for a provider of kind ``gemini``
(Vertex AI's batch prediction reads and writes Cloud Storage or BigQuery: not here).

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
pricing are half the standard ones): ``batch_apis.BATCH_DISCOUNT``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlparse

import httpx
import orjson

from gateway.errors import UpstreamError
from gateway.providers.batch_apis import NativeBatches
from gateway.providers.gemini import model_path

# "The total request size must be under 20MB" for inline requests (batch-mode guide);
# a batch whose inline body would pass this goes up as a file instead.
INLINE_LIMIT = 20_000_000
LIST_PAGES = 10  # pages of 100 batches looked through to find a lost creation


class GeminiBatches(NativeBatches):
    """One Gemini API provider's batch mode (same shape as ``batch_apis``' clients)."""

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

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("GET", batch_id)
        return answer

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("POST", f"{batch_id}:cancel")
        return answer

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


__all__ = [
    "INLINE_LIMIT",
    "GeminiBatches",
    "batch_of",
    "display_name_of",
    "output_of",
]
