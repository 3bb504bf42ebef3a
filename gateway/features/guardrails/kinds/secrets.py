"""``hide-secrets``: API keys, tokens, passwords and private keys found by Yelp's
``detect-secrets``, redacted as ``[REDACTED_<TYPE>]`` (``action: MASK``, the default, as
LiteLLM's hide-secrets does) or refused naming the secret's type (``BLOCK``), never the
secret itself.

Detectors: ``detect_secrets_config`` (detect-secrets' own ``{"plugins_used": [{"name":
"AWSKeyDetector"}, ...]}``) or ``plugins`` (a list of plugin names); by default every
plugin detect-secrets ships except the noisy ones (``NOISY``: the high-entropy strings,
which flag hashes and ids, and public IP addresses, which are not secrets), each
available by asking for it. Each line is scanned with detect-secrets' ``scan_line``
under the guardrail's settings (set as its ``transient_settings`` sets them, kept until
another guardrail's differ; its filters included, so templated and obviously fake
values pass); those settings are process-global, so scans take one lock and a scan of
more than ``INLINE_CHARS`` runs in a thread.

A private key is redacted whole: from its ``-----BEGIN ... PRIVATE KEY-----`` line to its
``-----END`` line (or the end of the text, when that has not come yet). In a stream, the
key's body lines that follow such a redaction are absorbed into it as they come, so a
key streamed line by line goes out as one ``[REDACTED_PRIVATE_KEY]``."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.base.entries import GuardrailEntry
from gateway.features.guardrails.kinds import Checker as BaseChecker
from gateway.features.guardrails.kinds import ConfigError, Context, Verdict

ACTIONS = ("MASK", "BLOCK")
NOISY = frozenset({"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"})
INLINE_CHARS = 2_000
PRIVATE_KEY = "Private Key"
KEY_MARK = "[REDACTED_PRIVATE_KEY]"
_LABELS = r"(?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?"
KEY_BLOCK = re.compile(rf"-----BEGIN {_LABELS}-----.*?(?:-----END {_LABELS}-----|\Z)", re.DOTALL)
# what follows a redacted key while its body streams in: base64 lines, then its END
# line (whole, or begun at the very end of what is seen)
KEY_TAIL = re.compile(
    re.escape(KEY_MARK)
    + r"(?:\r?\n?[A-Za-z0-9+/=]+(?=\r?\n|\Z))*"
    + rf"(?:\r?\n?-----END {_LABELS}-----|\r?\n?-[-A-Z0-9 ]*\Z)?"
)
_lock = threading.Lock()  # detect-secrets' settings are the process's
_applied: list[str] = []  # the plugins its settings hold now


def _apply(config: dict[str, Any]) -> None:
    """Set detect-secrets' settings to ``config`` (fresh: its default filters and these
    plugins), as ``transient_settings`` does on entry, unless they hold it already: no
    other part of the process scans for secrets, and building the settings anew cost
    half of a 500-character check."""
    from detect_secrets.settings import cache_bust, configure_settings_from_baseline

    key = orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()
    if _applied and _applied[0] == key:
        return
    _applied.clear()
    cache_bust()  # a new Settings: nothing of the last guardrail's plugins stays
    configure_settings_from_baseline(config)
    _applied.append(key)


def _plugins() -> dict[str, str]:
    """{plugin class name: secret type} of every plugin detect-secrets ships."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
    return {cls.__name__: kind for kind, cls in mapping.items()}


@dataclass(frozen=True, slots=True)
class Settings:
    action: str
    plugins: tuple[dict[str, Any], ...]  # detect-secrets' plugins_used


def settings(params: dict[str, Any]) -> Settings:
    action = str(params.get("action") or "MASK").upper()
    if action not in ACTIONS:
        raise ConfigError(
            "params.action", f"unknown action {params.get('action')!r}: MASK or BLOCK"
        )
    known = _plugins()
    config = params.get("detect_secrets_config")
    names = params.get("plugins")
    if config is not None and names is not None:
        raise ConfigError("params.plugins", "give plugins or detect_secrets_config, not both")
    chosen: list[dict[str, Any]] = []
    if config is not None:
        if not isinstance(config, dict):
            raise ConfigError("params.detect_secrets_config", "must be an object with plugins_used")
        for key in config:
            if key != "plugins_used":
                raise ConfigError(
                    f"params.detect_secrets_config.{key}",
                    "only plugins_used is read (filters are detect-secrets' defaults)",
                )
        used = config.get("plugins_used")
        if not isinstance(used, list) or not used:
            raise ConfigError(
                "params.detect_secrets_config.plugins_used", "must list at least one plugin"
            )
        for index, item in enumerate(used):
            where = f"params.detect_secrets_config.plugins_used[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ConfigError(where, "must be an object with a plugin's name")
            chosen.append(_plugin(item, known, f"{where}.name"))
    elif names is not None:
        if not isinstance(names, list) or not names:
            raise ConfigError("params.plugins", "must list at least one plugin")
        for index, name in enumerate(names):
            item = name if isinstance(name, dict) else {"name": name}
            chosen.append(_plugin(item, known, f"params.plugins[{index}]"))
    else:
        chosen = [{"name": name} for name in sorted(known) if name not in NOISY]
    return Settings(action, tuple(chosen))


