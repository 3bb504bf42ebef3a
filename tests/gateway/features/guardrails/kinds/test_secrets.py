"""hide-secrets: its params checked with the field named; an AWS key, a GitHub token,
a password and a multi-line private key redacted as ``[REDACTED_<TYPE>]`` or refused
naming the type (never the secret); the noisy detectors off unless asked for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.base.entries import GuardrailEntry
from gateway.features.guardrails import kinds
from gateway.features.guardrails.kinds import ConfigError, Context
from gateway.features.guardrails.kinds import secrets as kind

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
KEY_BODY = [
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "LxoRaOpXuGAn2XeF1L5f/Z5A2ly0PQj7hlV9kqbPdnm2t0bHVIxRHSw7k9ogI2w=",
]
PRIVATE_KEY = "\n".join(
    ["-----BEGIN RSA PRIVATE KEY-----", *KEY_BODY, "-----END RSA PRIVATE KEY-----"]
)
CONTEXT = Context("response", "post_call")


def entry(params: dict[str, Any]) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(json.dumps(params, sort_keys=True))) % 10**9,
        name="secrets",
        kind="hide-secrets",
        modes=frozenset({"pre_call", "post_call"}),
        params=params,
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "DROP"}, "params.action"),
        ({"plugins": ["NoSuchDetector"]}, "params.plugins[0]"),
        ({"plugins": []}, "params.plugins"),
        (
            {"detect_secrets_config": {"filters_used": []}},
            "params.detect_secrets_config.filters_used",
        ),
        (
            {"detect_secrets_config": {"plugins_used": [{"name": "Nope"}]}},
            "params.detect_secrets_config.plugins_used[0].name",
        ),
        (
            {
                "detect_secrets_config": {
                    "plugins_used": [{"name": "Base64HighEntropyString", "limit": 20}]
                }
            },
            "params.detect_secrets_config.plugins_used[0].limit",
        ),
        ({"plugins": ["AWSKeyDetector"], "detect_secrets_config": {}}, "params.plugins"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        kinds.validate("hide-secrets", ["pre_call"], params)
    assert caught.value.field == field


def test_plugins_are_named_by_class_or_by_secret_type() -> None:
    read = kind.settings({"plugins": ["AWS Access Key", "GitHubTokenDetector"]})
    assert [p["name"] for p in read.plugins] == ["AWSKeyDetector", "GitHubTokenDetector"]
    default = {p["name"] for p in kind.settings({}).plugins}
    assert "PrivateKeyDetector" in default and not default & kind.NOISY


async def test_secrets_are_redacted_by_type() -> None:
    checker = kinds.checker(entry({}))
    assert checker.local
    texts = [
        f"use {AWS} for the bucket",
        f"export GITHUB_TOKEN={GITHUB}",
        'db_password = "Tr0ub4dor&3horse"',
        "a text with nothing secret in it",
    ]
    verdict = await checker.check(texts, CONTEXT)
    assert verdict.action == "intervened"
    assert verdict.texts == [
        "use [REDACTED_AWS_ACCESS_KEY] for the bucket",
        "export GITHUB_TOKEN=[REDACTED_GITHUB_TOKEN]",
        'db_password = "[REDACTED_SECRET_KEYWORD]"',
        "a text with nothing secret in it",
    ]
    assert set(verdict.entities) == {"AWS_ACCESS_KEY", "GITHUB_TOKEN", "SECRET_KEYWORD"}
    assert AWS not in verdict.reason and GITHUB not in verdict.reason


async def test_a_multi_line_private_key_is_redacted_whole() -> None:
    text = f"here is my key:\n{PRIVATE_KEY}\nkeep it safe!"
    verdict = await kinds.checker(entry({})).check([text], CONTEXT)
    assert verdict.texts == ["here is my key:\n[REDACTED_PRIVATE_KEY]\nkeep it safe!"]
    assert verdict.entities == ("PRIVATE_KEY",)


async def test_an_unterminated_key_is_redacted_to_the_end_and_its_body_absorbed() -> None:
    checker = kinds.checker(entry({}))
    head = "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\n" + KEY_BODY[0][:20]
    verdict = await checker.check([head], CONTEXT)
    assert verdict.texts == ["key:\n[REDACTED_PRIVATE_KEY]"]
    # what a stream sees next: the redaction sent, the key's body coming in
    more = "key:\n[REDACTED_PRIVATE_KEY]" + KEY_BODY[0][20:] + "\n" + KEY_BODY[1] + "\n-----EN"
    verdict = await checker.check([more], CONTEXT)
    assert verdict.texts == ["key:\n[REDACTED_PRIVATE_KEY]"]
    end = "[REDACTED_PRIVATE_KEY]\n" + KEY_BODY[2] + "\n-----END OPENSSH PRIVATE KEY-----\nDone."
    verdict = await checker.check([end], CONTEXT)
    assert verdict.texts == ["[REDACTED_PRIVATE_KEY]\nDone."]


async def test_block_names_the_type_and_never_the_secret() -> None:
    checker = kinds.checker(entry({"action": "block"}))
    verdict = await checker.check(["fine", f"token {GITHUB}"], CONTEXT)
    assert verdict.action == "blocked" and verdict.entities == ("GITHUB_TOKEN",)
    assert "GitHub Token" in verdict.reason and GITHUB not in verdict.reason
    verdict = await checker.check([PRIVATE_KEY], CONTEXT)
    assert verdict.action == "blocked" and verdict.entities == ("PRIVATE_KEY",)


async def test_only_the_chosen_detectors_run() -> None:
    checker = kinds.checker(entry({"plugins": ["AWSKeyDetector"]}))
    verdict = await checker.check([f"{AWS} and {GITHUB}"], CONTEXT)
    assert verdict.texts == [f"[REDACTED_AWS_ACCESS_KEY] and {GITHUB}"]


async def test_high_entropy_strings_only_when_asked() -> None:
    text = 'blob = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtcXVpdGUtcmFuZG9tLTk4NzY1NDMyMTA="'
    assert (
        await kinds.checker(entry({"plugins": ["PrivateKeyDetector"]})).check([text], CONTEXT)
    ).action == "none"
    asked = kinds.checker(
        entry(
            {
                "detect_secrets_config": {
                    "plugins_used": [{"name": "Base64HighEntropyString", "limit": 4.0}]
                }
            }
        )
    )
    verdict = await asked.check([text], CONTEXT)
    assert verdict.entities == ("BASE64_HIGH_ENTROPY_STRING",)
    assert verdict.texts == ['blob = "[REDACTED_BASE64_HIGH_ENTROPY_STRING]"']


async def test_guardrails_with_different_detectors_do_not_share_settings() -> None:
    aws_only = kinds.checker(entry({"plugins": ["AWSKeyDetector"]}))
    github_only = kinds.checker(entry({"plugins": ["GitHubTokenDetector"]}))
    text = [f"{AWS} {GITHUB}"]
    assert (await aws_only.check(text, CONTEXT)).entities == ("AWS_ACCESS_KEY",)
    assert (await github_only.check(text, CONTEXT)).entities == ("GITHUB_TOKEN",)
    assert (await aws_only.check(text, CONTEXT)).entities == ("AWS_ACCESS_KEY",)


async def test_a_large_text_is_scanned_in_a_thread(monkeypatch) -> None:
    threaded: list[int] = []
    real = kind.asyncio.to_thread

    async def to_thread(function, *args):  # type: ignore[no-untyped-def]
        threaded.append(1)
        return await real(function, *args)

    monkeypatch.setattr(kind.asyncio, "to_thread", to_thread)
    text = "a line of ordinary text\n" * 100 + f"aws {AWS}\n"
    verdict = await kinds.checker(entry({})).check([text], CONTEXT)
    assert threaded == [1]
    assert verdict.texts == [text.replace(AWS, "[REDACTED_AWS_ACCESS_KEY]")]
