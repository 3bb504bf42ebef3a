"""What a serving process loads before its first request: the codecs always, the
URLconf (every pattern compiled) and the busiest templates in a console process only; a
broken codec or page is logged, never a failed start."""

from __future__ import annotations

import logging

import pytest

from gateway.base import lifecycle


def test_warm_up_compiles_every_url_pattern_before_the_first_request(settings):
    """The first console page of a console process reverses URLs and resolves its path:
    after the start-up warm-up neither compiles a pattern any more."""
    from unittest import mock

    from django.urls import clear_url_caches, resolve, reverse

    settings.SWITCHYARD_ROLE = "console"
    clear_url_caches()  # a process that has not resolved anything yet
    try:
        lifecycle.warm_up()
        compiled = AssertionError("a URL pattern was compiled on first use")
        with mock.patch("django.urls.resolvers.re.compile", side_effect=compiled):
            assert reverse("console:log-detail", args=["abc"]).endswith("abc/")
            reverse("console:logs")
            reverse("console:dashboard")
            assert resolve("/logs/").view_name == "console:logs"
            resolve("/api/logs/")
    finally:
        clear_url_caches()


@pytest.mark.parametrize("role", ["all", "api"])
def test_warm_up_leaves_the_console_to_its_first_page_outside_the_console_role(settings, role: str):
    """A process of the ``all`` or ``api`` role loads the codecs at start, not the URL
    conf: a gateway serving only inference never pays for the console's modules."""
    from unittest import mock

    from gateway.server import warm_up

    settings.SWITCHYARD_ROLE = role
    with (
        mock.patch.object(warm_up, "_warm_console") as console,
        mock.patch.object(warm_up, "_warm_inference") as inference,
    ):
        lifecycle.warm_up()
    console.assert_not_called()
    inference.assert_called_once()


def test_a_broken_codec_or_page_is_logged_and_the_process_serves(settings, monkeypatch, caplog):
    from gateway import codecs
    from gateway.server import warm_up

    def broken() -> None:
        raise RuntimeError("codec import failed")

    monkeypatch.setattr(codecs, "clients", broken)
    monkeypatch.setattr(warm_up, "WARM_TEMPLATES", ("console/no-such-page.html",))
    settings.SWITCHYARD_ROLE = "console"
    with caplog.at_level(logging.ERROR, logger="gateway.server.warm_up"):
        warm_up.warm_up()
    assert [r.getMessage() for r in caplog.records] == [
        "warming up the codecs failed; they will load on first use",
        "warming up the console failed; pages will load on first use",
    ]
