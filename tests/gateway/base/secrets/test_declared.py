"""Declared secrecy's helpers (``gateway.base.secrets.declared``): a URL carries a secret
when it has user info or a query (an unparsable one is taken as secret), and is shown
with the user info and every query value masked."""

from __future__ import annotations

import pytest

from gateway.base.secrets.declared import MASK, mask_url_secrets, url_has_secret


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://host.example/v1", False),
        ("https://host.example/v1#frag", False),
        ("https://user:pw@host.example/v1", True),
        ("https://host.example/v1?key=abc", True),
        ("https://[::1/broken", True),  # unparsable: sealed as a secret would be
    ],
)
def test_a_url_carries_a_secret_in_its_user_info_or_query(url: str, secret: bool) -> None:
    assert url_has_secret(url) is secret


def test_user_info_and_every_query_value_are_masked() -> None:
    masked = mask_url_secrets("https://u:p@host.example:8443/p?key=abc&flag&region=eu#top")
    assert masked == "https://***@host.example:8443/p?key=***&flag&region=***#top"
    assert mask_url_secrets("https://host.example/p") == "https://host.example/p"
    assert mask_url_secrets("https://a@b@host.example/") == "https://***@host.example/"
    assert mask_url_secrets("https://[::1/broken") == MASK
