"""Budget alerts (issue #43): when a key's, a team's or a user's spend in its budget
period crosses a threshold (50 / 80 / 100 % by default), one alert is raised, recorded
with an audit row, shown in the console and posted to a webhook (Slack-compatible).

Off the request path entirely: a background task on the worker role
(``plugin.register``: ``hooks.background_tasks``) that only the holder of the
``budget-alerts`` lease runs (``gateway.base.leases.hold``), every
``SWITCHYARD_ALERT_EVERY_SECONDS``. Each round:

- ``evaluate``: reads the hourly spend rollups of the current budget periods (never the
  request log), compares them with each subject's thresholds (its own, else the global
  default: ``config``), and inserts one ``BudgetAlert`` per crossed threshold. The row
  is unique per (scope, subject, period, threshold): an alert is raised once per period
  per threshold whatever the number of rounds, restarts and instances;
- ``delivery``: posts the due alerts to the webhook (``webhook``: SSRF-checked URL,
  pooled transport, bounded answer), retrying a failure with exponential backoff until
  ``MAX_ATTEMPTS``, each attempt's error and next try kept on the row for the console.

A request never waits on any of it; a webhook that is down delays alerts, nothing else.

Errors: ``webhook.Refused`` for a URL the gateway will not call (its message names the
host only: a Slack webhook's path is its secret)."""
