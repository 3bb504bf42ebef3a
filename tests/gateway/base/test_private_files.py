"""The data folder and the SQLite database (with its -wal and -shm files) are private
to the user, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from gateway.base.private_files import private_data_dir
from tests.live import ROOT


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_private_under_an_open_umask(tmp_path):
    folder = tmp_path / "data"
    old = os.umask(0o022)
    try:
        private_data_dir(folder, "db.sqlite3")
        with sqlite3.connect(folder / "db.sqlite3") as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE t (x)")
            db.execute("INSERT INTO t VALUES (1)")
            companions = [folder / "db.sqlite3-wal", folder / "db.sqlite3-shm"]
            assert all(p.exists() for p in companions)
            assert [mode(p) for p in companions] == [0o600, 0o600]
    finally:
        os.umask(old)
    assert mode(folder) == 0o700 and mode(folder / "db.sqlite3") == 0o600


def test_an_open_folder_and_database_are_tightened(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    for name in ("db.sqlite3", "db.sqlite3-wal"):
        (folder / name).write_bytes(b"")
        (folder / name).chmod(0o644)
    private_data_dir(folder, "db.sqlite3")
    assert mode(folder) == 0o700
    assert mode(folder / "db.sqlite3") == mode(folder / "db.sqlite3-wal") == 0o600


def test_a_fresh_install_is_private(tmp_path):
    env = {**os.environ, "SWITCHYARD_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        f"umask 022 && {sys.executable} manage.py migrate -v 0",
        shell=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    data = tmp_path / "data"
    assert mode(data) == 0o700
    files = [p for p in data.iterdir() if p.name.startswith("switchyard.sqlite3")]
    assert files and all(mode(p) == 0o600 for p in files)
