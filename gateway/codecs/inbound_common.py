"""What every inbound module (a format's client half) builds alike: its ``CLIENT``. Each
defines the five ``ClientCodec`` functions under the protocol's names, so its ``CLIENT``
states only what sets the dialect apart. Built once, at import: off the request path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.codecs.base import Dialect

# The ``ClientCodec`` functions, in the order ``Dialect`` takes them after name and label.
FUNCTIONS = (
    "parse_request",
    "render_response",
    "render_stream",
    "render_error",
    "render_stream_error",
)


def client_dialect(scope: Mapping[str, Any], name: str, label: str, **more: Any) -> Dialect:
    """The ``Dialect`` of the inbound module whose globals are ``scope`` (its five
    ``FUNCTIONS``), with ``more``: the fields it sets beyond ``Dialect``'s defaults."""
    return Dialect(name, label, *(scope[function] for function in FUNCTIONS), **more)
