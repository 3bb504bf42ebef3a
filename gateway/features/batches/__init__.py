"""Batches, a feature package: OpenAI ``/v1/batches`` and Anthropic Message Batches,
validated and stored (``operations``, ``validate``), what a batch sent upstream holds of its
key's budget (``holds``), run by the gateway through the service in the background
(``runner``) or by the upstream's own batch API (``native``); and the ``/v1/files``
they read and write (``files``).

It sits among the features, above ``core``: it sends each gateway-run line through the
pipeline (``gateway.core.service``) and imports access, limits, routing, providers, codecs and the store
below it; nothing below imports it. The edge routes its HTTP endpoints
(``gateway.edge.batch_endpoints``), its plugin registers its runner (``plugin``) and
the console shows its batches."""
