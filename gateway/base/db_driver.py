"""Which PostgreSQL driver Django uses, asked only when it matters.

Django's ``psycopg_any.is_psycopg3`` imports psycopg to answer (about 7 MB of every
process), which a SQLite deployment never needs. ``is_psycopg3`` here is true or false
like Django's, but reads Django's answer the first time it is tested: with PostgreSQL
the backend has loaded psycopg by then anyway."""

from __future__ import annotations


class _IsPsycopg3:
    _value: bool | None = None

    def __bool__(self) -> bool:
        if self._value is None:
            from django.db.backends.postgresql.psycopg_any import is_psycopg3

            type(self)._value = is_psycopg3
        return bool(self._value)

    def __repr__(self) -> str:
        return repr(bool(self))


is_psycopg3 = _IsPsycopg3()
