"""The prompt registry: named prompts with numbered versions and labels, fetched through
``/api/prompts`` and used by reference in a ``/v1`` request.

- ``template``: the ``{{variable}}`` syntax: the variables a version uses, rendering it;
- ``entries``: a prompt as the request path reads it (``PromptEntry``, ``VersionEntry``);
- ``snapshot``: loading every prompt into the registry snapshot (``Snapshot.parts``), so
  a request naming a prompt reads memory, never the database;
- ``reference``: a body's prompt reference in each dialect's spelling (LiteLLM's
  ``prompt_id`` / ``prompt_variables`` / ``prompt_version``, our ``prompt_label``, and
  the Responses API's ``prompt: {id, version, variables}``), and the body it becomes;
- ``versions``: saving prompts, versions and labels (the API and the console), and the
  difference between two versions (``difflib``);
- ``plugin``: registers the snapshot loader and the body rewrite into ``base.hooks``.

Error contract: a reference to an unknown prompt, version or label, a missing variable
or a malformed field is ``InvalidRequest`` (400, in the caller's dialect) naming the
field; nothing is sent upstream. A request naming no prompt costs two dict lookups."""
