"""Which PostgreSQL driver Django uses (``gateway.base.db_driver``): asked of Django the
first time the flag is tested, never at import, and remembered after."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

from gateway.base import db_driver

DJANGOS = "django.db.backends.postgresql.psycopg_any"


def fresh() -> db_driver._IsPsycopg3:
    class Flag(db_driver._IsPsycopg3):
        pass  # its own remembered answer, not the module's

    return Flag()


def test_the_flag_reads_djangos_answer_the_first_time_and_keeps_it(monkeypatch) -> None:
    fake = ModuleType(DJANGOS)
    fake.is_psycopg3 = False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, DJANGOS, fake)
    flag = fresh()
    assert flag._value is None  # nothing asked yet
    assert not flag and repr(flag) == "False"
    fake.is_psycopg3 = True  # type: ignore[attr-defined]
    assert not flag  # remembered
    other = fresh()
    assert other and repr(other) == "True"


def test_importing_the_module_imports_no_driver() -> None:
    code = (
        "import sys; import gateway.base.db_driver; "
        "print(any(m.startswith(('psycopg', 'django.db.backends.postgresql')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
