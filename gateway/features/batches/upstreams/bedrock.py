"""Bedrock batch inference (``CreateModelInvocationJob``), through botocore: the input
JSONL goes to S3, a job of the control-plane service ``bedrock`` (not the runtime)
reads it, and the job's output is read back from S3.

Layout, under the provider's ``batch_s3_uri`` (``s3://bucket/prefix``):
``{prefix}/{batch id}/input/{batch id}.jsonl`` (one ``{"recordId", "modelInput"}`` a
line) and the job's output folder ``{prefix}/{batch id}/output/``, where Bedrock writes
``{job id}/{input file name}.out`` (``{"recordId", "modelInput", "modelOutput"}`` or
``"error": {"errorCode", "errorMessage"}``) and ``manifest.json.out``
(https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html,
https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html).
Jobs use the ``Converse`` invocation type, so records are Converse request bodies
(without ``modelId``: it is the job's) and outputs Converse responses. Bedrock assumes
the provider's ``batch_role_arn`` to read and write that location.

Settings (the provider's): ``batch_s3_uri`` and ``batch_role_arn`` (both needed, or the
provider has no batch API), ``batch_min_records`` (Bedrock's "Minimum number of records
per batch inference job" quota, 100 by default, per
https://docs.aws.amazon.com/general/latest/gr/bedrock.html; smaller batches run in the
gateway), and for tests or private endpoints ``aws_bedrock_endpoint`` (the control
plane's URL) and ``batch_s3_endpoint``. Credentials and region are the deployment's, as
the Bedrock provider resolves them (``bedrock.BedrockProvider.settings``).

Every call is blocking botocore work run in a thread: these are a handful of background
calls per batch from the batch runner, never on the request path. Failures raise
``UpstreamError`` with the AWS status (a 5xx as 502, throttling as 429) and the AWS
error code and message, which carry no secret.

Driving: ``submit`` translates each line by the codecs (``translate.parsed_line``, then
``built_line``) into a Converse request, its image and document URLs fetched first as a
live request's are (Converse and the job read bytes only), written as ``{"recordId":
<line index>, "modelInput": ...}``, and the JSONL goes up with the job made at once.
``read``: the job's state in OpenAI's words. ``results``: the ``.out`` records are
translated back into the batch's format (``translate.client_answer``) under the
caller's custom_ids; a record's ``error`` becomes an errored line; a line the codecs
could not translate or whose media could not be fetched (so it never went up) is an
errored line with the reason, as is a line the job gave no record for. ``finish``: the
batch's S3 objects are deleted.

Price: Bedrock bills batch inference at 50 % of on-demand for the models that support
it ("Batch ... 50% cost savings vs on-demand" on
https://docs.aws.amazon.com/bedrock/latest/userguide/capacity-limits-cost-optimization.html,
per-model prices on https://aws.amazon.com/bedrock/pricing/)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from typing import Any
from urllib.parse import urlparse

import orjson

from gateway.base import db_work, errors
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import GatewayError, UpstreamError
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.features.batches import translate
from gateway.features.batches.upstreams.base import (
    Line,
    Progress,
    Result,
    Save,
    UpstreamBatches,
    batch_lines,
)
from gateway.models.batches import Batch
from gateway.providers.base import adapter_for

WIRE = "bedrock"  # the codec its records speak (Converse)
FETCHES_AT_ONCE = 8  # lines whose image or document URLs are fetched at the same time
REQUIRED = ("batch_s3_uri", "batch_role_arn")
MIN_RECORDS = 100
TIMEOUT_HOURS = 24  # the batch's completion window; Bedrock takes 24 to 168
# Job states (GetModelInvocationJob.status) in OpenAI's words, and which are final
STATUS = {
    "Submitted": "validating",
    "Validating": "validating",
    "Scheduled": "in_progress",
    "InProgress": "in_progress",
    "Stopping": "cancelling",
    "Stopped": "cancelled",
    "Completed": "completed",
    "PartiallyCompleted": "completed",
    "Failed": "failed",
    "Expired": "expired",
}
ENDED = frozenset({"Stopped", "Completed", "PartiallyCompleted", "Failed", "Expired"})
_NAME_BAD = re.compile(r"[^a-zA-Z0-9]+")


def missing_settings(provider: ProviderEntry) -> list[str]:
    """The settings the provider lacks for batch inference (empty: it has them)."""
    return [name for name in REQUIRED if not str(provider.settings.get(name) or "").strip()]


def min_records(provider: ProviderEntry) -> int:
    """The fewest lines a batch sent to this provider's batch inference may have."""
    try:
        return max(1, int(provider.settings.get("batch_min_records") or MIN_RECORDS))
    except (TypeError, ValueError):
        return MIN_RECORDS


