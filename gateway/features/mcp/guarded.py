"""pre_mcp_call guardrails on one tool call, for ``calls`` (``/mcp``, the console, the
API) and the hosted loop: ``begin`` asks each registered guard (``hooks.mcp_guards``,
filled by the guardrails feature, which this package never imports) for the call's
checks; ``arguments`` runs them on the arguments before the tool runs and ``result`` on
what it returned: each text item, and the string values of its structured content
(checked one by one, so a rewrite keeps the JSON whole); other items (images, audio,
embedded resources) pass as they are.

No guard registered, or none with a guardrail that applies: ``begin`` returns an empty
list and the call costs nothing more. A refusal is raised as the guard raised it
(``GuardrailBlocked`` / ``GuardrailUnavailable``); each caller turns it into what its
client reads (a tool result with ``isError`` on ``/mcp``, the call's error in the loop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types

from gateway.base import hooks

Checks = list[hooks.McpCheck]


def begin(
    key: Any, server: str, tool: str, *, route: Any = None, call: Any = None, record: Any = None
) -> Checks:
    """The checks of one call (an empty list, the common case, when none applies)."""
    checks = []
    for guard in hooks.mcp_guards:
        check = guard.begin(key, server, tool, route=route, call=call, record=record)
        if check is not None:
            checks.append(check)
    return checks


async def arguments(checks: Checks, value: dict[str, Any]) -> dict[str, Any]:
    for check in checks:
        value = await check.check_call(value)
    return value


def _strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found)


def _rebuilt(value: Any, take: Callable[[], str]) -> Any:
    if isinstance(value, str):
        return take()
    if isinstance(value, dict):
        return {k: _rebuilt(v, take) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuilt(v, take) for v in value]
    return value


async def result(checks: Checks, value: types.CallToolResult) -> types.CallToolResult:
    """``value`` with its texts checked: the same object when no check changed one."""
    if not checks:
        return value
    items = [i for i, block in enumerate(value.content) if isinstance(block, types.TextContent)]
    texts = [value.content[i].text for i in items]  # type: ignore[union-attr]
    structured = value.structured_content
    _strings(structured, texts)
    checked = texts
    for check in checks:
        checked = await check.check_result(checked)
    if checked is texts or checked == texts:
        return value
    content = list(value.content)
    for at, text in zip(items, checked, strict=False):
        content[at] = content[at].model_copy(update={"text": text})
    rest = iter(checked[len(items) :])
    update: dict[str, Any] = {"content": content}
    if structured is not None:
        update["structured_content"] = _rebuilt(structured, lambda: next(rest))
    return value.model_copy(update=update)
