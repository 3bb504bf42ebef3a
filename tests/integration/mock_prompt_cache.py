"""The prompt cache of the mock Anthropic and Bedrock upstreams, strict as the real ones.

- More than 4 breakpoints (``cache_control`` blocks; ``cachePoint`` blocks) is refused
  with the upstream's 400 (Anthropic: ``invalid_request_error`` "A maximum of 4 blocks
  with cache_control may be provided. Found N."; Bedrock: ``ValidationException``).
- The prompt is read in the order the APIs cache it: tools, system, messages. At each
  breakpoint the prefix up to it (its blocks without their breakpoint markers) is
  hashed; a prefix seen before (and at least ``MIN_TOKENS`` long, as Claude's minimum)
  is read from the cache, the longest such one wins; the prefix up to the last
  breakpoint is written when it was not cached yet. Tokens are characters / 4.

``usage`` returns (uncached input, cache read, cache write) tokens, or None when no
breakpoint closes a cacheable prefix (the mocks then answer with their scripted figures).
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

LIMIT = 4
MIN_TOKENS = 1024


class TooManyBreakpoints(Exception):
    def __init__(self, found: int) -> None:
        super().__init__(
            f"A maximum of {LIMIT} blocks with cache_control may be provided. Found {found}."
        )
        self.found = found


class PromptCache:
    def __init__(self) -> None:
        self.prefixes: set[str] = set()
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            self.prefixes.clear()

    def anthropic(self, body: dict[str, Any]) -> tuple[int, int, int] | None:
        """Usage for a Messages body; raises TooManyBreakpoints."""
        blocks: list[tuple[Any, bool]] = []  # (block without its marker, breakpoint after it)

        def add(block: Any) -> None:
            if isinstance(block, dict):
                marked = "cache_control" in block
                block = {k: v for k, v in block.items() if k != "cache_control"}
                if isinstance(block.get("content"), list):  # a tool result's inner blocks
                    inner = [b for b in block["content"] if isinstance(b, dict)]
                    marked_inner = sum("cache_control" in b for b in inner)
                    block["content"] = [
                        {k: v for k, v in b.items() if k != "cache_control"} for b in inner
                    ]
                    for _ in range(marked_inner):
                        blocks.append((None, True))
                blocks.append((block, marked))
            else:
                blocks.append((block, False))

        for tool in body.get("tools") or []:
            add(tool)
        system = body.get("system")
        for block in [system] if isinstance(system, str) else system or []:
            add(block)
        for message in body.get("messages") or []:
            content = message.get("content")
            for block in [content] if isinstance(content, str) else content or []:
                add(block)
        return self._usage(blocks)

    def bedrock(self, body: dict[str, Any]) -> tuple[int, int, int] | None:
        """Usage for a Converse body; raises TooManyBreakpoints."""
        blocks: list[tuple[Any, bool]] = []
        sections = [
            (body.get("toolConfig") or {}).get("tools") or [],
            body.get("system") or [],
            *[m.get("content") or [] for m in body.get("messages") or []],
        ]
        for section in sections:
            for block in section:
                if isinstance(block, dict) and "cachePoint" in block:
                    if blocks:
                        blocks[-1] = (blocks[-1][0], True)
                    else:
                        blocks.append((None, True))
                else:
                    blocks.append((block, False))
        return self._usage(blocks)

    def _usage(self, blocks: list[tuple[Any, bool]]) -> tuple[int, int, int] | None:
        found = sum(marked for _, marked in blocks)
        if found > LIMIT:
            raise TooManyBreakpoints(found)
        digest = hashlib.sha256()
        total = 0
        points: list[tuple[str, int]] = []  # (prefix hash, tokens up to it)
        for block, marked in blocks:
            if block is not None:
                text = json.dumps(block, sort_keys=True)
                digest.update(text.encode())
                total += len(text) // 4
            if marked:
                points.append((digest.hexdigest(), total))
        if not any(t >= MIN_TOKENS for _, t in points):
            return None  # nothing long enough to cache: the scripted figures stand
        with self.lock:
            read = max((t for h, t in points if h in self.prefixes and t >= MIN_TOKENS), default=0)
            last_hash, last_tokens = points[-1]
            write = 0
            if last_tokens >= MIN_TOKENS and last_hash not in self.prefixes:
                write = last_tokens - read
            self.prefixes.update(h for h, t in points if t >= MIN_TOKENS)
        return total - read - write, read, write
