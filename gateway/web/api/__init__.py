"""The ``/api`` kit a resource's router is built with (``gateway.edge.api`` mounts them):
``auth`` (master key, management keys, console sessions; the role policy asked per
call), ``errors`` (the one error body), ``parsing``, ``fields``, ``writes`` (writes
checked against the field table) and ``openapi``/``docs`` (the document and its page)."""

from gateway.web.api import ids as ids  # registers the ``rowid`` path converter
