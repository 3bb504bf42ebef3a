"""The console's HTTP answers' declarations (``gateway.web.http``): the Content-Security-
Policy allows nothing from elsewhere."""

from __future__ import annotations

from gateway.web.http import CONTENT_SECURITY_POLICY


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
