"""The console's HTTP answers' declarations (``gateway.web.http``): the Content-Security-
Policy allows nothing from elsewhere; a row asked for and not there is a 404 naming it."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404

from gateway.web.http import CONTENT_SECURITY_POLICY, first_or_404


def test_the_policy_allows_nothing_from_elsewhere() -> None:
    """What the policy is for: a prompt-injected answer cannot load a remote image or run
    a script; no directive names another origin, eval or inline code."""
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY


class _Rows:
    def __init__(self, *found: Any) -> None:
        self.found = found

    def first(self) -> Any:
        return self.found[0] if self.found else None


def test_the_first_row_or_a_404_naming_the_one_missing() -> None:
    assert first_or_404(_Rows("a", "b"), "no tag budget 7") == "a"
    with pytest.raises(Http404, match="^no tag budget 7$"):
        first_or_404(_Rows(), "no tag budget 7")
