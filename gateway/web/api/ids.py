"""Every id in a /api path is read by ``row_id``: ASCII digits that fit the database's
integer column, or no row at all (a 404).

Two ways in were 500s: ``str.isdigit`` is true of ``"²"`` and ``"١"``, which ``int``
refuses, and a digit string past 2**63 - 1 reaches the database, whose driver refuses
to bind it (``GET /api/logs/²``, ``GET /api/keys/99999999999999999999``, found by a
fuzzer). An integer path parameter is declared ``{rowid:name}`` (``RowIdConverter``,
registered here): a value it refuses matches no URL, and the API's 404 answers it. A
parameter that is a name or an id (a request id, a username) asks ``row_id`` itself."""

from __future__ import annotations

from django.urls import register_converter

from gateway.base.numbers import MAX_ROW_ID, row_id

__all__ = ["MAX_ROW_ID", "RowIdConverter", "row_id"]


class RowIdConverter:
    """The path converter ``rowid`` (``{rowid:key_id}`` in a ninja path): an int, or no match."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = row_id(value)
        if number is None:
            raise ValueError(f"{value!r} is not a row id")  # Django: this URL does not match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(RowIdConverter, "rowid")
