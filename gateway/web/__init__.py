"""The kit features build their HTTP surface on (docs/architecture.md, "The house"):
above the pipeline (``core``), below the features, so a feature's console pages and
``/api`` router import only this, never ``console`` or ``gateway.edge``.

- ``pages``: the ``Page`` declaration, one per console URL (route, view, name, the
  abilities it needs, its navigation entry); the console's URLs, its navigation and the
  role policy's page table are built from it.
- ``decorators``: ``staff_required`` and the console's 403 page, ``actor_of``, the field
  table asked for a form's writes (``form_values``, ``fields_refused``).
- ``http``: the typed htmx request and response helpers (``go_to``, ``page_or_partial``).
- ``saving``: a save's ``ValidationError`` by field, for ``/api`` and for a form.
- ``references``: ``os.environ/`` references judged when saved (the operator boundary).
- ``callers``: who calls an inference API (the key of a request's headers, resolved
  against the snapshot), for the edge's handlers and a feature's socket.
- ``api/``: the ``/api`` kit (authentication, the one error body, body parsing, field
  schemas, writes checked against the field table, the OpenAPI document and its docs
  page); the routers per resource are mounted by ``gateway.edge.api``.
"""
