"""What a save's ``ValidationError`` becomes for the one who sent it: every save operation
(``gateway.ops``, a feature's) raises Django's ``ValidationError`` naming the fields; ``/api``
answers its messages by field (``errors_by_field``, in ``gateway.web.api.writes``'s 422) and
a console form shows them next to its fields (``show_errors``), or ``saved`` does it all:
the save, its errors on the form, else the success message and the way on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpResponse

from gateway.web.http import HtmxHttpRequest, go_to


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
    for field, texts in errors_by_field(exc).items():
        target = field if field in form.fields else None
        for message in texts:
            form.add_error(
                target, message if target or field == NON_FIELD_ERRORS else f"{field}: {message}"
            )


def saved(
    request: HtmxHttpRequest,
    form: forms.Form,
    save: Callable[[], Any],
    said: str | Callable[[Any], str],
    url: str,
) -> HttpResponse | None:
    """A console form's save: ``save()``, then ``said`` (or ``said(what save returned)``)
    as the success message and on to ``url``; a ``ValidationError`` goes next to the
    form's fields and gives None, the caller showing the form again (422)."""
    try:
        result = save()
    except ValidationError as exc:
        show_errors(form, exc)
        return None
    messages.success(request, said(result) if callable(said) else said)
    return go_to(request, url)
