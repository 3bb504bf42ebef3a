"""OpenAI's Files + Batch API (``/files`` with purpose ``batch``, ``/batches``), on
OpenAI-compatible providers and Azure OpenAI.

Which providers have it: OpenAI-compatible providers whose upstream is api.openai.com,
or any other whose ``native_batches`` setting is ``on`` (vLLM and most compatible
servers have no ``/batches``); Azure OpenAI providers whose setting is ``on`` (their
deployments must be Global Batch ones; Azure names the endpoint without ``/v1``:
``/chat/completions``). It takes batches in its own format only (an OpenAI batch).

Price: "Batch API ... 50% discount" (https://platform.openai.com/docs/guides/batch).

Driving: the lines, with their model rewritten to the deployment's model, are uploaded
as the input file first (its id saved: a retry or a restart uploads it once), then the
batch is made from it; a submit that finds the file uploaded looks for a batch made
from it before making one (its answer may have been lost). The ended batch's output and
error files become the lines' results; the uploaded input file is deleted then."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlparse

import orjson

from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import GatewayError
from gateway.features.batches import translate
from gateway.features.batches.upstreams.base import ON, Line, Progress, Result, Save, flag, jsonl
from gateway.features.batches.upstreams.http import HttpBatches
from gateway.models.batches import Batch
from gateway.providers import wire


class OpenAIBatches(HttpBatches):
    """``POST /files`` (purpose batch), ``POST /batches``, ``GET /batches/{id}``,
    ``POST /batches/{id}/cancel``, ``GET /files/{id}/content`` (Azure: under
    ``/openai/`` with its api-version, which the adapter's ``url`` adds)."""

    api = "openai"
    needs_the_api_still = True

    @classmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        if provider.kind == "azure":  # only Global Batch deployments take batches: opt in
            return flag(provider) in ON
        if provider.kind != "openai":
            return False
        if flag(provider) in ON:
            return True
        try:
            host = urlparse(wire.base_url(provider)).hostname or ""
        except Exception:  # an unset os.environ/ reference: not native
            return False
        return host == "api.openai.com"

    def url(self, path: str) -> str:
        return str(self.adapter.url(path.lstrip("/")))

    def endpoint(self, endpoint: str) -> str:
        """The batch endpoint as this upstream names it (Azure: without ``/v1``)."""
        return endpoint.removeprefix("/v1") if self.provider.kind == "azure" else endpoint

    async def upload(self, content: bytes, filename: str) -> str:
        answer = await self.call(
            "POST",
            "files",
            files={"file": (filename, content, "application/jsonl")},
            data={"purpose": "batch"},
        )
        return str(answer["id"])

    async def create(self, file_id: str, endpoint: str, metadata: dict[str, str]) -> dict[str, Any]:
        body = {
            "input_file_id": file_id,
            "endpoint": self.endpoint(endpoint),
            "completion_window": "24h",
            "metadata": metadata,
        }
        return await self.object_call("POST", "batches", json=body)

    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        return await self.object_call("GET", f"batches/{upstream_id}")

    async def find(self, file_id: str) -> str:
        """The id of a batch already made from ``file_id`` among the newest 100 ("" :
        none), so a creation whose answer was lost is not made twice."""
        answer = await self.call("GET", "batches?limit=100")
        for item in answer.get("data") or [] if isinstance(answer, dict) else []:
            if isinstance(item, dict) and item.get("input_file_id") == file_id:
                return str(item.get("id") or "")
        return ""

    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        return await self.object_call("POST", f"batches/{upstream_id}/cancel")

    async def content(self, file_id: str) -> bytes:
        answer: bytes = await self.call("GET", f"files/{file_id}/content", raw=True)
        return answer

    async def delete_file(self, file_id: str) -> None:
        await self.call("DELETE", f"files/{file_id}")

    # --- driving ------------------------------------------------------------------------

    async def submit(
        self, batch: Batch, deployment: DeploymentEntry, lines: list[Line], save: Save
    ) -> None:
        if batch.upstream_file_id:
            # uploaded before: the batch may have been made too, its answer lost (a crash,
            # a cut connection); then it is found, not made twice
            found = await self.find(batch.upstream_file_id)
            if found:
                batch.upstream_batch_id = found
                await save("upstream_batch_id", found)
                return
        if not batch.upstream_file_id:
            content = b"\n".join(
                orjson.dumps(
                    {
                        "custom_id": custom_id,
                        "method": "POST",
                        "url": self.endpoint(batch.endpoint),
                        "body": translate.upstream_body(body, deployment),
                    }
                )
                for _id, custom_id, body in lines
            )
            file_id = await self.upload(content + b"\n", f"{batch.id}.jsonl")
            batch.upstream_file_id = file_id  # kept: a retry or a restart uploads it once
            await save("upstream_file_id", file_id)
        made = await self.create(
            batch.upstream_file_id, batch.endpoint, {"switchyard_batch": batch.id}
        )
        batch.upstream_batch_id = str(made["id"])
        await save("upstream_batch_id", batch.upstream_batch_id)

    @staticmethod
    def read(answer: dict[str, Any]) -> Progress:
        counts = answer.get("request_counts") or {}
        status = str(answer.get("status", ""))
        ended = status in ("completed", "failed", "expired", "cancelled")
        return status, int(counts.get("completed") or 0), int(counts.get("failed") or 0), ended

    async def results(
        self, batch: Batch, deployment: DeploymentEntry, answer: dict[str, Any], status: str
    ) -> tuple[dict[str, Result], str]:
        """The output and error files' lines under their custom_ids; the uploaded input
        file is deleted once they are read (the upstream keeps it otherwise)."""
        results: dict[str, Result] = {}
        for field in ("output_file_id", "error_file_id"):
            if answer.get(field):
                for item in jsonl(await self.content(answer[field])):
                    results[str(item.get("custom_id"))] = _result(item)
        if status == "failed" and not results:
            return {}, "failed:" + _errors_text(answer)
        if batch.upstream_file_id:
            with contextlib.suppress(GatewayError):
                await self.delete_file(batch.upstream_file_id)
        return results, status


def _errors_text(answer: dict[str, Any]) -> str:
    errors = (answer.get("errors") or {}).get("data") or []
    return "; ".join(str(e.get("message", e)) for e in errors)[:500] or "the upstream batch failed"


def _result(item: dict[str, Any]) -> Result:
    response = item.get("response")
    if isinstance(response, dict):
        status = int(response.get("status_code") or 500)
        return ("succeeded" if status < 400 else "errored"), status, response.get("body")
    error = item.get("error") or {}
    reason = str(error.get("code") or "")
    if reason == "batch_expired":
        return "expired", 0, None
    if reason == "batch_cancelled":
        return "canceled", 0, None
    return "errored", 500, {"error": error}
