"""The scripted guardrail kind (``scripted.py``) for the guardrails' unit tests."""

from tests.gateway.features.guardrails.scripted import scripted  # noqa: F401
