"""OpenAI's Responses API with server-side state: what the gateway keeps between turns
on any upstream, the Conversations API, background responses and the Responses
endpoints beyond create. The pipeline (``gateway.core``) never names any of it: this
package plugs in through ``gateway.base.hooks`` (``plugin``).

- ``state``: stored responses (``store``), chaining with ``previous_response_id``, what
  ``GET``/``DELETE /v1/responses/{id}`` and ``input_items`` read; a WebSocket's memory;
- ``items``: Responses items as kept and sent back;
- ``conversations``: ``/v1/conversations`` and the history a turn naming one reads;
- ``background``: ``background: true``, queued and run by a leased runner per worker
  (``gateway.base.leased_runner``), followed live from the stored events;
- ``compaction`` and ``jobs``: ``/v1/responses/compact``, ``input_tokens`` and the
  WebSocket's ``generate: false``, as jobs of the pipeline;
- ``paths`` and ``routes``: the stored objects' paths, served by the edge;
- ``socket``: the Responses API's WebSocket mode;
- ``plugin``: the registrations.

Errors are ``gateway.base.errors.GatewayError``s, rendered by the edge in the Responses
envelope (OpenAI's for the Conversations API): an id another key owns is the 404 an
unknown one is. The tables are the store's (``gateway.models``: ``StoredResponse``,
``Conversation``, ``ConversationItem``, ``BackgroundResponse``, ``BackgroundEvent``)."""
