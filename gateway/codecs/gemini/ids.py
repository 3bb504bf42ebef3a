"""Tool-call ids for Gemini function calls, carrying their thought signature.

Gemini's function calls have no id on the wire, and Gemini 2.5/3 sign them
(``thoughtSignature``) and reject the next turn when a signed call comes back without
its signature. OpenAI and Anthropic clients cannot carry that field, but they echo the
tool-call id unchanged; so the id is ``call_<16 hex>`` (deterministic: the same answer
streamed or whole gets the same ids), followed, when the call was signed, by the
signature in base64url (``-s-`` + the signature's own base64 with the URL alphabet, or
``-u-`` + its UTF-8 bytes in base64url when it is not base64). Stateless: any worker
restores the signature from the id alone. Ids stay within ``^[A-Za-z0-9_-]+$`` (what
Anthropic accepts).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_OURS = re.compile(r"^call_[0-9a-f]{16}-(?P<how>[su])-(?P<sig>[A-Za-z0-9_-]+)$")
_STD_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def call_id(response_id: str, ordinal: int, name: str, signature: str | None) -> str:
    """The id of the ``ordinal``-th function call (0-based) of answer ``response_id``."""
    digest = hashlib.blake2b(f"{response_id}\0{ordinal}\0{name}".encode(), digest_size=8)
    base = "call_" + digest.hexdigest()
    if not signature:
        return base
    if _STD_B64.match(signature) and len(signature) % 4 == 0:
        return f"{base}-s-{signature.rstrip('=').replace('+', '-').replace('/', '_')}"
    encoded = base64.urlsafe_b64encode(signature.encode()).decode().rstrip("=")
    return f"{base}-u-{encoded}"


def signature_of(tool_call_id: str) -> str | None:
    """The thought signature a ``call_id`` carries, or None (an id of another origin,
    or one that was not signed)."""
    match = _OURS.match(tool_call_id)
    if match is None:
        return None
    sig = match["sig"]
    padded = sig + "=" * (-len(sig) % 4)
    if match["how"] == "s":
        return padded.replace("-", "+").replace("_", "/")
    try:
        return base64.urlsafe_b64decode(padded).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
