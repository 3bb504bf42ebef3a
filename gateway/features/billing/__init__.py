"""Reconciliation with the providers' bills (issue #65): the journal's cost beside what
each provider says it charged, per provider, route and UTC day.

- ``sources``: one ``BillSource`` per provider kind with a usage and cost API (OpenAI's
  organization Usage and Costs APIs, Anthropic's Usage & Cost Admin API), read with the
  operator's admin key (an environment variable, never stored or shown);
- ``reconcile``: the journal grouped by provider, route and upstream model, matched to
  the bill by day and model, written as ``BillDrift`` rows; the alert past a threshold;
- ``runner``: a run over a window of days, daily under a lease (``plugin``) and now
  (``manage.py reconcile_bills``).

Never on the request path: it reads the journal once a day in the background. Errors:
``sources.BillError`` for a bill that could not be read (its message names the source
and the status, never the key)."""
