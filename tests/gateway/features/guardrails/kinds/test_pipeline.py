"""The local kinds through the pipeline (in process, a mock OpenAI upstream): Presidio
masks a card number before the upstream sees it; hide-secrets redacts a token and a
private key from a streamed answer, split across deltas, before any of it goes out."""

from __future__ import annotations

from gateway.base.entries import GuardrailEntry
from tests.gateway.features.guardrails.kinds.test_secrets import GITHUB, KEY_BODY
from tests.gateway.features.guardrails.test_plane import ask, install, read, upstream

__all__ = ["upstream"]  # the fixture, shared with the plane's tests


def guard(name: str, kind: str, modes: tuple[str, ...], params: dict) -> GuardrailEntry:
    return GuardrailEntry(
        id=abs(hash(name)) % 100000, name=name, kind=kind, modes=frozenset(modes), params=params
    )


async def test_presidio_masks_a_card_before_the_upstream_sees_it(upstream) -> None:
    seen, _, recorded = upstream
    pii = guard("pii", "presidio", ("pre_call",), {"pii_entities_config": {"CREDIT_CARD": "MASK"}})
    install(pii, default=("pii",))
    reply = await ask("charge 4111 1111 1111 1111 for the order")
    assert reply.status == 200
    assert seen[0]["messages"][0]["content"] == "charge <CREDIT_CARD> for the order"
    assert b"4111 1111" not in bytes(recorded[0].inbound_request)
    assert recorded[0].guardrails[0]["entities"] == ["CREDIT_CARD"]


async def test_a_streamed_secret_is_redacted_before_it_goes_out(upstream) -> None:
    _, answer, recorded = upstream
    install(guard("secrets", "hide-secrets", ("post_call",), {}), default=("secrets",))
    key = ["-----BEGIN RSA PRI", "VATE KEY-----\n"] + [line + "\n" for line in KEY_BODY]
    answer["pieces"] = [
        "Sure. " * 12,
        "Your token is " + GITHUB[:17],
        GITHUB[17:] + " and the key:\n",
        *key,
        "-----END RSA PRIVATE KEY-----\n",
        "Keep them safe. " * 6,
    ]
    reply = await ask("show me", stream=True)
    chunks = await read(reply)
    deltas = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")]
    text = "".join(deltas)
    assert text == (
        "Sure. " * 12
        + "Your token is [REDACTED_GITHUB_TOKEN] and the key:\n[REDACTED_PRIVATE_KEY]\n"
        + "Keep them safe. " * 6
    )
    assert len([d for d in deltas if d]) > 3  # released as it came
    (note,) = recorded[0].guardrails
    assert note["verdict"] == "intervened"
    assert set(note["entities"]) == {"GITHUB_TOKEN", "PRIVATE_KEY"}
