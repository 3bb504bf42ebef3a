"""The Gemini Live API relayed: ``BidiGenerateContent`` over a WebSocket, as google-genai's
``client.aio.live.connect`` opens it against a base URL (``http_options=HttpOptions(
base_url=<gateway>)``), to the route's Gemini API or Vertex AI deployments, with virtual
keys, budgets, guardrails on text and one journal row per session. Docs:
docs/beyond-chat.md, "Gemini Live".

- ``session``: one session's state: the ``setup`` read (the route it names, the model
  rewritten to the deployment's), ``usageMetadata`` summed turn by turn and priced, the
  journal row (the OpenAI Realtime session's, ``gateway.core.realtime.Session``, whose
  charge and finish it reuses);
- ``socket``: the ASGI application of the Live paths: the key, the origin, the ``setup``,
  admission, the connect routed with failover (``routing.run``), the relay both ways,
  refusals closed as Google's server closes them (a code and a reason);
- ``plugin``: the socket registered (``hooks.api_sockets``) from the unit's ``register``.

Per-kind facts are the providers': where a kind's Live socket is and how it is signed
(``live_target`` on ``GeminiProvider`` and ``VertexAIProvider``); a deployment whose
provider has none is skipped, never cooled down."""
