"""AWS plumbing on botocore, for the Bedrock provider: SigV4 signing, credentials (keys,
a named profile, or the default chain) and the binary event-stream de-framer.

botocore takes about a quarter of a second to import, so ``bedrock`` imports this module
in a worker thread on its first call (``bedrock.aws_module``): processes without a
Bedrock deployment never load it, and the first Bedrock request does not stall the
event loop for everyone else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.eventstream import EventStreamBuffer, EventStreamMessage, ParserError
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from gateway.base import errors
from gateway.codecs.base import WireEvent

SERVICE = "bedrock"


# --- event streams ------------------------------------------------------------------------


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
    """AWS event-stream frames (cut anywhere by the transport) as ``WireEvent``s; CRCs and
    lengths are checked by botocore. A corrupt frame ends the stream with an
    ``UpstreamError``."""
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


# --- credentials ----------------------------------------------------------------------------

_chains: dict[str | None, Credentials] = {}  # profile (None: the default chain)
_regions: dict[str | None, str | None] = {}
_lock = threading.Lock()


def _chain_credentials(profile: str | None) -> Credentials | None:
    """A profile's (or the default chain's) credentials, looked up once per process; a
    failed lookup is not cached, so fixing the setup needs no restart."""
    with _lock:
        if profile in _chains:
            return _chains[profile]
    try:
        found = Session(profile=profile).get_credentials()
    except BotoCoreError as exc:
        raise errors.ConfigurationError(f"AWS credentials: {exc}") from None
    if found is not None:
        with _lock:
            _chains[profile] = found
    return found


def profile_region(profile: str | None) -> str | None:
    """The region a profile (or the default config) names, read once per process."""
    with _lock:
        if profile in _regions:
            return _regions[profile]
    region: str | None
    try:
        region = Session(profile=profile).get_config_variable("region")
    except BotoCoreError:
        region = None
    with _lock:
        _regions[profile] = region
    return region


def forget() -> None:
    """Drop cached chain credentials and regions (tests; a rotated profile)."""
    with _lock:
        _chains.clear()
        _regions.clear()


async def frozen_credentials(
    access_key: str | None, secret_key: str | None, token: str | None, profile: str | None
) -> ReadOnlyCredentials:
    """Credentials to sign with now. Static keys are used as given; chain credentials
    are fetched, and refreshed when near expiry, off the event loop."""
    if access_key and secret_key:
        return ReadOnlyCredentials(access_key, secret_key, token)
    source = _chains.get(profile)
    if source is None:
        source = await asyncio.to_thread(_chain_credentials, profile)
    if source is None:
        where = f"profile {profile!r}" if profile else "the default AWS chain"
        raise errors.ConfigurationError(
            "no AWS credentials: set aws_access_key_id and aws_secret_access_key, or "
            f"aws_profile_name, on the deployment (looked in {where})"
        )
    try:
        if isinstance(source, RefreshableCredentials) and source.refresh_needed():
            return await asyncio.to_thread(source.get_frozen_credentials)
        return source.get_frozen_credentials()
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
    exactly this method, URL (its path as it goes on the wire, already percent-encoded),
    headers and body."""
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
