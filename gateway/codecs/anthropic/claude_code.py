"""Claude Code's ``metadata.user_id``: who is asking and from which session.

Claude Code fills the Messages API's ``metadata.user_id`` with its device, account and
session in one string, in one of two formats:

- before v2.1.78: ``user_<device hash>_account_<account uuid or empty>_session_<uuid>``;
- from v2.1.78: a JSON object as a string,
  ``{"device_id": "<hash>", "account_uuid": "<uuid or empty>", "session_id": "<uuid>"}``.

The end user is the account when there is one, else the device; the session is the
session id. Any other ``user_id`` is the end user as it is, with no session.
"""

from __future__ import annotations

import json
import re

_LEGACY = re.compile(
    r"^user_(?P<device>[0-9A-Za-z]+)_account_(?P<account>[0-9A-Za-z-]*)"
    r"_session_(?P<session>[0-9A-Za-z-]+)$"
)


def _parts(user_id: str | None) -> tuple[str | None, str | None]:
    """(end user, session) of a ``metadata.user_id``."""
    if not user_id:
        return None, None
    match = _LEGACY.match(user_id)
    if match is not None:
        return match["account"] or match["device"], match["session"]
    if user_id.startswith("{"):
        try:
            fields = json.loads(user_id)
        except ValueError:
            fields = None
        if isinstance(fields, dict) and "session_id" in fields:
            account, device = fields.get("account_uuid"), fields.get("device_id")
            session = fields.get("session_id")
            who = account if isinstance(account, str) and account else device
            return (
                who if isinstance(who, str) and who else None,
                session if isinstance(session, str) and session else None,
            )
    return user_id, None


def end_user(user_id: str | None) -> str | None:
    return _parts(user_id)[0]


def session(user_id: str | None) -> str | None:
    return _parts(user_id)[1]
