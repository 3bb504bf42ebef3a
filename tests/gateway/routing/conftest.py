"""Routing's fake clock and recorded sleep, for every routing test that asks for it."""

from tests.gateway.routing.test_routing import fake_time  # noqa: F401 (the fixture)
