"""AWS Bedrock through the Converse API: HTTP and auth only (the wire format is
``gateway.codecs.bedrock``).

Where: ``{endpoint}/model/{modelId}/converse`` (``/converse-stream`` for streams), the
endpoint being the provider's ``base_url``, the deployment's
``aws_bedrock_runtime_endpoint``, or ``https://bedrock-runtime.{region}.amazonaws.com``.
The model id (ARNs, inference profiles, ``:0`` versions) is percent-encoded into the path
and the request is signed over exactly the bytes and path sent.

Auth: SigV4 for service ``bedrock`` by botocore. Credentials, in order: the deployment's
``aws_access_key_id`` with ``aws_secret_access_key`` (or the provider's secret) and an
optional ``aws_session_token``; a named ``aws_profile_name``; botocore's default chain
(environment, shared files, container or instance role). Region: ``aws_region_name``,
then ``AWS_REGION``/``AWS_DEFAULT_REGION``, then the profile's. Every value may be
``os.environ/NAME``. Profiles and the default chain are resolved once per process (in a
thread: the chain may read files or call the instance metadata service) and refreshed by
botocore when temporary; static keys cost nothing per request. Missing or unusable
credentials are a ``ConfigurationError``: routing moves on at once, never retries.

Streams are ``application/vnd.amazon.eventstream`` frames: this module registers the
``aws-eventstream`` de-framer (botocore's parser, CRCs checked).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

import httpx
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from .. import errors
from ..codecs.base import WireEvent
from ..codecs.bedrock import codec as bedrock_codec
from ..models import MissingSecret, resolve_secret
from ..registry import DeploymentEntry
from ..types import ChatRequest
from . import wire
from .base import register
from .codec_provider import DEFRAMERS, CodecProvider, target_of

SERVICE = "bedrock"
# Deployment params that steer this provider; never sent upstream as model parameters.
CONTROL_PARAMS = frozenset(
    {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "aws_profile_name",
        "aws_bedrock_runtime_endpoint",
        "aws_role_name",
        "aws_session_name",
        "aws_web_identity_token",
        "aws_sts_endpoint",
        "aws_external_id",
    }
)
UNSUPPORTED_PARAMS = ("aws_role_name", "aws_web_identity_token")


# --- the event-stream de-framer ----------------------------------------------------------


def wire_event(message: EventStreamMessage) -> WireEvent:
    """One decoded frame: an event by its ``:event-type``; an exception or error frame as
    ``WireEvent("exception", {"type", "message", ...})``."""
    headers = message.headers
    try:
        payload = orjson.loads(message.payload) if message.payload else {}
    except orjson.JSONDecodeError:
        payload = {"message": message.payload.decode("utf-8", "replace")[:500]}
    if not isinstance(payload, dict):
        payload = {"value": payload}
    kind = headers.get(":message-type", "event")
    if kind == "exception":
        return WireEvent("exception", {**payload, "type": headers.get(":exception-type")})
    if kind == "error":
        return WireEvent(
            "exception",
            {"type": headers.get(":error-code"), "message": headers.get(":error-message")},
        )
    return WireEvent(headers.get(":event-type"), payload)


async def aws_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[WireEvent]:
    """AWS event-stream frames (any chunking) as ``WireEvent``s. A frame that fails its
    CRC or length checks ends the stream with an ``UpstreamError``."""
    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        while True:
            try:
                message = next(buffer)
            except StopIteration:
                break
            except ParserError as exc:
                raise errors.UpstreamError(
                    f"Bedrock sent a corrupt event-stream frame ({type(exc).__name__})",
                    status=502,
                ) from None
            yield wire_event(message)


DEFRAMERS["aws-eventstream"] = aws_events


# --- credentials ------------------------------------------------------------------------


@dataclasses.dataclass(slots=True, frozen=True)
class AwsConfig:
    """What signing one deployment's request needs (secrets resolved, never logged)."""

    region: str
    endpoint: str
    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None
    profile: str | None = None


_sources: dict[str | None, Credentials | None] = {}  # profile (None: default chain)
_sources_lock = threading.Lock()


def _chain_credentials(profile: str | None) -> Credentials | None:
    """The profile's (or the default chain's) credentials, looked up once per process."""
    with _sources_lock:
        if profile in _sources:
            return _sources[profile]
    try:
        found = Session(profile=profile).get_credentials()
    except BotoCoreError as exc:
        raise errors.ConfigurationError(f"AWS credentials: {exc}") from None
    if found is not None:  # none found: look again next time (the setup may be fixed)
        with _sources_lock:
            _sources[profile] = found
    return found


def _profile_region(profile: str | None) -> str | None:
    try:
        return Session(profile=profile).get_config_variable("region")
    except BotoCoreError:
        return None


def forget_credentials() -> None:
    """Drop cached profile/default-chain credentials (tests; rotated profiles)."""
    with _sources_lock:
        _sources.clear()


