"""Claude Code's ``metadata.user_id`` read for attribution
(``gateway.codecs.anthropic.claude_code``): the legacy and the JSON forms name the
account (or the device) and the session; any other user id is the end user, without a
session."""

from __future__ import annotations

import json
import uuid

from gateway.codecs.anthropic import claude_code

SESSION = str(uuid.UUID(int=7))
ACCOUNT = str(uuid.UUID(int=9))
DEVICE = "a" * 64


def test_claude_code_legacy_user_id_names_the_account_and_the_session():
    user_id = f"user_{DEVICE}_account_{ACCOUNT}_session_{SESSION}"
    assert claude_code.end_user(user_id) == ACCOUNT
    assert claude_code.session(user_id) == SESSION
    without_account = f"user_{DEVICE}_account__session_{SESSION}"
    assert claude_code.end_user(without_account) == DEVICE
    assert claude_code.session(without_account) == SESSION


def test_claude_code_json_user_id_names_the_account_and_the_session():
    user_id = json.dumps({"device_id": DEVICE, "account_uuid": "", "session_id": SESSION})
    assert claude_code.end_user(user_id) == DEVICE
    assert claude_code.session(user_id) == SESSION
    with_account = json.dumps({"device_id": DEVICE, "account_uuid": ACCOUNT, "session_id": "s"})
    assert claude_code.end_user(with_account) == ACCOUNT


def test_any_other_user_id_is_the_end_user_without_a_session():
    assert claude_code.end_user("alice@example.com") == "alice@example.com"
    assert claude_code.session("alice@example.com") is None
    assert claude_code.end_user("{not json") == "{not json"
    assert claude_code.end_user(None) is None
