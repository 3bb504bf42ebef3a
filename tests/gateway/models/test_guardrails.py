"""A guardrail's params (``gateway.models.guardrails``): the secrets its kind declares are
sealed when saved (and a same value keeps its ciphertext), read back decrypted by the
checker, shown as the mask everywhere else; a mask sent back keeps the stored secret,
one sent where nothing is stored is found; and what names a guardrail is listed."""

from __future__ import annotations

import pytest
from django.utils import timezone

from gateway.base.secrets import crypto
from gateway.base.secrets.declared import Secrecy
from gateway.models import HEADER_MASK, ApiKey, Route, Team
from gateway.models.guardrails import (
    Guardrail,
    is_sealed,
    mask_params,
    masked_leftovers,
    references_to,
    seal_params,
    unmask_params,
    unseal_params,
)

DECLARED = {"threshold": Secrecy.PLAIN, "api_base": Secrecy.URL, "headers": Secrecy.HEADERS}


def secrecy(name: str) -> Secrecy:
    return DECLARED.get(name, Secrecy.SECRET)


def test_what_the_kind_declares_secret_is_sealed_and_the_rest_kept() -> None:
    sealed = seal_params(
        {
            "threshold": 0.5,
            "api_key": "sk-1",
            "api_base": "https://host/x",
            "headers": {"X-Pass": "p", "Ref": "os.environ/TOKEN"},
            "words": ["a", 2, True],
        },
        secrecy=secrecy,
    )
    assert sealed["threshold"] == 0.5 and sealed["api_base"] == "https://host/x"
    assert is_sealed(sealed["api_key"]) and crypto.decrypt(sealed["api_key"]) == "sk-1"
    assert is_sealed(sealed["headers"]["X-Pass"]) and sealed["headers"]["Ref"] == "os.environ/TOKEN"
    assert is_sealed(sealed["words"][0]) and sealed["words"][1:] == [2, True]
    url = seal_params({"api_base": "https://u:p@host/x"}, secrecy=secrecy)["api_base"]
    assert is_sealed(url)
    assert is_sealed(seal_params({"anything": "v"})["anything"])  # no declaration: secret
    assert seal_params("not a mapping") == "not a mapping"


def test_saving_the_same_secret_again_keeps_its_ciphertext() -> None:
    first = seal_params({"api_key": "sk-1", "list": ["a"]})
    again = seal_params({"api_key": "sk-1", "list": ["a"]}, stored=first)
    assert again == first
    changed = seal_params({"api_key": "sk-2"}, stored=first)
    assert changed["api_key"] != first["api_key"] and crypto.decrypt(changed["api_key"]) == "sk-2"


def test_the_checker_reads_secrets_decrypted_and_an_undecryptable_one_empty(caplog) -> None:
    row = Guardrail(name="g", kind="secrets", params=seal_params({"api_key": "sk-1", "n": [1]}))
    assert row.stored_params() == {"api_key": "sk-1", "n": [1]}
    row.params = {"api_key": crypto.PREFIX + "garbage"}
    assert row.stored_params() == {"api_key": ""}
    assert "guardrail g" in caplog.text
    assert Guardrail(name="g", params=["odd"]).stored_params() == {}
    assert unseal_params([crypto.encrypt("x"), "y"]) == ["x", "y"]


def test_shown_params_mask_every_stored_secret_and_nothing_else() -> None:
    row = Guardrail(name="g", params={**seal_params({"api_key": "k"}), "ref": "os.environ/X"})
    assert row.params_display == {"api_key": HEADER_MASK, "ref": "os.environ/X"}
    assert mask_params([crypto.encrypt("x"), 3]) == [HEADER_MASK, 3]
    assert Guardrail(name="g", params="odd").params_display == {}
    assert str(row) == "g"


def test_a_mask_sent_back_keeps_the_stored_secret_and_a_stray_one_is_found() -> None:
    stored = seal_params({"api_key": "sk-1", "headers": {"A": "a"}, "list": ["x"]})
    sent = {"api_key": HEADER_MASK, "headers": {"A": HEADER_MASK}, "list": [HEADER_MASK, "new"]}
    assert unmask_params(sent, stored) == {
        "api_key": "sk-1",
        "headers": {"A": "a"},
        "list": ["x", "new"],
    }
    assert unmask_params({"plain": HEADER_MASK}, {"plain": "kept"}) == {"plain": "kept"}
    left = unmask_params({"api_key": HEADER_MASK, "l": [1, HEADER_MASK]}, {})
    assert masked_leftovers(left) == ["params.api_key", "params.l[1]"]
    assert masked_leftovers({"a": "b"}) == []


@pytest.mark.django_db
def test_references_list_the_keys_teams_and_routes_naming_a_guardrail() -> None:
    team = Team.objects.create(name="research", guardrails=["pii"])
    ApiKey.objects.create(name="b", prefix="sy-b", key_hash="b" * 64, guardrails=["pii"])
    ApiKey.objects.create(name="a", prefix="sy-a", key_hash="a" * 64, guardrails=["pii", "x"])
    ApiKey.objects.create(
        name="gone", prefix="sy-g", key_hash="g" * 64, guardrails=["pii"], revoked_at=timezone.now()
    )
    Route.objects.create(name="r", guardrails=["x"])
    assert references_to("pii") == {"keys": ["a", "b"], "teams": [team.name]}
    assert references_to("x") == {"keys": ["a"], "routes": ["r"]}
    assert references_to("nobody") == {}