async def frozen_credentials(config: AwsConfig) -> ReadOnlyCredentials:
    """Credentials to sign with now. Static keys are used as given; chain credentials are
    fetched (and refreshed when near expiry) off the event loop."""
    if config.access_key and config.secret_key:
        return ReadOnlyCredentials(config.access_key, config.secret_key, config.token)
    cached = _sources.get(config.profile)
    if cached is None:
        cached = await asyncio.to_thread(_chain_credentials, config.profile)
    if cached is None:
        where = f"profile {config.profile!r}" if config.profile else "the default AWS chain"
        raise errors.ConfigurationError(
            f"no AWS credentials: set aws_access_key_id and aws_secret_access_key, or "
            f"aws_profile_name, on the deployment (looked in {where})"
        )
    try:
        if isinstance(cached, RefreshableCredentials) and cached.refresh_needed():
            return await asyncio.to_thread(cached.get_frozen_credentials)
        return cached.get_frozen_credentials()
    except BotoCoreError as exc:
        raise errors.ConfigurationError(f"AWS credentials could not be refreshed: {exc}") from None


def sign_request(
    credentials: ReadOnlyCredentials,
    region: str,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
) -> dict[str, str]:
    """SigV4 headers (``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``) for
    exactly this method, URL (path as sent, already percent-encoded), headers and body."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    try:
        SigV4Auth(
            Credentials(credentials.access_key, credentials.secret_key, credentials.token),
            SERVICE,
            region,
        ).add_auth(request)
    except BotoCoreError as exc:
        raise errors.ConfigurationError(f"SigV4 signing failed: {exc}") from None
    return {
        name: value
        for name, value in request.headers.items()
        if name.lower() in ("authorization", "x-amz-date", "x-amz-security-token")
    }


# --- the provider -------------------------------------------------------------------------


@register
class BedrockProvider(CodecProvider):
    kind = "bedrock"
    codec = bedrock_codec

    def config(self, deployment: DeploymentEntry) -> AwsConfig:
        """The deployment's AWS settings, ``os.environ/NAME`` values resolved now."""
        params = deployment.params or {}
        name = f"deployment {deployment.label!r}"
        for unsupported in UNSUPPORTED_PARAMS:
            if params.get(unsupported):
                raise errors.ConfigurationError(
                    f"{name}: {unsupported} (assuming a role) is not supported; give keys "
                    "or aws_profile_name (a profile may assume the role itself)"
                )

        def read(key: str) -> str | None:
            value = params.get(key)
            if value in (None, ""):
                return None
            try:
                return resolve_secret(str(value)) or None
            except MissingSecret as exc:
                raise errors.ConfigurationError(f"{name}: {key}: {exc}") from None

        access_key = read("aws_access_key_id")
        secret_key = read("aws_secret_access_key")
        if secret_key is None and self.provider.secret:
            try:
                secret_key = resolve_secret(self.provider.secret) or None
            except MissingSecret as exc:
                raise errors.ConfigurationError(f"provider {self.provider.name!r}: {exc}") from None
        if bool(access_key) != bool(secret_key):
            missing = "aws_secret_access_key" if access_key else "aws_access_key_id"
            raise errors.ConfigurationError(f"{name}: {missing} is not set (keys come in pairs)")
        profile = read("aws_profile_name")
        region = (
            read("aws_region_name")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or (_profile_region(profile) if profile else None)
        )
        if not region:
            raise errors.ConfigurationError(
                f"{name}: no AWS region: set aws_region_name (or AWS_REGION)"
            )
        endpoint = (
            read("aws_bedrock_runtime_endpoint")
            or self.provider.base_url
            or f"https://bedrock-runtime.{region}.amazonaws.com"
        )
        return AwsConfig(
            region=region,
            endpoint=endpoint.rstrip("/"),
            access_key=access_key,
            secret_key=secret_key,
            token=read("aws_session_token") if access_key else None,
            profile=profile,
        )

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        return self._url(self.config(deployment), deployment, stream)

    @staticmethod
    def _url(config: AwsConfig, deployment: DeploymentEntry, stream: bool) -> str:
        model = quote(deployment.model, safe="")  # ARNs: ':' and '/' inside one segment
        return f"{config.endpoint}/model/{model}/{'converse-stream' if stream else 'converse'}"

    async def _prepare(  # signing needs the deployment (region, keys): done here
        self, request: ChatRequest, deployment: DeploymentEntry, stream: bool
    ) -> tuple[str, bytes, dict[str, str]]:
        config = self.config(deployment)
        target = target_of(deployment)
        params = {k: v for k, v in target.params.items() if k not in CONTROL_PARAMS}
        body = self.codec.build_request(request, dataclasses.replace(target, params=params))
        url = self._url(config, deployment, stream)
        content = orjson.dumps(body)
        _secret, extra = wire.credentials(self.provider)
        headers = {
            **extra,
            "Content-Type": "application/json",
            "Accept": "application/vnd.amazon.eventstream" if stream else "application/json",
        }
        credentials = await frozen_credentials(config)
        headers.update(sign_request(credentials, config.region, "POST", url, content, headers))
        return url, content, headers

    def _error(self, response: httpx.Response, raw: bytes) -> errors.UpstreamError:
        error_type = response.headers.get("x-amzn-errortype")
        error = self.codec.parse_error(response.status_code, raw, error_type)  # type: ignore[call-arg]
        if error.retry_after is None:
            error.retry_after = wire.retry_after(response)
        return error


__all__ = ["BedrockProvider", "aws_events", "sign_request", "wire_event"]
