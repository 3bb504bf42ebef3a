"""The data folder and the SQLite database are private to the user running the server:
they hold the journal's bodies, stored responses and encrypted secrets. Created 0700
and 0600 whatever the umask (a default 022 made the database world-readable), and
tightened when an earlier version left them open. SQLite creates its ``-wal`` and
``-shm`` files with the database file's permissions, so a 0600 database keeps them
0600 too (existing ones are tightened here as well)."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def _tighten(path: Path, mode: int) -> None:
    """``chmod`` to ``mode`` when the file is ours and more open than that."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
            path.chmod(mode)


def private_data_dir(folder: Path, sqlite_name: str | None = None) -> None:
    """Create ``folder`` 0700 (and its SQLite database ``sqlite_name`` 0600, empty, so
    SQLite opens it with those permissions), or tighten what is there."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)
    if sqlite_name is not None:
        private_database(folder / sqlite_name)


def private_database(database: Path) -> None:
    """Create the SQLite file ``database`` 0600, empty, so SQLite opens it with those
    permissions, or tighten it (and its companions) when it is more open. A folder that
    does not exist is left to SQLite to report; the folder itself is not changed (an
    operator's ``DATABASE_URL`` may name a file in a folder others share)."""
    with contextlib.suppress(FileExistsError, FileNotFoundError, PermissionError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in SQLITE_COMPANIONS:
        _tighten(Path(f"{database}{suffix}"), 0o600)
