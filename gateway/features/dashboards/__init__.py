"""Dashboards a team shapes (issue #66): charts pinned to a board, a journal metric
grouped by a dimension over a window (``gateway.models.PinnedChart``).

- ``figures``: a chart's figures, bounded reads of the rollups or the journal, cached;
- ``save``: the one pin, unpin and move (rule ``dashboard.pin`` of the board touched);
- ``views`` and ``pages``: the "Pin a chart" form, unpin and reorder, and the board the
  console's dashboard shows (a ``Panel`` of its page, so the console never names this);
- ``api``: ``/api/dashboards``; ``rules``: the rule and the pins' field rules.

A refused pin is a ``ValidationError`` naming its field (a 422 in ``/api``, the form's
error in the console); a board its reader does not see is a 404."""