def record_id(index: int) -> str:
    """A line's ``recordId``: its index, as the 11-character alphanumeric id the docs
    show (the caller's custom_id may hold characters Bedrock does not take)."""
    return f"{index:011d}"


def token_of(batch_id: str) -> str:
    """The batch id as a ``clientRequestToken`` and job name (letters, digits, dashes):
    the same batch always makes the same token, so a create whose answer was lost is
    answered with the job it made, not made twice."""
    return _NAME_BAD.sub("-", batch_id).strip("-")[:63] or "batch"


def _setting(provider: ProviderEntry, name: str) -> str:
    value = str(provider.settings.get(name) or "").strip()
    if not value:
        return ""
    try:
        return resolve_secret(value) or ""
    except errors.MissingSecret as exc:
        raise errors.ConfigurationError(f"provider {provider.name!r}: {name}: {exc}") from None


class BedrockBatches(UpstreamBatches):
    """One deployment's Bedrock batch inference: ``create`` (input to S3, then the
    job), ``retrieve``, ``cancel`` (``StopModelInvocationJob``), ``output`` (the
    ``.out`` file) and ``clean`` (the batch's S3 objects)."""

    api = "bedrock"
    wire = WIRE
    deployment: DeploymentEntry

    def __init__(self, provider: ProviderEntry, deployment: DeploymentEntry | None = None) -> None:
        if deployment is None:
            raise GatewayError("Bedrock batch inference needs the deployment")
        super().__init__(provider, deployment)
        self.deployment = deployment
        location = urlparse(_setting(provider, "batch_s3_uri"))
        if location.scheme != "s3" or not location.netloc:
            raise errors.ConfigurationError(
                f"provider {provider.name!r}: batch_s3_uri must be s3://bucket/prefix"
            )
        self.bucket = location.netloc
        self.prefix = location.path.strip("/")
        self.role_arn = _setting(provider, "batch_role_arn")
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    # --- choosing ------------------------------------------------------------------------

    @classmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        return provider.kind == "bedrock" and not missing_settings(provider)

    @classmethod
    def why_not(cls, provider: ProviderEntry) -> str:
        if provider.kind != "bedrock":
            return ""
        missing = " and ".join(missing_settings(provider))
        return f"provider {provider.name!r} has no {missing} setting (Bedrock batch inference)"

    @classmethod
    def min_lines(cls, provider: ProviderEntry) -> int:
        return min_records(provider)

    @classmethod
    def refuses(cls, endpoint: str, bodies: list[dict[str, Any]]) -> str:
        """Batch inference has no tool calling and no structured output ("Batch
        inference does not support tool calling (function calling) or structured
        output", https://docs.aws.amazon.com/bedrock/latest/userguide/
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

    # --- where ---------------------------------------------------------------------

    def folder(self, batch_id: str) -> str:
        name = token_of(batch_id)
        return f"{self.prefix}/{name}" if self.prefix else name

    def input_key(self, batch_id: str) -> str:
        return f"{self.folder(batch_id)}/input/{token_of(batch_id)}.jsonl"

    def output_uri(self, batch_id: str) -> str:
        return f"s3://{self.bucket}/{self.folder(batch_id)}/output/"

    # --- botocore ------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        """A botocore client for ``bedrock`` or ``s3`` signed with the deployment's
        credentials (built once per instance; blocking: call in a thread)."""
        with self._lock:
            if service in self._clients:
                return self._clients[service]
        import botocore.config
        import botocore.session

        from gateway.providers import aws

        adapter: Any = adapter_for(self.provider)  # a BedrockProvider
        settings = adapter.settings(self.deployment)
        region = settings.region or (
            aws.profile_region(settings.profile) if settings.profile else None
        )
        if not region:
            raise errors.ConfigurationError(
                f"deployment {self.deployment.label!r}: no AWS region: set aws_region_name"
            )
        session = (
            botocore.session.Session(profile=settings.profile)
            if settings.profile and not settings.access_key
            else botocore.session.get_session()
        )
        keys: dict[str, Any] = {}
        if settings.access_key:
            keys = {
                "aws_access_key_id": settings.access_key,
                "aws_secret_access_key": settings.secret_key,
                "aws_session_token": settings.token,
            }
        endpoint = _setting(
            self.provider, "aws_bedrock_endpoint" if service == "bedrock" else "batch_s3_endpoint"
        )
        if endpoint and not settings.access_key and not self.provider.from_operator:
            # botocore finds the official endpoints itself: a custom one with the host's
            # credentials would sign (and send the session token) to an admin's server
            from gateway.providers import ambient
            from gateway.providers.bedrock import HOST_CREDENTIALS

            problem = ambient.refusal(HOST_CREDENTIALS, endpoint, official=False)
            if problem:
                raise errors.ConfigurationError(f"provider {self.provider.name!r}: {problem}")
        config = botocore.config.Config(
            retries={"total_max_attempts": 2, "mode": "standard"},  # the runner waits longer
            connect_timeout=10,
            read_timeout=60,
            **({"s3": {"addressing_style": "path"}} if service == "s3" and endpoint else {}),
        )
        try:
            client = session.create_client(
                service, region_name=region, endpoint_url=endpoint or None, config=config, **keys
            )
        except Exception as exc:
            raise errors.ConfigurationError(
                f"provider {self.provider.name!r}: AWS {service} client: {type(exc).__name__}"
            ) from None
        with self._lock:
            self._clients.setdefault(service, client)
            return self._clients[service]

    async def _call(self, service: str, operation: str, **params: Any) -> Any:
        def run() -> Any:
            return getattr(self._client(service), operation)(**params)

        try:
            return await asyncio.to_thread(run)
        except errors.GatewayError:
            raise
        except Exception as exc:
            raise self._error(service, operation, exc) from None

    def _error(self, service: str, operation: str, exc: Exception) -> errors.UpstreamError:
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            error = response.get("Error") or {}
            code = str(error.get("Code") or "")
            status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 500)
            message = str(error.get("Message") or "")[:400]
            if code in ("ThrottlingException", "SlowDown", "TooManyRequestsException"):
                status = 429
            reason = f"{code}: {message}" if message else code
        else:  # no connection, a timeout: the upstream is away
            status, reason = 503, type(exc).__name__
        return errors.UpstreamError(
            f"upstream provider {self.provider.name!r}: AWS {service} {operation} "
            f"failed ({reason})",
            status=status if status < 500 else 502,
        )

    # --- the batch API ---------------------------------------------------------------

    async def create(self, batch_id: str, content: bytes) -> dict[str, Any]:
        """Upload the records and make the job (``clientRequestToken`` the batch's: a
        second call for the same batch answers the first job). ``{"id": job ARN}``."""
        await self._call(
            "s3",
            "put_object",
            Bucket=self.bucket,
            Key=self.input_key(batch_id),
            Body=content,
            ContentType="application/jsonl",
        )
        name = token_of(batch_id)
        answer = await self._call(
            "bedrock",
            "create_model_invocation_job",
            jobName=f"switchyard-{name}"[:63],
            roleArn=self.role_arn,
            clientRequestToken=name,
            modelId=self.deployment.model,
            modelInvocationType="Converse",
            inputDataConfig={
                "s3InputDataConfig": {
                    "s3InputFormat": "JSONL",
                    "s3Uri": f"s3://{self.bucket}/{self.input_key(batch_id)}",
                }
            },
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": self.output_uri(batch_id)}},
            timeoutDurationInHours=TIMEOUT_HOURS,
        )
        return {"id": str(answer["jobArn"])}

    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        """The job (``upstream_id``: its ARN)."""
        answer = await self._call("bedrock", "get_model_invocation_job", jobIdentifier=upstream_id)
        answer.pop("ResponseMetadata", None)
        return dict(answer)

    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        await self._call("bedrock", "stop_model_invocation_job", jobIdentifier=upstream_id)
        return {}

    async def output(self, batch_id: str, answer: dict[str, Any]) -> bytes:
        """The job's ``.out`` file (empty when the job wrote none)."""
        job_id = str(answer.get("jobArn") or "").rsplit("/", 1)[-1]
        output = urlparse(self.output_uri(batch_id)).path.strip("/")
        key = f"{output}/{job_id}/{token_of(batch_id)}.jsonl.out"

        def read() -> bytes:
            client = self._client("s3")
            try:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except client.exceptions.NoSuchKey:
                return b""
            with body:
                return bytes(body.read())

        try:
            return await asyncio.to_thread(read)
        except errors.GatewayError:
            raise
        except Exception as exc:
            raise self._error("s3", "get_object", exc) from None

    async def clean(self, batch_id: str) -> None:
        """Delete the batch's input and output objects."""

        def delete() -> None:
            client = self._client("s3")
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.folder(batch_id) + "/"
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents") or []]
                if keys:
                    client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})

        try:
            await asyncio.to_thread(delete)
        except errors.GatewayError:
            raise
        except Exception as exc:
            raise self._error("s3", "delete_objects", exc) from None

    # --- driving ------------------------------------------------------------------------

    async def submit(
        self, batch: Batch, deployment: DeploymentEntry, lines: list[Line], save: Save
    ) -> None:
        """Upload the records and make the job; its ARN saved at once (made again after a
        lost answer, the batch id as the idempotency token finds the same job)."""
        parsed = await asyncio.to_thread(_parsed, batch, deployment, lines)
        requests = await _fetched(parsed)
        content = await asyncio.to_thread(_records, deployment, requests)
        made = await self.create(batch.id, content)
        batch.upstream_batch_id = str(made["id"])
        await save("upstream_batch_id", batch.upstream_batch_id)

    @staticmethod
    def read(answer: dict[str, Any]) -> Progress:
        state = str(answer.get("status") or "")
        done = int(answer.get("successRecordCount") or 0)
        failed = int(answer.get("errorRecordCount") or 0)
        return STATUS.get(state, "in_progress"), done, failed, state in ENDED

    async def results(
        self, batch: Batch, deployment: DeploymentEntry, answer: dict[str, Any], status: str
    ) -> tuple[dict[str, Result], str]:
        """The ended job's results by custom_id, and its status in OpenAI's words
        (``failed:<why>`` when the job failed without a result)."""
        lines = await db_work.arun(batch_lines, batch.id)
        data = await self.output(batch.id, answer)
        results = await _collected(batch, deployment, lines, data, status)
        if status == "failed" and not any(r[0] == "succeeded" for r in results.values()):
            why = str(answer.get("message") or "") or "the Bedrock job failed"
            return results, "failed:" + why[:500]
        return results, status

    async def finish(self, batch: Batch) -> None:
        """Delete the batch's input and output objects (kept when S3 refuses: logged by
        the caller)."""
        await self.clean(batch.id)


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
        out.append(orjson.dumps({"recordId": record_id(index), "modelInput": body}))
    return b"\n".join(out) + b"\n"


def _error_body(endpoint: str, status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if 400 <= status < 500 else "api_error"
    if endpoint == "/v1/messages":
        return {"type": "error", "error": {"type": kind, "message": message}}
    return {"error": {"message": message, "type": kind, "code": None}}


def _results(
    batch: Batch, deployment: DeploymentEntry, lines: list[Line], data: bytes
) -> dict[str, Result]:
    by_record = {record_id(i): line for i, line in enumerate(lines)}
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
                    batch.endpoint, body, item["modelOutput"], deployment, WIRE
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


__all__ = [
    "BedrockBatches",
    "ENDED",
    "STATUS",
    "WIRE",
    "min_records",
    "missing_settings",
    "record_id",
    "token_of",
]
