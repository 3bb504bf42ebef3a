"""A stored URL sealed at rest by its type (``Secrecy.URL``, ``gateway.models.secrecy``):
user info and a query are credentials, whatever the parameter is called, so a URL that
carries either is stored encrypted whole (``crypto``); one without either, and an
``os.environ/NAME`` reference, are stored as they are. The model's attribute is always
the plain URL (read: decrypted; written: sealed), so the code that calls the URL is
unchanged; showing it is ``mask_url_secrets`` (user info and every query value ``***``),
exporting it an ``os.environ/`` name. Lookups by value are not possible on such a column
(a ciphertext differs each time): nothing filters on one."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import connections, models, router

from gateway.base.secrets import crypto
from gateway.base.secrets.declared import url_has_secret
from gateway.base.secrets.secret_refs import ENV_REFERENCE
from gateway.models.secrecy import DECLARED, DIGEST, PLAIN

log = logging.getLogger(__name__)


def _sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(crypto.PREFIX)


def seal_url(value: Any) -> Any:
    """``value`` as stored: a URL with user info or a query encrypted whole."""
    if (
        not isinstance(value, str)
        or not value
        or _sealed(value)
        or ENV_REFERENCE.match(value)
        or not url_has_secret(value)
    ):
        return value
    return crypto.encrypt(value)


def unseal_url(value: Any) -> Any:
    """The plain URL of a stored value (an undecryptable one, after a change of
    SECRET_KEY, is logged and read as empty: the row then says it has no URL)."""
    if not _sealed(value):
        return value
    try:
        return crypto.decrypt(value)
    except Exception as exc:
        log.error("a stored URL cannot be decrypted (was SECRET_KEY changed?): %s", exc)
        return ""


class SealedUrlField(models.TextField):
    """A URL column, sealed when it carries credentials (see the module). ``length``:
    the longest URL accepted (the column holds its ciphertext, longer)."""

    def __init__(self, *args: Any, length: int = 500, **kwargs: Any) -> None:
        self.length = length
        super().__init__(*args, **kwargs)
        self.validators.append(MaxLengthValidator(length))

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.length != 500:
            kwargs["length"] = self.length
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return unseal_url(value)

    def to_python(self, value: Any) -> Any:
        return unseal_url(super().to_python(value))

    def get_prep_value(self, value: Any) -> Any:
        return seal_url(super().get_prep_value(value))

    def value_to_string(self, obj: models.Model) -> str:
        """What a dump holds: the sealed form, never the credentials."""
        return str(seal_url(self.value_from_object(obj)) or "")


HEADER_MASK = "•••••••• (stored encrypted)"  # what a form or the API shows of a stored secret


def seal(value: str, field: str) -> tuple[str, str]:
    """A secret as stored, (reference, ciphertext): an ``os.environ/NAME`` reference kept
    as it is, a literal encrypted, an empty value neither; a malformed reference is a
    ``ValidationError`` naming ``field``."""
    value = value.strip()
    if not value:
        return "", ""
    if value.startswith("os.environ/"):
        if not ENV_REFERENCE.match(value):
            raise ValidationError({field: f"not a valid environment reference: {value!r}"})
        return value, ""
    return "", crypto.encrypt(value)


class BearerSecret:
    """A bearer token a row sends upstream (an MCP server's, an A2A agent's): an
    ``os.environ/NAME`` reference kept as it is or a literal kept encrypted, in the
    row's ``bearer_ref`` and ``bearer_ciphertext`` columns (declared by the model)."""

    bearer_ref: Any
    bearer_ciphertext: Any

    def set_bearer(self, value: str | None) -> None:
        """An ``os.environ/NAME`` reference kept as it is, a literal encrypted; '' clears
        it; None or ``HEADER_MASK`` keeps what is stored."""
        if value is None or value == HEADER_MASK:
            return
        self.bearer_ref, self.bearer_ciphertext = seal(value, "bearer")

    @property
    def bearer_display(self) -> str:
        if self.bearer_ref:
            return str(self.bearer_ref)
        return HEADER_MASK if self.bearer_ciphertext else ""

    def stored_bearer(self) -> str:
        return str(self.bearer_ref or crypto.decrypt(self.bearer_ciphertext))


# A sealed value as any column holds it, alone or inside a JSON text (a sealed header's
# value, a guardrail's sealed parameter): Fernet tokens are url-safe base64.
SEALED_TEXT = re.compile(re.escape(crypto.PREFIX) + r"[A-Za-z0-9_-]+=*")


def stored_tokens(labels: Iterable[str]) -> set[str]:
    """Every sealed value stored in these models' secret-bearing fields (each field
    ``secrecy.DECLARED`` says is neither PLAIN nor a DIGEST), read as the database holds
    it: no field's converter runs, so nothing is opened here (``crypto.open_ahead``
    opens them together). One query a table."""
    found: set[str] = set()
    for label in labels:
        model = apps.get_model(label)
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        columns = [
            f"CAST({quote(model._meta.get_field(name).column)} AS TEXT)"
            for name, secrecy in DECLARED[label].items()
            if secrecy not in (PLAIN, DIGEST)
        ]
        if not columns:
            continue
        sealed = " OR ".join(f"{column} LIKE %s" for column in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(columns)} FROM {quote(model._meta.db_table)} "  # noqa: S608 - quoted names
                f"WHERE {sealed}",
                ["%" + crypto.PREFIX + "%"] * len(columns),
            )
            for row in cursor.fetchall():
                for text in row:
                    found.update(SEALED_TEXT.findall(text or ""))
    return found
