"""The Gemini API's batch mode and Files API for the mock upstream (``mock_upstream``),
as strict as the documented service (https://ai.google.dev/api/batch-mode,
https://ai.google.dev/gemini-api/docs/batch-mode, https://ai.google.dev/api/files):

- ``POST /v1beta/models/{model}:batchGenerateContent``: ``batch.displayName`` and
  ``batch.inputConfig`` required, the input either inline (``requests.requests``, each
  ``{"request": GenerateContentRequest with contents, "metadata"}``, the body under
  20 MB) or ``fileName`` of an uploaded file (JSONL lines ``{"key", "request"}``);
  camelCase or snake_case field names, as proto JSON takes both. Answers an
  ``Operation`` (``name`` ``batches/...``, ``metadata`` the ``GenerateContentBatch``).
- ``GET /v1beta/batches/{id}``: the operation; its state over time ``BATCH_STATE_PENDING``,
  ``_RUNNING``, then ``_SUCCEEDED`` (``delay`` seconds after creation) or
  ``_CANCELLED``; ``batchStats`` counts (int64 as strings); once done, the output:
  ``inlinedResponses.inlinedResponses`` for inline input, a ``responsesFile`` for file
  input (in the operation's ``response`` and the batch's ``output``).
- ``POST /v1beta/batches/{id}:cancel`` (400 FAILED_PRECONDITION once ended),
  ``GET /v1beta/batches`` (newest first, ``pageSize`` / ``pageToken``).
- Files: the resumable upload (``POST /upload/v1beta/files`` with
  ``X-Goog-Upload-Protocol: resumable`` and command ``start`` declaring the length;
  the ``X-Goog-Upload-URL`` it answers then takes exactly those bytes with
  ``upload, finalize`` at offset 0), ``GET /download/v1beta/files/{id}:download?alt=media``
  (``alt=media`` required), ``DELETE /v1beta/files/{id}``.
- Every call but the upload URL's second step needs ``x-goog-api-key`` (else 400
  API_KEY_INVALID, as Gemini answers).

A line is answered ``batched: <its last text>`` (usage 10 in, 5 out) unless its text
has ``please fail``: then its result is an ``error`` (google.rpc.Status, code 3)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from typing import Any

INLINE_LIMIT = 20 * 1024 * 1024
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
Answer = tuple[int, str, bytes, dict[str, str]]


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, "application/json", json.dumps(data).encode(), headers or {}


def _error(code: int, name: str, message: str) -> Answer:
    return _json(code, {"error": {"code": code, "message": message, "status": name}})


def _key_invalid() -> Answer:
    status, kind, _data, headers = _error(400, "INVALID_ARGUMENT", "API key not valid.")
    data = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                      "status": "INVALID_ARGUMENT",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                   "reason": "API_KEY_INVALID"}]}}  # fmt: skip
    return status, kind, json.dumps(data).encode(), headers


def _field(data: dict[str, Any], camel: str) -> Any:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return data.get(camel, data.get(snake))


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z"


def _text(request: dict[str, Any]) -> str:
    for content in reversed(request.get("contents") or []):
        for part in reversed(content.get("parts") or []):
            if isinstance(part.get("text"), str):
                return str(part["text"])
    return ""


def _check_request(request: Any, where: str) -> str:
    if not isinstance(request, dict):
        return f"{where}: a GenerateContentRequest is required"
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        return f"{where}.contents: must not be empty"
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not content.get("parts"):
            return f"{where}.contents[{i}].parts: must not be empty"
        if content.get("role") not in (None, "user", "model"):
            return f"{where}.contents[{i}].role: must be user or model"
    return ""


class GeminiBatchUpstream:
    def __init__(self) -> None:
        self.delay = 0.5
        self.key = "gemini-upstream-key"
        self.batches: dict[str, dict[str, Any]] = {}  # name -> what it was given
        self.files: dict[str, dict[str, Any]] = {}  # name -> displayName, mimeType, content
        self.uploads: dict[str, dict[str, Any]] = {}  # upload_id -> declared length, type
        self.calls: list[tuple[str, str]] = []
        self.lose_answer: tuple[str, str] | None = None  # carried out, its answer lost
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.delay = 0.5
            self.batches.clear()
            self.files.clear()
            self.uploads.clear()
            self.calls.clear()
            self.lose_answer = None

    def handles(self, path: str) -> bool:
        return path.startswith(
            ("/v1beta/batches", "/v1beta/files", "/upload/v1beta/files", "/download/v1beta/")
        ) or (path.startswith("/v1beta/models/") and path.endswith(":batchGenerateContent"))

    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        base: str,
        query: dict[str, list[str]],
    ) -> Answer:
        with self.lock:
            self.calls.append((method, path))
            if path == "/upload/v1beta/files" and "upload_id" in query:
                return self._upload_bytes(headers, raw, query["upload_id"][0])
            if headers.get("x-goog-api-key") != self.key:
                return _key_invalid()
            if path.endswith(":batchGenerateContent") and method == "POST":
                return self._create(path, raw)
            if path == "/upload/v1beta/files" and method == "POST":
                return self._upload_start(headers, raw, base)
            if path.startswith("/download/v1beta/files/") and method == "GET":
                return self._download(path, query)
            if path.startswith("/v1beta/files/"):
                name = path.removeprefix("/v1beta/")
                if name not in self.files:
                    return _error(404, "NOT_FOUND", f"File {name} does not exist.")
                if method == "DELETE":
                    del self.files[name]
                    return _json(200, {})
                return _json(200, self._file_view(name))
            if path == "/v1beta/batches" and method == "GET":
                return self._list(query)
            if path.endswith(":cancel") and method == "POST":
                return self._cancel(path.removeprefix("/v1beta/").removesuffix(":cancel"))
            if path.startswith("/v1beta/batches/") and method == "GET":
                name = path.removeprefix("/v1beta/")
                if name not in self.batches:
                    return _error(404, "NOT_FOUND", f"Batch {name} not found.")
                return _json(200, self._operation(self.batches[name]))
            return _error(404, "NOT_FOUND", f"mock: no such method {method} {path}")

    # --- batches -----------------------------------------------------------------------

    def _create(self, path: str, raw: bytes) -> Answer:
        model = path.removeprefix("/v1beta/").removesuffix(":batchGenerateContent")
        if not model.startswith("models/") or "/" in model.removeprefix("models/"):
            return _error(400, "INVALID_ARGUMENT", "batch.model: must be models/{model}")
        if len(raw) > INLINE_LIMIT:
            return _error(400, "INVALID_ARGUMENT", "Request payload size exceeds the limit")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            return _error(400, "INVALID_ARGUMENT", "batch: required")
        display = _field(batch, "displayName")
        if not isinstance(display, str) or not display:
            return _error(400, "INVALID_ARGUMENT", "batch.display_name: required")
        config = _field(batch, "inputConfig")
        if not isinstance(config, dict):
            return _error(400, "INVALID_ARGUMENT", "batch.input_config: required")
        file_name, inline = _field(config, "fileName"), config.get("requests")
        if (file_name is None) == (inline is None):
            return _error(
                400, "INVALID_ARGUMENT", "input_config: exactly one of file_name, requests"
            )
        lines: list[tuple[str, dict[str, Any]]] = []
        if inline is not None:
            items = inline.get("requests") if isinstance(inline, dict) else None
            if not isinstance(items, list) or not items:
                return _error(400, "INVALID_ARGUMENT", "input_config.requests.requests: required")
            for i, item in enumerate(items):
                where = f"input_config.requests.requests[{i}]"
                request = item.get("request") if isinstance(item, dict) else None
                problem = _check_request(request, f"{where}.request")
                if problem:
                    return _error(400, "INVALID_ARGUMENT", problem)
                metadata = item.get("metadata")
                if metadata is not None and not isinstance(metadata, dict):
                    return _error(400, "INVALID_ARGUMENT", f"{where}.metadata: must be an object")
                lines.append((str((metadata or {}).get("key", i)), request))
        else:
            stored = self.files.get(str(file_name))
            if stored is None:
                return _error(404, "NOT_FOUND", f"File {file_name} does not exist.")
            for i, text in enumerate(stored["content"].splitlines()):
                try:
                    item = json.loads(text)
                except ValueError:
                    return _error(400, "INVALID_ARGUMENT", f"{file_name} line {i + 1}: not JSON")
                problem = _check_request(item.get("request"), f"{file_name} line {i + 1}")
                if problem:
                    return _error(400, "INVALID_ARGUMENT", problem)
                lines.append((str(item.get("key", i)), item["request"]))
        name = "batches/" + secrets.token_hex(10)
        self.batches[name] = {
            "name": name, "model": model, "displayName": display, "lines": lines,
            "source": "inline" if inline is not None else "file", "file": file_name,
            "created": time.time(), "cancelled_at": None, "output": None,
        }  # fmt: skip
        return _json(200, self._operation(self.batches[name]))

    def _state(self, batch: dict[str, Any]) -> str:
        if batch["cancelled_at"] is not None:
            return "BATCH_STATE_CANCELLED"
        age = time.time() - batch["created"]
        if age >= self.delay:
            return "BATCH_STATE_SUCCEEDED"
        return "BATCH_STATE_PENDING" if age < self.delay / 3 else "BATCH_STATE_RUNNING"

    def _operation(self, batch: dict[str, Any]) -> dict[str, Any]:
        state = self._state(batch)
        done = state in ("BATCH_STATE_SUCCEEDED", "BATCH_STATE_CANCELLED")
        total = len(batch["lines"])
        failing = sum(1 for _key, r in batch["lines"] if "please fail" in _text(r))
        succeeded = state == "BATCH_STATE_SUCCEEDED"
        view: dict[str, Any] = {
            "@type": BATCH_TYPE, "model": batch["model"], "displayName": batch["displayName"],
            "createTime": _stamp(batch["created"]), "updateTime": _stamp(time.time()),
            "batchStats": {
                "requestCount": str(total),
                "successfulRequestCount": str(total - failing if succeeded else 0),
                "failedRequestCount": str(failing if succeeded else 0),
                "pendingRequestCount": str(0 if done else total),
            },
            "state": state, "name": batch["name"],
        }  # fmt: skip
        operation: dict[str, Any] = {"name": batch["name"], "metadata": view}
        if done:
            view["endTime"] = _stamp(batch["cancelled_at"] or batch["created"] + self.delay)
            output = self._output(batch) if succeeded else {}
            view["output"] = output
            operation.update(done=True, response={"@type": OUTPUT_TYPE, **output})
        return operation

    def _output(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["output"] is None:  # made once, when first read ended
            results = [
                self._result(key, request, batch["model"]) for key, request in batch["lines"]
            ]
            if batch["source"] == "inline":
                inlined = []
                for (key, _r), result in zip(batch["lines"], results, strict=True):
                    inlined.append({**{k: v for k, v in result.items() if k != "key"},
                                    "metadata": {"key": key}})  # fmt: skip
                batch["output"] = {"inlinedResponses": {"inlinedResponses": inlined}}
            else:
                name = "files/batch-" + secrets.token_hex(8)
                content = "".join(json.dumps(r) + "\n" for r in results).encode()
                self.files[name] = {"displayName": name, "mimeType": "application/jsonl",
                                    "content": content, "generated": True}  # fmt: skip
                batch["output"] = {"responsesFile": name}
        output: dict[str, Any] = batch["output"]
        return output

    def _result(self, key: str, request: dict[str, Any], model: str) -> dict[str, Any]:
        text = _text(request)
        if "please fail" in text:
            return {"key": key, "error": {"code": 3, "message": "mock: this line fails",
                                          "details": []}}  # fmt: skip
        response = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": f"batched: {text}"}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                              "totalTokenCount": 15},
            "modelVersion": model.removeprefix("models/"),
            "responseId": secrets.token_hex(8),
        }  # fmt: skip
        return {"key": key, "response": response}

    def _cancel(self, name: str) -> Answer:
        batch = self.batches.get(name)
        if batch is None:
            return _error(404, "NOT_FOUND", f"Batch {name} not found.")
        if self._state(batch) not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
            return _error(400, "FAILED_PRECONDITION", f"Batch {name} has already ended.")
        batch["cancelled_at"] = time.time()
        return _json(200, {})

    def _list(self, query: dict[str, list[str]]) -> Answer:
        try:
            size = int((query.get("pageSize") or ["50"])[0])
            start = int((query.get("pageToken") or ["0"])[0] or 0)
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "pageSize and pageToken must be numbers")
        if not 0 < size <= 1000:
            return _error(400, "INVALID_ARGUMENT", "pageSize must be between 1 and 1000")
        newest = sorted(self.batches.values(), key=lambda b: b["created"], reverse=True)
        page = newest[start : start + size]
        answer: dict[str, Any] = {"operations": [self._operation(b) for b in page]}
        if start + size < len(newest):
            answer["nextPageToken"] = str(start + size)
        return _json(200, answer)

    # --- files -------------------------------------------------------------------------

    def _upload_start(self, headers: dict[str, str], raw: bytes, base: str) -> Answer:
        if headers.get("x-goog-upload-protocol") != "resumable":
            return _error(400, "INVALID_ARGUMENT", "mock: only the resumable protocol")
        if headers.get("x-goog-upload-command") != "start":
            return _error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Command: start expected")
        length = headers.get("x-goog-upload-header-content-length", "")
        if not length.isdigit():
            return _error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Header-Content-Length required")
        try:
            file = (json.loads(raw or b"{}") or {}).get("file") or {}
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        upload_id = secrets.token_hex(12)
        self.uploads[upload_id] = {
            "length": int(length), "displayName": _field(file, "displayName") or "",
            "mimeType": headers.get("x-goog-upload-header-content-type", "application/octet-stream"),
        }  # fmt: skip
        url = f"{base}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
        return _json(200, {}, {"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})

    def _upload_bytes(self, headers: dict[str, str], raw: bytes, upload_id: str) -> Answer:
        declared = self.uploads.get(upload_id)
        if declared is None:
            return _error(404, "NOT_FOUND", "mock: no such upload session")
        command = {c.strip() for c in headers.get("x-goog-upload-command", "").split(",")}
        if command != {"upload", "finalize"} or headers.get("x-goog-upload-offset") != "0":
            return _error(400, "INVALID_ARGUMENT", "mock: one 'upload, finalize' at offset 0")
        if len(raw) != declared["length"]:
            return _error(
                400, "INVALID_ARGUMENT", "mock: the bytes differ from the declared length"
            )
        del self.uploads[upload_id]
        name = "files/" + secrets.token_hex(6)
        self.files[name] = {"displayName": declared["displayName"],
                            "mimeType": declared["mimeType"], "content": raw}  # fmt: skip
        return _json(200, {"file": self._file_view(name)}, {"X-Goog-Upload-Status": "final"})

    def _file_view(self, name: str) -> dict[str, Any]:
        stored = self.files[name]
        return {"name": name, "displayName": stored["displayName"],
                "mimeType": stored["mimeType"], "sizeBytes": str(len(stored["content"])),
                "state": "ACTIVE", "source": "GENERATED" if stored.get("generated") else "UPLOADED"}  # fmt: skip

    def _download(self, path: str, query: dict[str, list[str]]) -> Answer:
        name = path.removeprefix("/download/v1beta/").removesuffix(":download")
        if query.get("alt") != ["media"]:
            return _error(400, "INVALID_ARGUMENT", "mock: alt=media required")
        stored = self.files.get(name)
        if stored is None:
            return _error(404, "NOT_FOUND", f"File {name} does not exist.")
        if not stored.get("generated"):
            return _error(400, "INVALID_ARGUMENT", "Only generated files can be downloaded.")
        return 200, "application/octet-stream", stored["content"], {}
