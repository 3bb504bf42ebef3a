"""Request tags: free labels a request carries for spend and usage by tag and the log
filter (issue #43).

Three sources, merged in this order, each tag once: the key's default tags (``tags`` on
the key: the snapshot's ``KeyEntry.tags``, no query), the ``x-switchyard-tags`` header
(comma-separated) and the body's ``metadata.tags`` (LiteLLM's spelling: a list of
strings, or a comma-separated string where ``metadata`` only holds strings, as the
Responses API's does). A caller's tags are bounded (``gateway.access.tag_bounds``: 20
of at most 64 printable characters each); past that the request is refused (400) in
its own dialect, never cut silently.

A key with ``enforce_tags`` allows its requests only its own tags: a header or body
naming another tag is refused (403, ``tag_not_allowed``, naming the tag) in the caller's
dialect, so that key's tag spend is attribution, never a caller's claim (nor a way to
spend another tag's budget).

``metadata.tags`` is the gateway's field, not the upstream's: ``without_tags`` takes it
out of a body before it goes upstream (OpenAI refuses a non-string metadata value,
Anthropic any metadata key but ``user_id``). A request without tags pays two dict
lookups here. No Django, no I/O: this runs on the request path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.access.tag_bounds import clean_tags
from gateway.base.errors import InvalidRequest, PermissionDenied

TAGS_HEADER = "x-switchyard-tags"


def clean(values: Iterable[Any], where: str) -> tuple[str, ...]:
    """``tag_bounds.clean_tags`` for a request: ``InvalidRequest`` (param ``where``)
    for tags out of bounds, rendered in the caller's dialect."""
    try:
        return clean_tags(values)
    except ValueError as exc:
        raise InvalidRequest(f"{where}: {exc}", param=where) from None


def split(text: str) -> list[str]:
    return text.split(",")


def body_tags(body: Any) -> tuple[str, ...]:
    """The tags of a body's ``metadata.tags`` (a list, or a comma-separated string)."""
    metadata = body.get("metadata") if type(body) is dict else None
    if type(metadata) is not dict or "tags" not in metadata:
        return ()
    value = metadata["tags"]
    if value is None:
        return ()
    if isinstance(value, str):
        return clean(split(value), "metadata.tags")
    if not isinstance(value, list):
        raise InvalidRequest("metadata.tags: a list of strings", param="metadata.tags")
    return clean(value, "metadata.tags")


def of_request(
    body: Any, headers: Mapping[str, str], key_tags: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The request's tags: the key's, the header's, the body's, each once."""
    header = headers.get(TAGS_HEADER)
    from_body = body_tags(body)
    if not header and not key_tags and not from_body:
        return ()
    from_header = clean(split(header), TAGS_HEADER) if header else ()
    if not key_tags and not from_header:
        return from_body
    return tuple(dict.fromkeys((*key_tags, *from_header, *from_body)))


def attribute(record: Any, body: Any, headers: Mapping[str, str], key: Any) -> None:
    """Set ``record.tags`` for a request with ``body`` and ``headers`` made with ``key``
    (a ``KeyEntry``); ``InvalidRequest`` for tags out of bounds. The common request,
    without any tag, costs this call and two lookups (no call of ``of_request``)."""
    metadata = body.get("metadata") if type(body) is dict else None
    if (
        not key.tags
        and TAGS_HEADER not in headers
        and (type(metadata) is not dict or "tags" not in metadata)
    ):
        return
    found = of_request(body, headers, key.tags)
    if key.enforce_tags:
        enforced(found, key.tags)
    if found:
        record.tags = found


def enforced(found: tuple[str, ...], own: tuple[str, ...]) -> None:
    """PermissionDenied naming the first of ``found`` that is not one of ``own`` (the
    tags of a key that enforces its tags)."""
    for tag in found:
        if tag not in own:
            raise PermissionDenied(
                f"this API key may only carry its own tags ({', '.join(own) or 'none'}); "
                f"tag {tag!r} is not one of them",
                param="metadata.tags",
                code="tag_not_allowed",
            )


def without_tags(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a copy when it changes) without ``metadata.tags``, and without
    ``metadata`` when that was all it held; the caller's dict is left as it was."""
    metadata = body.get("metadata")
    if type(metadata) is not dict or "tags" not in metadata:
        return body
    rest = {k: v for k, v in metadata.items() if k != "tags"}
    out = dict(body)
    if rest:
        out["metadata"] = rest
    else:
        del out["metadata"]
    return out


def strip_request(request: Any) -> None:
    """Take ``metadata.tags`` out of a parsed request's unmodelled fields (forwarded to
    an upstream of its dialect), and ``metadata`` out of its unmapped ones when that was
    all it held: a route that refuses unmapped fields must not refuse the gateway's."""
    extra = without_tags(request.extra)
    if extra is request.extra:
        return
    request.extra = extra
    if "metadata" not in extra and "metadata" in request.unmapped:
        request.unmapped = [name for name in request.unmapped if name != "metadata"]
