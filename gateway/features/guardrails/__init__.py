"""Guardrails: checks on what a call carries, on every protocol, streamed included.

A guardrail (``gateway.models.Guardrail``, in the snapshot as ``GuardrailEntry``) has a
kind, the modes it runs in and a failure policy; it applies by default (``default_on``),
through the key, its team or the route (their ``guardrails`` lists), or because the
request asked for it (a ``guardrails`` field in the body, taken out before the upstream).

- ``kinds/``: what a kind checks (content filter, PII with Presidio, secrets with
  detect-secrets, the Generic Guardrail API, OpenAI moderation through a route, an LLM
  judge through a route), each validating its own params (``kinds.validate``);
- ``texts``: the texts of a request, an answer or a body, and writing rewritten ones back;
- ``engine``: running the guardrails of one mode over texts, with timeouts, the failure
  policy (fail closed unless told otherwise, a bypass journaled and counted) and monitor
  mode, noting each verdict for the journal;
- ``stream``: post_call on a stream with a bounded hold-back window;
- ``plane``: a request's guardrails as the pipeline drives them (``base.hooks.GuardRun``),
  reading each endpoint's texts where its declaration says (``gateway.base.endpoints``)
  and refusing, by name, a guardrail its endpoint cannot carry;
- ``realtime``: a Realtime session's guardrails, on its text events both ways;
- ``mcp``: pre_mcp_call on tool arguments and results;
- ``plugin``: registers the plane into ``gateway.base.hooks``.

Error contract: a refusal is ``GuardrailBlocked`` (400, naming the guardrail and, where
safe, the entity or reason, never the text); a fail-closed check that could not decide
is ``GuardrailUnavailable`` (503). A request no guardrail applies to costs one empty
check (``plane.begin``)."""
