"""A mock Bedrock control plane on 127.0.0.1 for batch inference, as strict as the
documented service (https://docs.aws.amazon.com/bedrock/latest/APIReference/
API_CreateModelInvocationJob.html, batch-inference-data, batch-inference-results):

- ``POST /model-invocation-job`` (CreateModelInvocationJob): jobName, roleArn, modelId,
  inputDataConfig.s3InputDataConfig.s3Uri and outputDataConfig.s3OutputDataConfig.s3Uri
  required and checked against the API's patterns, timeoutDurationInHours 24-168,
  modelInvocationType InvokeModel or Converse; the input object must exist in S3 (read
  from the moto server) as JSONL of ``{"recordId", "modelInput"}`` with at least
  ``min_records`` records; a repeated ``clientRequestToken`` answers the job it made;
  a job name already used is a ConflictException. ``{"jobArn"}``.
- ``GET /model-invocation-job/{jobIdentifier}`` (GetModelInvocationJob): the job, its
  status worked out when read (Submitted, then InProgress, then Completed ``delay``
  seconds after it was made, when its ``.out`` file and ``manifest.json.out`` are
  written to S3 under ``{output uri}/{job id}/``).
- ``POST /model-invocation-job/{jobIdentifier}/stop``: Stopping, then Stopped (no output).

Each record is "run" as Converse would answer it: ``{"output": {"message": ...},
"stopReason", "usage": {"inputTokens": 10, "outputTokens": 5, ...}}`` answering
``batched: <last user text>``; a record whose modelInput is not a Converse body (no
messages, a modelId, an unknown field) or whose text says ``please fail`` gets an
``error`` instead. Every request's SigV4 signature is recomputed (``tests.aws``) for
service ``bedrock``: a wrong one is 403 InvalidSignatureException. Errors carry their
type in ``x-amzn-ErrorType`` and ``{"message"}`` as AWS's rest-json services do."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

from tests.aws import ACCESS_KEY, REGION, verify_sigv4
from tests.s3_server import ACCESS_KEY as S3_KEY
from tests.s3_server import SECRET_KEY as S3_SECRET
from tests.s3_server import s3_server

ACCOUNT = "123456789012"
JOB_NAME = re.compile(r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$")
TOKEN = re.compile(r"^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$")
ROLE = re.compile(r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
CONVERSE_FIELDS = {
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
    "additionalModelRequestFields", "promptVariables", "additionalModelResponseFieldPaths",
    "requestMetadata", "performanceConfig",
}  # fmt: skip
INFERENCE = {"maxTokens", "temperature", "topP", "stopSequences"}
# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html and
# API_runtime_DocumentBlock.html
IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}
DOCUMENT_FORMATS = {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}


class AwsError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _stamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s3_path(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _last_text(model_input: dict[str, Any]) -> str:
    content = model_input["messages"][-1].get("content") or []
    return " ".join(str(b["text"]) for b in content if isinstance(b, dict) and "text" in b)


def _media_problem(block: Any) -> str | None:
    """Why an image or document block is not one Converse takes: its bytes base64 in
    ``source.bytes`` (the JSONL form of a blob), never a URL."""
    for kind, formats in (("image", IMAGE_FORMATS), ("document", DOCUMENT_FORMATS)):
        media = block.get(kind) if isinstance(block, dict) else None
        if media is None:
            continue
        source = media.get("source") if isinstance(media, dict) else None
        if not isinstance(source, dict) or set(source) != {"bytes"}:
            return f"{kind}.source must be {{'bytes': <base64>}}: batch inference reads no URL"
        try:
            base64.b64decode(source["bytes"], validate=True)
        except (TypeError, ValueError):
            return f"{kind}.source.bytes is not base64"
        if media.get("format") not in formats:
            return f"{kind}.format must be one of {sorted(formats)}"
    return None


def converse_problem(model_input: Any) -> str | None:
    """Why a record's modelInput is not a Converse request body (None: it is)."""
    if not isinstance(model_input, dict):
        return "modelInput must be a JSON object"
    unknown = set(model_input) - CONVERSE_FIELDS
    if unknown:
        return f"modelInput has fields Converse does not take: {sorted(unknown)}"
    messages = model_input.get("messages")
    if not isinstance(messages, list) or not messages:
        return "modelInput.messages must be a non-empty list"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return "each message needs a role of user or assistant"
        if not isinstance(message.get("content"), list) or not message["content"]:
            return "each message needs a non-empty content list"
        for block in message["content"]:
            problem = _media_problem(block)
            if problem:
                return problem
    if messages[0]["role"] != "user":
        return "A conversation must start with a user message."
    config = model_input.get("inferenceConfig") or {}
    if not isinstance(config, dict) or set(config) - INFERENCE:
        return f"inferenceConfig takes only {sorted(INFERENCE)}"
    return None