def _plugin(item: dict[str, Any], known: dict[str, str], where: str) -> dict[str, Any]:
    name = item.get("name")
    by_type = {kind: cls for cls, kind in known.items()}
    if isinstance(name, str) and name in by_type:  # its secret type ("AWS Access Key")
        name = by_type[name]
    if not isinstance(name, str) or name not in known:
        raise ConfigError(
            where, f"unknown detect-secrets plugin {name!r}; known: {', '.join(sorted(known))}"
        )
    limit = item.get("limit")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit <= 8
    ):
        raise ConfigError(where.rsplit(".", 1)[0] + ".limit", "an entropy limit between 0 and 8")
    return {**item, "name": name}


def validate(params: dict[str, Any]) -> dict[str, Any]:
    settings(params)
    return params


def tag(secret_type: str) -> str:
    """``AWS Access Key`` -> ``AWS_ACCESS_KEY``."""
    return re.sub(r"[^A-Z0-9]+", "_", secret_type.upper()).strip("_")


@dataclass(slots=True)
class Scanned:
    text: str
    types: list[str]  # the secret types found, in order


class Checker(BaseChecker):
    local = True
    stream_step = 32  # ~0.2 ms a check: every few deltas on a stream

    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        self.settings = settings(dict(entry.params))
        self.config = {"plugins_used": [dict(item) for item in self.settings.plugins]}
        self.patterns = _patterns([item["name"] for item in self.settings.plugins])

    async def check(self, texts: list[str], context: Context) -> Verdict:
        if sum(len(text) for text in texts) > INLINE_CHARS or not _lock.acquire(blocking=False):
            scanned = await asyncio.to_thread(self._locked_scan, texts)
        else:
            try:
                scanned = self._scan(texts)
            finally:
                _lock.release()
        types = list(dict.fromkeys(kind for item in scanned for kind in item.types))
        if not types:
            return Verdict()
        tags = tuple(tag(kind) for kind in types)
        if self.settings.action == "BLOCK":
            return Verdict("blocked", f"a secret detected ({', '.join(types)})", entities=tags)
        return Verdict(
            "intervened", f"redacted {', '.join(types)}", [item.text for item in scanned], tags
        )

    def _locked_scan(self, texts: list[str]) -> list[Scanned]:
        with _lock:
            return self._scan(texts)

    def _scan(self, texts: list[str]) -> list[Scanned]:
        """Under ``_lock``: each text's lines through ``scan_line``."""
        from detect_secrets.core.scan import scan_line

        _apply(self.config)
        out: list[Scanned] = []
        for text in texts:
            found: list[tuple[str, str]] = []
            for line in _lines(text):
                found += [(s.type, s.secret_value or "") for s in scan_line(line)]
            out.append(self._redacted(text, found))
        return out

    def _redacted(self, text: str, found: list[tuple[str, str]]) -> Scanned:
        types = [kind for kind, _ in found]
        if KEY_MARK in text:  # a key redacted earlier in this stream: its body follows
            tail = KEY_TAIL.sub(KEY_MARK, text)
            if tail != text:
                text = tail
                types.append(PRIVATE_KEY)
        if not found:
            return Scanned(text, list(dict.fromkeys(types)))
        if PRIVATE_KEY in types:
            text = KEY_BLOCK.sub(KEY_MARK, text)
        for kind, value in found:
            if kind == PRIVATE_KEY:
                continue
            mark = f"[REDACTED_{tag(kind)}]"
            if len(value) >= 8 and value in text:
                text = text.replace(value, mark)
                continue
            # the value is a pattern's first group (a prefix such as "ghp"): the match
            for pattern in self.patterns.get(kind, ()):
                text = pattern.sub(_marker(value, mark), text)
        return Scanned(text, list(dict.fromkeys(types)))


def _marker(value: str, mark: str) -> Callable[[re.Match[str]], str]:
    def marked(found: re.Match[str]) -> str:
        return mark if value in (found.group(0), *found.groups()) else found.group(0)

    return marked


def _lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.strip():
            yield line


def _patterns(names: list[str]) -> dict[str, tuple[re.Pattern[str], ...]]:
    """{secret type: the plugin's own regular expressions} for the regex-based plugins."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    out: dict[str, tuple[re.Pattern[str], ...]] = {}
    mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
    for kind, cls in mapping.items():
        if cls.__name__ in names:
            denylist = getattr(cls, "denylist", None)
            if isinstance(denylist, list | tuple):
                out[kind] = tuple(p for p in denylist if isinstance(p, re.Pattern))
    return out
