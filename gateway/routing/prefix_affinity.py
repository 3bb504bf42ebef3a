"""Cache-aware routing: requests that share a prompt prefix go back to the deployment
that served it last, while that upstream's prompt cache is likely still warm.

Upstream prompt caches are per deployment (per account, region, model): an agent that
resends the same tools, system prompt and first turns gets cache reads (a tenth of the
input price, a shorter time to first token) only when it lands where it landed before.
``health.choose`` asks ``preferred`` among a weighted route's equally weighted
deployments; the service ``remember``s the deployment that answered.

The key (``prefix_key``) hashes the tool names, the system prompt and the first
message (what every turn of a conversation starts with), each as its length and its
first and last ``HEAD_CHARS`` characters: bounded work whatever the prompt's size
(about 4 us for a 4-tool agent request whether its system prompt is 1 kB or 400 kB,
and 1-2 us for the table's lookup and update, measured by ``bench/prefix_key.py`` on
a busy 2-core machine). Only routes with several deployments and prompts long enough
for an upstream to cache pay it. Two prompts equal in length, head and tail but not in
the middle share a key: the cost is an affinity that was not needed, nothing worse.
Affinity concentrates one prefix's traffic on one deployment: a deployment's
``rpm``/``tpm`` caps and its cooldown end it.

How long an upstream keeps a prefix cached (after its last use; every hit refreshes it):
- Anthropic: 5 minutes by default (docs.anthropic.com, "Prompt caching": "The cache has
  a minimum 5-minute lifetime", refreshed each time it is used);
- OpenAI and Azure OpenAI: cleared "within 5 to 10 minutes of inactivity", always within
  an hour (learn.microsoft.com, Azure OpenAI "Prompt caching"; OpenAI's guide at
  developers.openai.com/docs/guides/prompt-caching says the same, and that OpenAI
  itself routes by a hash of the prompt's first ~256 tokens): 5 minutes, the low end;
- Bedrock: 5 minutes (docs.aws.amazon.com, "Prompt caching for faster model inference":
  the cache checkpoint's TTL resets with each hit);
- Gemini and Vertex implicit caching: no documented lifetime (ai.google.dev, "Context
  caching": implicit caches are short-lived, explicit ones default to 1 hour): 3 minutes;
- any other kind (OpenAI-compatible servers such as vLLM's prefix cache, which evicts by
  memory pressure, not time): 5 minutes.
Each is declared on the kind's adapter class (``prompt_cache_seconds``, five minutes on
``providers.base.Provider``), so a new kind states its own and none is missed by name.

The table lives in this process, at most ``MAX_ENTRIES`` prefixes (least recently used
dropped first); where the limits' counters are shared (the counter service of ``serve
--workers N``, Redis across instances) what each process learns is told to the others
and a prefix it does not know is asked for once (``shared_affinity``).
"""

from __future__ import annotations

from collections import OrderedDict
from hashlib import sha256

import orjson

from gateway.base.entries import DeploymentEntry
from gateway.base.types import ChatRequest, leading_messages
from gateway.providers import kinds
from gateway.providers.base import Provider

HEAD_CHARS = 256
FIRST_MESSAGES = 1  # a conversation's every turn starts with it (the second varies on turn 1)
# Upstreams cache only prompts of this many tokens and more (OpenAI; Anthropic 1,024 or
# 2,048 by model; Gemini implicit 1,024 or 2,048): shorter ones need no affinity.
MIN_CACHED_TOKENS = 1024
MAX_ENTRIES = 50_000


def warm_seconds(deployment: DeploymentEntry) -> float:
    """How long ``deployment``'s upstream likely keeps a prefix it served cached: its
    adapter class's ``prompt_cache_seconds`` (the base's for a kind no adapter has)."""
    adapter: type[Provider] | None = kinds.adapter_class(deployment.provider.kind)
    return (adapter or Provider).prompt_cache_seconds


def _head(text: str) -> tuple[int, str, str]:
    """What stands for a text in the key: its length, its head and its tail (prompts
    that share a preamble and differ at the end, a date or a working directory, must
    not all land on one deployment)."""
    if len(text) <= 2 * HEAD_CHARS:
        return len(text), text, ""
    return len(text), text[:HEAD_CHARS], text[-HEAD_CHARS:]


def prefix_key(request: ChatRequest, estimate: int) -> int | None:
    """A hash of what an upstream caches first (tools, system, the first message); None
    for a prompt (``estimate`` tokens) too short for any upstream to cache."""
    if estimate < MIN_CACHED_TOKENS:
        return None
    parts: list[object] = [tool.name for tool in request.tools]
    parts.extend(_head(text.text) for text in request.system)
    for message in leading_messages(request, FIRST_MESSAGES):  # (the rest left unbuilt)
        parts.append(message.role)
        for part in message.parts:
            text = getattr(part, "text", None)
            parts.append(_head(text) if isinstance(text, str) else type(part).__name__)
    # a stable digest (not ``hash``, salted per process): the workers and instances that
    # share affinity (``shared_affinity``) name a prefix alike. SHA-256 for the CPUs'
    # SHA extensions (about 1 kB here: a few microseconds, bench/prefix_key.py)
    return int.from_bytes(sha256(orjson.dumps(parts)).digest()[:8], "big") >> 1


class AffinityTable:
    """(route, prefix key) -> (deployment id, warm until): bounded, least recently used
    dropped first. Times come from the caller's clock (``routing.clock``)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int], tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def preferred(self, route: str, prefix: int, now: float) -> int | None:
        """The deployment that served ``prefix`` on ``route`` last, while still warm."""
        entry = self._entries.get((route, prefix))
        if entry is None:
            return None
        deployment_id, warm_until = entry
        if warm_until <= now:
            del self._entries[(route, prefix)]
            return None
        self._entries.move_to_end((route, prefix))
        return deployment_id

    def remember(self, route: str, prefix: int, deployment: DeploymentEntry, now: float) -> float:
        """``deployment`` served ``prefix``: its cache is warm for another TTL (returned,
        in seconds, for the shared store: ``shared_affinity``)."""
        seconds = warm_seconds(deployment)
        self.learn(route, prefix, deployment.id, now + seconds)
        return seconds

    def learn(self, route: str, prefix: int, deployment_id: int, warm_until: float) -> None:
        """Keep (``route``, ``prefix``) -> ``deployment_id`` until ``warm_until``."""
        key = (route, prefix)
        self._entries[key] = (deployment_id, warm_until)
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, deployment_ids: set[int]) -> None:
        """Deployments that changed or left: their entries point nowhere useful (one
        pass over the table, however many changed)."""
        stale = [k for k, (d, _) in self._entries.items() if d in deployment_ids]
        for key in stale:
            del self._entries[key]
