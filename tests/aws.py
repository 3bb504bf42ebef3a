"""AWS wire helpers for tests, written from the published formats (never with the code
under test): event-stream frames built byte by byte, and a SigV4 verifier that
recomputes a received request's signature with botocore from known credentials.

Event-stream message layout (all integers big-endian)::

    prelude:  total length (4) | headers length (4) | prelude CRC32 (4)
    headers:  name length (1) | name | value type (1; 7 = string) | value length (2) | value
    payload:  bytes
    trailer:  message CRC32 (4) over everything before it
"""

from __future__ import annotations

import binascii
import hmac
import json
import re
import struct
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIASWITCHYARDTEST01"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSWITCHYARD"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessiontoken=="
REGION = "us-west-2"


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack(">B", len(raw_name)) + raw_name
        encoded += struct.pack(">BH", 7, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + encoded + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    return frame(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        json.dumps(payload).encode(),
    )


def exception_frame(exception_type: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )


def stream_bytes(events: list[list[Any]]) -> bytes:
    """``[[event type, payload], ...]`` (a fixture's shape) as one event-stream body."""
    return b"".join(event_frame(name, payload) for name, payload in events)


_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def verify_sigv4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret_key: str = SECRET_KEY,
    region: str = REGION,
    service: str = "bedrock",
    now: datetime | None = None,
) -> str | None:
    """None when ``Authorization`` is a valid SigV4 signature of this request (``url``:
    scheme, host and the path exactly as received); otherwise why not."""
    lower = {k.lower(): v for k, v in headers.items()}
    match = _AUTH.match(lower.get("authorization", ""))
    if not match:
        return "missing or malformed Authorization header"
    if match["region"] != region or match["service"] != service:
        return f"credential scope names {match['region']}/{match['service']}"
    stamp = lower.get("x-amz-date", "")
    try:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "missing or malformed X-Amz-Date"
    if abs((now or datetime.now(UTC)) - when) > timedelta(minutes=15):
        return "signature expired"
    signed = match["signed"].split(";")
    if "host" not in signed:
        return "host is not signed"
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: lower[name] for name in signed}
    )
    request.context["timestamp"] = stamp
    credentials = Credentials(match["key"], secret_key, lower.get("x-amz-security-token"))
    auth = SigV4Auth(credentials, service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        return "The request signature we calculated does not match the signature you provided."
    return None
