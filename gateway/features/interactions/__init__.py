"""The Gemini Interactions API's server-side state: what the gateway keeps between turns
on any upstream (the upstream is sent the whole conversation, statelessly). The
pipeline (``gateway.core``) never names it: this package plugs in through
``gateway.base.hooks`` (``plugin``).

- ``state``: stored interactions (``store``), chaining with ``previous_interaction_id``,
  ``background`` runs in a task of the process that took them (``Turn.detach``), and
  what ``GET``/``DELETE /v1beta/interactions/{id}`` and ``cancel`` read;
- ``paths`` and ``routes``: the stored interactions' paths, served by the edge;
- ``plugin``: the registrations.

Errors are ``gateway.base.errors.GatewayError``s, rendered by the edge in Google's envelope:
an id another key owns is the 404 an unknown one is. The table is the store's
(``gateway.models.StoredInteraction``); the wire format is the codec's
(``gateway.codecs.gemini_interactions``)."""
