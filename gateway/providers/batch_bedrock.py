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
error code and message, which carry no secret."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any
from urllib.parse import urlparse

from gateway import errors
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.providers.base import adapter_for

API = "bedrock"
WIRE = "bedrock"  # the codec its records speak (Converse)
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


class BedrockBatches:
    """One deployment's Bedrock batch inference: ``create`` (input to S3, then the
    job), ``retrieve``, ``cancel`` (``StopModelInvocationJob``), ``results`` (the
    ``.out`` file) and ``clean`` (the batch's S3 objects)."""

    def __init__(self, provider: ProviderEntry, deployment: DeploymentEntry) -> None:
        self.provider = provider
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
        if endpoint and not settings.access_key:
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

    async def retrieve(self, job_arn: str) -> dict[str, Any]:
        answer = await self._call("bedrock", "get_model_invocation_job", jobIdentifier=job_arn)
        answer.pop("ResponseMetadata", None)
        return dict(answer)

    async def cancel(self, job_arn: str) -> dict[str, Any]:
        await self._call("bedrock", "stop_model_invocation_job", jobIdentifier=job_arn)
        return {}

    async def results(self, batch_id: str, answer: dict[str, Any]) -> bytes:
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


def read(answer: dict[str, Any]) -> tuple[str, int, int, bool]:
    """(status in OpenAI's words, completed, failed, ended) of a job."""
    state = str(answer.get("status") or "")
    done = int(answer.get("successRecordCount") or 0)
    failed = int(answer.get("errorRecordCount") or 0)
    return STATUS.get(state, "in_progress"), done, failed, state in ENDED


__all__ = [
    "API",
    "BedrockBatches",
    "ENDED",
    "STATUS",
    "WIRE",
    "min_records",
    "missing_settings",
    "read",
    "record_id",
    "token_of",
]
