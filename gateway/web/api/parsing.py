"""A JSON body of the management API is one object: every body parameter is a schema
of named fields. ninja's own parser hands any JSON value on, and its schemas read a list
or a number as an object with no attributes, so ``PATCH /api/routes/1`` with ``[null]``
was a PATCH that changed nothing, answered 200. Here it is a 400 (the body does not
parse as what the operation takes), like a body that is not JSON at all."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser


class ObjectBodyParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise ValueError(f"the body must be a JSON object, not {type(data).__name__}")
        return data
