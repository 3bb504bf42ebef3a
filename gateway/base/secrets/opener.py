"""The key that seals provider secrets at rest, and opening many sealed values at once in
a short-lived child process.

A worker opens the registry's sealed secrets (a provider's API key, a URL with
credentials, sealed headers) when it loads its snapshot, and usually never again:
``cryptography``'s Rust library and its modules are about 9 MB of the process from then
on (7.4 MB to import it, 1.4 MB more once a key is derived), for what takes
milliseconds. ``open_in_child`` runs this file as a script in a new interpreter, which
imports the library, opens the tokens it is given on its standard input and writes their
plaintexts to its standard output, and exits: the worker keeps the plaintexts (its
snapshot holds them anyway) and never maps the library (#67, the idle envelope). The
child imports nothing of the gateway (the script's folder is kept off its path: ``-P``),
so it starts in about a tenth of a second; the key material goes through the pipe, never
through its command line.

``fernet`` is the one derivation of the key, here and in ``crypto`` alike."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

CHILD_TIMEOUT_SECONDS = 30.0


def fernet(explicit: str, secret_key: str) -> Fernet:
    """The Fernet of secrets at rest: the explicit key (``SWITCHYARD_ENCRYPTION_KEY``)
    whole when given (ValueError when it is not a Fernet key), else one derived from
    ``SECRET_KEY`` through HKDF."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if explicit:
        return Fernet(explicit.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"switchyard-secrets", info=b"provider-secret"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def open_tokens(explicit: str, secret_key: str, tokens: Sequence[str]) -> list[str | None]:
    """Each Fernet token's plaintext, None for one that does not open under the key (or
    every one, when the key is not a Fernet key)."""
    from cryptography.fernet import InvalidToken

    try:
        key = fernet(explicit, secret_key)
    except ValueError:
        return [None] * len(tokens)
    opened: list[str | None] = []
    for token in tokens:
        try:
            opened.append(key.decrypt(token.encode()).decode())
        except (InvalidToken, UnicodeError):
            opened.append(None)
    return opened


def open_in_child(explicit: str, secret_key: str, tokens: Sequence[str]) -> list[str | None]:
    """``open_tokens`` run in a child interpreter: each token's plaintext or None; every
    one None when the child could not be run or did not answer (the caller then opens
    them in its own process)."""
    request = json.dumps({"explicit": explicit, "secret_key": secret_key, "tokens": list(tokens)})
    try:
        done = subprocess.run(
            [sys.executable, "-P", __file__],
            input=request.encode(),
            capture_output=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=True,
        )
        opened: Any = json.loads(done.stdout)["opened"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        log.warning("opening the sealed secrets in a child process failed: %r", exc)
        return [None] * len(tokens)
    if not isinstance(opened, list) or len(opened) != len(tokens):
        log.warning("the secrets' child process gave no plaintext for each of %d", len(tokens))
        return [None] * len(tokens)
    return [text if isinstance(text, str) else None for text in opened]


def main() -> None:
    """The child: a request on standard input, the plaintexts on standard output."""
    request = json.loads(sys.stdin.buffer.read())
    opened = open_tokens(request["explicit"], request["secret_key"], request["tokens"])
    sys.stdout.write(json.dumps({"opened": opened}))


if __name__ == "__main__":
    main()