def converse_answer(model_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant",
                               "content": [{"text": f"batched: {_last_text(model_input)}"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        "metrics": {"latencyMs": 12},
    }  # fmt: skip


class MockBedrockBatch:
    def __init__(self, s3_endpoint: str) -> None:
        import botocore.session

        self.s3 = botocore.session.get_session().create_client(
            "s3",
            region_name="us-east-1",
            endpoint_url=s3_endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
        )
        self.delay = 0.5
        self.min_records = 2
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> what it was given, and state
        self.calls: list[tuple[str, str]] = []  # (method, operation)
        self.failures: list[int] = []  # statuses answered to the next calls, in order
        self.lose_create_answer = False  # make the next job, then cut the connection
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MockBedrockBatch:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.delay = 0.5
            self.jobs.clear()
            self.calls.clear()
            self.failures.clear()
            self.lose_create_answer = False

    # --- operations ----------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("clientRequestToken")
        if token is not None and not (isinstance(token, str) and TOKEN.match(token)):
            raise AwsError(400, "ValidationException", "clientRequestToken fails its pattern")
        for job in self.jobs.values():
            if token and job["clientRequestToken"] == token:
                return {"jobArn": job["jobArn"]}  # the same request again: the same job
        name = body.get("jobName")
        if not isinstance(name, str) or not JOB_NAME.match(name):
            raise AwsError(400, "ValidationException", "jobName is required and fails its pattern")
        if not isinstance(body.get("roleArn"), str) or not ROLE.match(body["roleArn"]):
            raise AwsError(400, "ValidationException", "roleArn is required and must be a role ARN")
        if not isinstance(body.get("modelId"), str) or not body["modelId"]:
            raise AwsError(400, "ValidationException", "modelId is required")
        kind = body.get("modelInvocationType", "InvokeModel")
        if kind not in ("InvokeModel", "Converse"):
            raise AwsError(400, "ValidationException", "modelInvocationType is not valid")
        hours = body.get("timeoutDurationInHours", 24)
        if not isinstance(hours, int) or not 24 <= hours <= 168:
            raise AwsError(400, "ValidationException", "timeoutDurationInHours must be 24-168")
        source = ((body.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}).get("s3Uri")
        target = ((body.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri")
        if not isinstance(source, str) or not source.startswith("s3://"):
            raise AwsError(400, "ValidationException", "inputDataConfig s3Uri is required")
        if not isinstance(target, str) or not target.startswith("s3://"):
            raise AwsError(400, "ValidationException", "outputDataConfig s3Uri is required")
        if any(job["jobName"] == name for job in self.jobs.values()):
            raise AwsError(400, "ConflictException", f"a job named {name} already exists")
        records = self._read_input(source)
        if len(records) < self.min_records:
            raise AwsError(
                400,
                "ValidationException",
                f"the job has {len(records)} records; the minimum is {self.min_records}",
            )
        job_id = secrets.token_hex(6)
        arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-invocation-job/{job_id}"
        now = time.time()
        self.jobs[job_id] = {
            "jobArn": arn,
            "jobName": name,
            "modelId": body["modelId"],
            "clientRequestToken": token or "",
            "roleArn": body["roleArn"],
            "modelInvocationType": kind,
            "inputDataConfig": body["inputDataConfig"],
            "outputDataConfig": body["outputDataConfig"],
            "timeoutDurationInHours": hours,
            "records": records,
            "input_name": source.rstrip("/").rsplit("/", 1)[-1],
            "created": now,
            "stop_asked": None,
            "ended": None,
            "status": "Submitted",
        }
        return {"jobArn": arn}

    def _read_input(self, uri: str) -> list[dict[str, Any]]:
        bucket, key = _s3_path(uri)
        if not key.endswith(".jsonl"):
            raise AwsError(400, "ValidationException", "the input file must end in .jsonl")
        try:
            data = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception:
            raise AwsError(400, "ValidationException", f"cannot read the input {uri}") from None
        records = []
        for number, text in enumerate(data.splitlines(), 1):
            if not text.strip():
                continue
            try:
                item = json.loads(text)
            except ValueError:
                raise AwsError(400, "ValidationException", f"line {number} is not JSON") from None
            if not isinstance(item, dict) or "modelInput" not in item:
                raise AwsError(400, "ValidationException", f"line {number} has no modelInput")
            records.append(item)
        return records

    def _job(self, identifier: str) -> dict[str, Any]:
        job_id = identifier.rsplit("/", 1)[-1]
        job = self.jobs.get(job_id)
        if job is None or (identifier.startswith("arn:") and identifier != job["jobArn"]):
            raise AwsError(404, "ResourceNotFoundException", f"no job {identifier}")
        return job

    def _advance(self, job: dict[str, Any]) -> None:
        now = time.time()
        if job["ended"] is not None:
            return
        if job["stop_asked"] is not None:
            if now - job["stop_asked"] > 0.2:
                job["status"], job["ended"] = "Stopped", now
            else:
                job["status"] = "Stopping"
        elif now - job["created"] >= self.delay:
            self._run(job)
            job["status"], job["ended"] = "Completed", now
        elif now - job["created"] >= self.delay / 3:
            job["status"] = "InProgress"

    def _run(self, job: dict[str, Any]) -> None:
        """Each record answered (or refused), the output and manifest written to S3."""
        out, good, bad = [], 0, 0
        for record in job["records"]:
            model_input = record["modelInput"]
            problem = (
                converse_problem(model_input) if job["modelInvocationType"] == "Converse" else None
            )
            if problem is None and "please fail" in _last_text(model_input):
                problem = "The model refused this record (please fail)"
            item: dict[str, Any] = {"recordId": record.get("recordId") or secrets.token_hex(6).upper()[:11],
                                    "modelInput": model_input}  # fmt: skip
            if problem:
                item["error"] = {"errorCode": 400, "errorMessage": problem}
                bad += 1
            else:
                item["modelOutput"] = converse_answer(model_input)
                good += 1
            out.append(json.dumps(item))
        job.update(successRecordCount=good, errorRecordCount=bad, processed=good + bad)
        bucket, prefix = _s3_path(job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"])
        folder = f"{prefix.rstrip('/')}/{job['jobArn'].rsplit('/', 1)[-1]}"
        self.s3.put_object(
            Bucket=bucket, Key=f"{folder}/{job['input_name']}.out", Body="\n".join(out).encode()
        )
        manifest = {"totalRecordCount": len(out), "processedRecordCount": good + bad,
                    "successRecordCount": good, "errorRecordCount": bad,
                    "inputTokenCount": 10 * good, "outputTokenCount": 5 * good}  # fmt: skip
        self.s3.put_object(
            Bucket=bucket, Key=f"{folder}/manifest.json.out", Body=json.dumps(manifest).encode()
        )

    def get(self, identifier: str) -> dict[str, Any]:
        job = self._job(identifier)
        self._advance(job)
        answer = {k: job[k] for k in ("jobArn", "jobName", "modelId", "roleArn", "status",
                                      "inputDataConfig", "outputDataConfig",
                                      "timeoutDurationInHours", "modelInvocationType")}  # fmt: skip
        if job["clientRequestToken"]:
            answer["clientRequestToken"] = job["clientRequestToken"]
        answer.update(
            submitTime=_stamp(job["created"]),
            lastModifiedTime=_stamp(job["ended"] or time.time()),
            jobExpirationTime=_stamp(job["created"] + 3600 * job["timeoutDurationInHours"]),
            totalRecordCount=len(job["records"]),
            processedRecordCount=job.get("processed", 0),
            successRecordCount=job.get("successRecordCount", 0),
            errorRecordCount=job.get("errorRecordCount", 0),
        )
        if job["ended"]:
            answer["endTime"] = _stamp(job["ended"])
        return answer

    def stop_job(self, identifier: str) -> dict[str, Any]:
        job = self._job(identifier)
        self._advance(job)
        if job["ended"] is not None:
            raise AwsError(
                400, "ValidationException", f"the job is {job['status']}; it cannot stop"
            )
        job["stop_asked"] = job["stop_asked"] or time.time()
        job["status"] = "Stopping"
        return {}


def _handler_for(mock: MockBedrockBatch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items()}
            path = urlparse(self.path).path
            problem = verify_sigv4(
                method, f"http://{headers.get('Host', '')}{self.path}", headers, raw
            )
            if problem is None and ACCESS_KEY not in headers.get("Authorization", ""):
                problem = "The security token included in the request is invalid."
            if problem is not None:
                return self._error(AwsError(403, "InvalidSignatureException", problem))
            parts = [unquote(p) for p in path.strip("/").split("/")]
            with mock.lock:
                if mock.failures:
                    status = mock.failures.pop(0)
                    kind = "ThrottlingException" if status == 429 else "InternalServerException"
                    return self._error(AwsError(status, kind, "try again"))
                try:
                    if method == "POST" and parts == ["model-invocation-job"]:
                        mock.calls.append(("POST", "CreateModelInvocationJob"))
                        try:
                            body = json.loads(raw or b"{}")
                        except ValueError:
                            raise AwsError(
                                400, "ValidationException", "the body is not JSON"
                            ) from None
                        answer = mock.create(body)
                        if mock.lose_create_answer:
                            mock.lose_create_answer = False
                            self.close_connection = True  # made, but no answer arrives
                            return None
                    elif method == "GET" and len(parts) == 2 and parts[0] == "model-invocation-job":
                        mock.calls.append(("GET", "GetModelInvocationJob"))
                        answer = mock.get(parts[1])
                    elif (
                        method == "POST"
                        and len(parts) == 3
                        and parts[::2] == ["model-invocation-job", "stop"]
                    ):
                        mock.calls.append(("POST", "StopModelInvocationJob"))
                        answer = mock.stop_job(parts[1])
                    else:
                        raise AwsError(404, "UnknownOperationException", f"{method} {path}")
                except AwsError as exc:
                    return self._error(exc)
            self._send(200, answer, {})
            return None

        def _error(self, error: AwsError) -> None:
            self._send(error.status, {"message": error.message}, {"x-amzn-ErrorType": error.kind})

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", secrets.token_hex(8))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def bedrock_batch_service(bucket: str) -> Iterator[tuple[str, MockBedrockBatch]]:
    """A moto S3 server with ``bucket`` and the mock control plane reading it: what a
    test of Bedrock batch inference needs, as (S3 endpoint, control plane)."""
    with s3_server(bucket) as endpoint:
        control = MockBedrockBatch(endpoint).start()
        try:
            yield endpoint, control
        finally:
            control.stop()
