"""Who may read a file the gateway keeps: a signed link (``file.link.read``).

An image the gateway was asked to answer by URL (``response_format: "url"`` on an image
model that answers bytes) is kept in the file store for the key that asked, and the
answer names ``/v1/images/files/{id}?key=..&expires=..&signature=..``: an HMAC of the
file id, the key id and the expiry under the gateway's ``SECRET_KEY`` (every instance
shares it). Whoever holds the link may fetch the file until it expires, as with the
URLs OpenAI answers; the link is scoped to its key: it opens only that key's file, and
stops when the key is revoked or deleted."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from gateway.access import registry
from gateway.access.authorization import ALLOW, Decision, deny, rule

_SALT = b"switchyard.file-link.v1:"
MASTER = "master"  # a link's key field for the master key (its files have no key id)


@dataclass(frozen=True, slots=True)
class SignedLink:
    """What a link claims: the file, the key it was made for, until when, and its MAC."""

    file_id: str
    key: str  # the key's id, or MASTER
    expires: int  # epoch seconds
    signature: str

    @classmethod
    def from_query(cls, file_id: str, query: dict[str, str]) -> SignedLink:
        expires = query.get("expires", "")
        return cls(
            file_id,
            query.get("key", ""),
            int(expires) if expires.isdigit() else 0,
            query.get("signature", ""),
        )


def key_field(key_id: int | None) -> str:
    return MASTER if key_id is None else str(key_id)


def signature(file_id: str, key: str, expires: int) -> str:
    secret = _SALT + settings.SECRET_KEY.encode()
    message = f"{file_id}\n{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _key_active(key: str) -> bool:
    """Whether the key a link names is in the snapshot, neither revoked nor expired."""
    if key == MASTER:
        return True
    now = datetime.now(UTC)
    return any(
        str(entry.id) == key
        and not entry.revoked
        and (entry.expires_at is None or entry.expires_at > now)
        for entry in registry.current().keys.values()
    )


@rule("file.link.read")
def link_read(link: SignedLink, stored: Any) -> Decision:
    """Anyone holding a link the gateway signed, until it expires, for the file of the
    key it names while that key is active."""
    expected = signature(link.file_id, link.key, link.expires)
    if not link.signature or not hmac.compare_digest(expected, link.signature):
        return deny("the link's signature is not valid")
    if link.expires < time.time():
        return deny("the link has expired")
    if stored is None or key_field(stored.key_id) != link.key:
        return deny("no such file")
    if not _key_active(link.key):
        return deny("the key this link was made for is no longer active")
    return ALLOW
