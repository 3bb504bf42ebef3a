"""Heavy modules a feature loads on first use, imported in a thread so that the
event loop goes on serving meanwhile.

A serving process imports what a request does not use only when a request first
needs it (the MCP SDK, botocore, the console's URL conf). Imported in the loop, such a
module stopped every request in flight on that worker for as long as the import took:
the MCP SDK is 0.8 s of CPU, the console's URL conf 0.6 s (2 cores, idle). In a thread
the import still takes the GIL, but the loop gets it back every switch interval (5 ms).

A second caller while the first import runs waits in a thread of its own on the
module's import lock, never in the loop.

``function("package.module:name")`` is the declaration of a function whose module is
imported when it is first called (a background task's loop, a hook the feature's own
modules answer): the module stays out of a process that never calls it, and the
dependency is named where it is registered instead of in a wrapper's deferred import."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


def ready(name: str) -> ModuleType | None:
    """The module when it is imported and done initialising, else None."""
    module = sys.modules.get(name)
    if module is None or getattr(module.__spec__, "_initializing", False):
        return None
    return module


async def loaded(name: str) -> ModuleType:
    """Module ``name``, imported in a thread unless it is already there."""
    module = ready(name)
    if module is not None:
        return module
    return await asyncio.to_thread(importlib.import_module, name)


def function(target: str) -> Callable[..., Any]:
    """``"package.module:name"``: a function calling ``name`` of that module, imported
    (in the caller's thread, as a deferred import would) when it is first called."""
    module, _, name = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = target
    return call
