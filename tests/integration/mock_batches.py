"""The upstreams' batch APIs for the mock upstream (``mock_upstream``), as strict as
the documented services:

- OpenAI Files + Batch API: ``POST /v1/files`` (multipart, ``purpose`` batch, a JSONL
  file whose every line has a unique ``custom_id``, ``method`` POST, the same ``url``
  and the same ``body.model``), ``POST /v1/batches`` (``input_file_id`` of a batch file,
  ``endpoint`` one of the four and the lines' url, ``completion_window`` 24h),
  ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``,
  ``GET /v1/files/{id}/content``, ``DELETE /v1/files/{id}``; a Bearer key required.
- Anthropic Message Batches: ``POST /v1/messages/batches`` (``requests`` of custom_id
  ``^[a-zA-Z0-9_-]{1,64}$``, unique, and params with model, max_tokens, messages),
  ``GET /v1/messages/batches/{id}``, ``POST .../cancel``, ``GET .../results`` (only
  once ended), ``GET /v1/messages/batches`` (newest first, ``limit`` 1-1000,
  ``after_id`` / ``before_id``); ``x-api-key`` and ``anthropic-version`` required.

A batch ends ``delay`` seconds after it was created (its state is worked out when read):
every line answered (usage 10 in, 5 out) unless the batch was cancelled first, then
every line cancelled. ``created`` keeps what each batch was given, for the tests."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses", "/v1/completions")
AZURE_ENDPOINTS = tuple(e.removeprefix("/v1") for e in ENDPOINTS)  # Azure names them so
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
Answer = tuple[int, str, bytes]


def _json(status: int, data: Any) -> Answer:
    return status, "application/json", json.dumps(data).encode()


def _openai_error(status: int, message: str) -> Answer:
    return _json(status, {"error": {"message": message, "type": "invalid_request_error"}})


def _anthropic_error(status: int, message: str, kind: str = "invalid_request_error") -> Answer:
    return _json(status, {"type": "error", "error": {"type": kind, "message": message}})


def _question(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    content = messages[-1].get("content") if messages else body.get("input", "")
    return content if isinstance(content, str) else json.dumps(content)


def openai_answer(url: str, body: dict[str, Any]) -> dict[str, Any]:
    if url.endswith("/embeddings"):
        return {"object": "list", "model": body["model"],
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 10, "total_tokens": 10}}  # fmt: skip
    return {
        "id": "chatcmpl-" + secrets.token_hex(6),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": f"batched: {_question(body)}"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }  # fmt: skip


def anthropic_answer(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_" + secrets.token_hex(8),
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": f"batched: {_question(params)}"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


class BatchUpstream:
    def __init__(self) -> None:
        self.delay = 0.5
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}  # OpenAI's
        self.message_batches: dict[str, dict[str, Any]] = {}  # Anthropic's
        self.calls: list[tuple[str, str]] = []
        self.azure = False  # the call being answered came in Azure's shape
        self.failures: list[int] = []  # statuses answered to the next calls, in order
        # (method, path) whose answer is lost after it was carried out (a cut connection)
        self.lose_answer: tuple[str, str] | None = None
        # (method, path) whose answer waits for ``unstall`` after it was carried out
        # (``stalled`` is set then): the caller can be killed before it hears it
        self.stall_answer: tuple[str, str] | None = None
        self.stalled = threading.Event()
        self.unstall = threading.Event()
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.delay = 0.5
            self.files.clear()
            self.batches.clear()
            self.message_batches.clear()
            self.calls.clear()
            self.failures.clear()
            self.lose_answer = None
            self.stall_answer = None
            self.stalled.clear()
            self.unstall.clear()

    def handles(self, path: str) -> bool:
        return path.startswith(
            ("/v1/files", "/v1/batches", "/v1/messages/batches", "/openai/files", "/openai/batches")
        )

    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        base: str,
        query: dict[str, list[str]] | None = None,
    ) -> Answer:
        with self.lock:
            self.calls.append((method, path))
            if self.failures:
                return _openai_error(self.failures.pop(0), "mock: the service is overloaded")
            self.azure = path.startswith("/openai/")
            if self.azure:  # Azure OpenAI: its api-key header and api-version, no /v1
                if not headers.get("api-key"):
                    return _openai_error(401, "Access denied due to missing api-key")
                if not (query or {}).get("api-version"):
                    return _openai_error(404, "Resource not found (no api-version)")
                path = "/v1" + path.removeprefix("/openai")
                headers = {**headers, "authorization": "Bearer " + headers["api-key"]}
            if path.startswith("/v1/messages/batches"):
                if not headers.get("x-api-key"):
                    return _anthropic_error(
                        401, "x-api-key header is required", "authentication_error"
                    )
                if not headers.get("anthropic-version"):
                    return _anthropic_error(400, "anthropic-version: header is required")
                return self._anthropic(method, path, raw, base, query or {})
            if not headers.get("authorization", "").startswith("Bearer "):
                return _openai_error(401, "You didn't provide an API key.")
            if path.startswith("/v1/files"):
                return self._files(method, path, headers, raw)
            return self._batches(method, path, raw)

    # --- OpenAI files ------------------------------------------------------------------

    def _files(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        parts = path.strip("/").split("/")  # v1 files [id] [content]
        if method == "POST" and len(parts) == 2:
            return self._upload(headers, raw)
        if len(parts) < 3 or parts[2] not in self.files:
            return _openai_error(404, f"No such File object: {parts[-1]}")
        stored = self.files[parts[2]]
        if method == "GET" and len(parts) == 4 and parts[3] == "content":
            return 200, "application/octet-stream", stored["content"]
        if method == "DELETE" and len(parts) == 3:
            del self.files[parts[2]]
            return _json(200, {"id": parts[2], "object": "file", "deleted": True})
        return _openai_error(404, "mock: no such path")

    def _upload(self, headers: dict[str, str], raw: bytes) -> Answer:
        kind = headers.get("content-type", "")
        if not kind.startswith("multipart/form-data"):
            return _openai_error(400, "the body must be multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + kind.encode() + b"\r\n\r\n" + raw
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or "purpose" not in fields:
            return _openai_error(400, "'file' and 'purpose' are required")
        purpose = fields["purpose"][1].decode()
        if purpose not in ("batch", "assistants", "fine-tune", "vision", "user_data", "evals"):
            return _openai_error(400, f"invalid purpose {purpose!r}")
        filename, content = fields["file"]
        if purpose == "batch":
            problem = self._check_batch_file(filename or "", content)
            if problem:
                return _openai_error(400, problem)
        file_id = "file-" + secrets.token_hex(10)
        self.files[file_id] = {"purpose": purpose, "content": content, "filename": filename}
        return _json(200, {"id": file_id, "object": "file", "bytes": len(content),
                           "created_at": int(time.time()), "filename": filename,
                           "purpose": purpose, "status": "processed"})  # fmt: skip

    def _check_batch_file(self, filename: str, content: bytes) -> str:
        if not filename.endswith(".jsonl"):
            return "A batch input file must be a .jsonl file"
        seen: set[str] = set()
        urls: set[str] = set()
        models: set[str] = set()
        for number, text in enumerate(content.splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError:
                return f"line {number}: not valid JSON"
            custom_id = line.get("custom_id")
            if not isinstance(custom_id, str) or custom_id in seen:
                return f"line {number}: custom_id missing or not unique"
            seen.add(custom_id)
            if line.get("method") != "POST" or line.get("url") not in self.endpoints():
                return f"line {number}: method must be POST and url a batch endpoint"
            if not isinstance(line.get("body"), dict) or not line["body"].get("model"):
                return f"line {number}: body.model is required"
            urls.add(line["url"])
            models.add(line["body"]["model"])
        if not seen:
            return "the batch input file is empty"
        if len(urls) > 1 or len(models) > 1:
            return "all requests of a batch must have the same url and the same model"
        return ""

    def endpoints(self) -> tuple[str, ...]:
        return AZURE_ENDPOINTS if self.azure else ENDPOINTS

    # --- OpenAI batches ----------------------------------------------------------------

    def _batches(self, method: str, path: str, raw: bytes) -> Answer:
        parts = path.strip("/").split("/")  # v1 batches [id] [cancel]
        if method == "POST" and len(parts) == 2:
            return self._create(raw)
        if method == "GET" and len(parts) == 2:  # newest first
            views = [self._view(b) for b in reversed(self.batches.values())]
            return _json(200, {"object": "list", "data": views, "has_more": False})
        if len(parts) < 3 or parts[2] not in self.batches:
            return _openai_error(404, f"No batch found with id '{parts[-1]}'")
        batch = self.batches[parts[2]]
        if method == "GET" and len(parts) == 3:
            return _json(200, self._view(batch))
        if method == "POST" and len(parts) == 4 and parts[3] == "cancel":
            view = self._view(batch)
            if view["status"] not in ("validating", "in_progress", "finalizing"):
                return _openai_error(409, f"Cannot cancel a batch with status {view['status']}")
            batch["cancelled_at"] = time.time()
            view = self._view(batch)
            view["status"] = "cancelling"
            return _json(200, view)
        return _openai_error(404, "mock: no such path")

    def _create(self, raw: bytes) -> Answer:
        body = json.loads(raw or b"{}")
        source = self.files.get(body.get("input_file_id"))
        if source is None:
            return _openai_error(400, "input_file_id: no such file")
        if source["purpose"] != "batch":
            return _openai_error(400, "the input file must have purpose batch")
        if body.get("endpoint") not in self.endpoints():
            return _openai_error(400, "endpoint: not a batch endpoint")
        if body.get("completion_window") != "24h":
            return _openai_error(400, "completion_window must be 24h")
        lines = [json.loads(t) for t in source["content"].splitlines() if t.strip()]
        if any(line["url"] != body["endpoint"] for line in lines):
            return _openai_error(400, "the input file's urls do not match the endpoint")
        batch_id = "batch_" + secrets.token_hex(10)
        self.batches[batch_id] = {
            "id": batch_id, "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
            "metadata": body.get("metadata"), "lines": lines, "created": time.time(),
            "cancelled_at": None, "output_file_id": None, "error_file_id": None,
        }  # fmt: skip
        return _json(200, self._view(self.batches[batch_id]))

    def _view(self, batch: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        ended = batch["cancelled_at"] is not None or now >= batch["created"] + self.delay
        total = len(batch["lines"])
        if ended and batch["output_file_id"] is None and batch["error_file_id"] is None:
            self._finish(batch)
        status = "in_progress"
        if ended:
            status = "cancelled" if batch["cancelled_at"] is not None else "completed"
        done = total if status == "completed" else 0
        return {
            "id": batch["id"], "object": "batch", "endpoint": batch["endpoint"], "errors": None,
            "input_file_id": batch["input_file_id"], "completion_window": "24h",
            "status": status, "output_file_id": batch["output_file_id"],
            "error_file_id": batch["error_file_id"], "created_at": int(batch["created"]),
            "in_progress_at": int(batch["created"]), "expires_at": int(batch["created"]) + 86400,
            "completed_at": int(now) if status == "completed" else None,
            "cancelled_at": int(batch["cancelled_at"]) if batch["cancelled_at"] else None,
            "request_counts": {"total": total, "completed": done, "failed": 0},
            "metadata": batch["metadata"],
        }  # fmt: skip

    def _finish(self, batch: dict[str, Any]) -> None:
        good, bad = [], []
        for line in batch["lines"]:
            ident = "batch_req_" + secrets.token_hex(8)
            if batch["cancelled_at"] is not None:
                bad.append({"id": ident, "custom_id": line["custom_id"], "response": None,
                            "error": {"code": "batch_cancelled",
                                      "message": "cancelled before it ran"}})  # fmt: skip
                continue
            good.append({"id": ident, "custom_id": line["custom_id"], "error": None,
                         "response": {"status_code": 200, "request_id": secrets.token_hex(8),
                                      "body": openai_answer(line["url"], line["body"])}})  # fmt: skip
        for field, lines in (("output_file_id", good), ("error_file_id", bad)):
            if lines:
                file_id = "file-" + secrets.token_hex(10)
                content = b"\n".join(json.dumps(x).encode() for x in lines) + b"\n"
                self.files[file_id] = {"purpose": "batch_output", "content": content,
                                       "filename": f"{field}.jsonl"}  # fmt: skip
                batch[field] = file_id

    # --- Anthropic message batches -----------------------------------------------------

    def _anthropic(
        self, method: str, path: str, raw: bytes, base: str, query: dict[str, list[str]]
    ) -> Answer:
        parts = path.strip("/").split("/")  # v1 messages batches [id] [cancel|results]
        if method == "POST" and len(parts) == 3:
            return self._message_batch(raw, base)
        if method == "GET" and len(parts) == 3:
            return self._message_batch_list(query, base)
        if len(parts) < 4 or parts[3] not in self.message_batches:
            return _anthropic_error(404, f"No batch found: {parts[-1]}", "not_found_error")
        batch = self.message_batches[parts[3]]
        if method == "GET" and len(parts) == 4:
            return _json(200, self._anthropic_view(batch, base))
        if method == "POST" and len(parts) == 5 and parts[4] == "cancel":
            if batch["cancelled_at"] is None and time.time() < batch["created"] + self.delay:
                batch["cancelled_at"] = time.time()
            return _json(200, self._anthropic_view(batch, base))
        if method == "GET" and len(parts) == 5 and parts[4] == "results":
            view = self._anthropic_view(batch, base)
            if view["processing_status"] != "ended":
                return _anthropic_error(400, "the batch is still processing")
            out = []
            for item in batch["requests"]:
                if batch["cancelled_at"] is not None:
                    result: dict[str, Any] = {"type": "canceled"}
                else:
                    result = {"type": "succeeded", "message": anthropic_answer(item["params"])}
                out.append(json.dumps({"custom_id": item["custom_id"], "result": result}))
            return 200, "application/binary", ("\n".join(out) + "\n").encode()
        return _anthropic_error(404, "mock: no such path", "not_found_error")

    def _message_batch_list(self, query: dict[str, list[str]], base: str) -> Answer:
        """Newest first; ``limit`` 1-1000 (20), ``after_id`` / ``before_id`` cursors."""
        one = {name: values[-1] for name, values in query.items()}
        raw_limit = one.get("limit", "20")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            return _anthropic_error(400, "limit: Input should be between 1 and 1000")
        limit = int(raw_limit)
        newest = list(reversed(self.message_batches))
        for cursor in ("after_id", "before_id"):
            if cursor in one and one[cursor] not in self.message_batches:
                return _anthropic_error(400, f"{cursor}: no such batch")
        if "after_id" in one:
            newest = newest[newest.index(one["after_id"]) + 1 :]
            page, more = newest[:limit], len(newest) > limit
        elif "before_id" in one:
            newer = newest[: newest.index(one["before_id"])]
            page, more = newer[-limit:], len(newer) > limit
        else:
            page, more = newest[:limit], len(newest) > limit
        data = [self._anthropic_view(self.message_batches[i], base) for i in page]
        return _json(200, {"data": data, "has_more": more,
                           "first_id": page[0] if page else None,
                           "last_id": page[-1] if page else None})  # fmt: skip

    def _message_batch(self, raw: bytes, base: str) -> Answer:
        body = json.loads(raw or b"{}")
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return _anthropic_error(400, "requests: Field required")
        seen: set[str] = set()
        for i, item in enumerate(requests):
            custom_id = item.get("custom_id")
            if (
                not isinstance(custom_id, str)
                or not CUSTOM_ID.match(custom_id)
                or custom_id in seen
            ):
                return _anthropic_error(400, f"requests.{i}.custom_id: invalid or not unique")
            seen.add(custom_id)
            params = item.get("params") or {}
            for name in ("model", "max_tokens", "messages"):
                if name not in params:
                    return _anthropic_error(400, f"requests.{i}.params.{name}: Field required")
            if params.get("stream"):
                return _anthropic_error(400, f"requests.{i}.params.stream: not allowed in a batch")
        batch_id = "msgbatch_" + secrets.token_hex(10)
        self.message_batches[batch_id] = {
            "id": batch_id, "requests": requests, "created": time.time(), "cancelled_at": None,
        }  # fmt: skip
        return _json(200, self._anthropic_view(self.message_batches[batch_id], base))

    def _anthropic_view(self, batch: dict[str, Any], base: str) -> dict[str, Any]:
        now = time.time()
        cancelled = batch["cancelled_at"] is not None
        ended = cancelled or now >= batch["created"] + self.delay
        total = len(batch["requests"])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch["created"]))
        created = datetime.fromtimestamp(batch["created"], UTC).isoformat().replace("+00:00", "Z")
        return {
            "id": batch["id"], "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else total,
                "succeeded": total if ended and not cancelled else 0,
                "errored": 0, "canceled": total if cancelled else 0, "expired": 0,
            },
            "ended_at": stamp if ended else None, "created_at": created,
            "expires_at": stamp, "archived_at": None,
            "cancel_initiated_at": stamp if cancelled else None,
            "results_url": f"{base}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }  # fmt: skip
