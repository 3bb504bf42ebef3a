"""Credentials in URLs are masked for showing and exporting; the rest stays readable."""

from __future__ import annotations

import pytest

from gateway.base.secrets.url_secrets import mask_paths_in, mask_url, mask_urls_in, secret_param


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("https://user:pw@host/v1", "https://***@host/v1"),
        ("https://sk-abcdef@host/v1", "https://***@host/v1"),
        (
            "https://h/openai?api-version=2024-06-01&api-key=SECRET",
            "https://h/openai?api-version=2024-06-01&api-key=***",
        ),
        (
            "https://h/x?key=K&token=T&access_token=A&sig=S",
            "https://h/x?key=***&token=***&access_token=***&sig=***",
        ),
        ("https://h/x?model=a&flag", "https://h/x?model=a&flag"),
        (
            "http://u:p@10.0.0.1:8080/v1?X-Amz-Signature=abc",
            "http://***@10.0.0.1:8080/v1?X-Amz-Signature=***",
        ),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_urls_inside_text_are_masked() -> None:
    text = "POST https://u:p@h/v1?api-key=K failed; see http://ok/x"
    assert mask_urls_in(text) == "POST https://***@h/v1?api-key=*** failed; see http://ok/x"


def test_secret_params() -> None:
    assert secret_param("api-key") and secret_param("API_KEY") and secret_param("client_secret")
    assert not secret_param("api-version") and not secret_param("model")


def test_an_invitation_token_in_a_path_is_masked() -> None:
    line = "Unprocessable Entity: /invite/4l67GqIbukNXQ_K9-x/ (and /invite/ alone)"
    assert mask_paths_in(line) == "Unprocessable Entity: /invite/***/ (and /invite/ alone)"
    assert mask_paths_in("GET /invites/ 200") == "GET /invites/ 200"  # the list, not a token
    assert mask_paths_in("/keys/abc/") == "/keys/abc/"
