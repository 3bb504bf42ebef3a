"""Batches: OpenAI ``/v1/batches`` and Anthropic Message Batches, validated and stored
(``api``), run by the gateway through the service in the background (``runner``)."""
