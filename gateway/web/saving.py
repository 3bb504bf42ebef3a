"""What a save's ``ValidationError`` becomes for the one who sent it: every save operation
(``gateway.ops``, a feature's) raises Django's ``ValidationError`` naming the fields; ``/api``
answers its messages by field (``errors_by_field``, in ``gateway.web.api.writes``'s 422) and
a console form shows them next to its fields (``show_errors``)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def errors_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """``{"field": ["message", ...]}``; errors not tied to a field under ``__all__``."""
    if hasattr(exc, "error_dict"):
        return {
            field: [str(m) for m in ValidationError(errs).messages]
            for field, errs in exc.error_dict.items()
        }
    return {NON_FIELD_ERRORS: [str(m) for m in exc.messages]}


def show_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a save's errors next to their fields (others at the top of the form)."""
    for field, messages in errors_by_field(exc).items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(
                target, message if target or field == NON_FIELD_ERRORS else f"{field}: {message}"
            )
