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
- ``plugin``: registers the snapshot loader and the body rewrite into ``base.hooks``;
- ``metrics``: what each version did in production (requests, cost, latency, scores).

Its door for the console (below): ``is_variable_name`` and ``fill`` (the playground
fills a version's variables), ``logged_question`` (what a logged request that named a
prompt asked: the evaluators judge it).

Error contract: a reference to an unknown prompt, version or label, a missing variable
or a malformed field is ``InvalidRequest`` (400, in the caller's dialect) naming the
field; nothing is sent upstream. A request naming no prompt costs two dict lookups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_variable_name(name: str) -> bool:
    """Whether ``name`` may stand in a ``{{placeholder}}`` (``template.VARIABLE``)."""
    from gateway.features.prompts import template

    return template.VARIABLE.fullmatch("{{" + name + "}}") is not None


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with the placeholders ``values`` names filled in; any other is left as
    written (the playground fills a version's variables from its fields)."""
    from gateway.features.prompts import template

    return template.VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def logged_question(name: str, number: int, variables: Any) -> str:
    """The last user message of version ``number`` of prompt ``name`` with
    ``variables`` (a request's ``prompt_variables``) filled in: what a request that
    named the prompt asked. "" for an unknown version or unreadable variables."""
    from gateway.features.prompts import template
    from gateway.models import PromptVersion

    version = PromptVersion.objects.filter(prompt__name=name, number=number).first()
    if version is None or not isinstance(variables, Mapping):
        return ""
    try:
        values = {str(k): template.text_of(v) for k, v in variables.items()}
    except template.TemplateError:
        return ""
    for message in reversed(version.messages):
        if message.get("role") == "user":
            return fill(str(message.get("content") or ""), values)
    return ""
