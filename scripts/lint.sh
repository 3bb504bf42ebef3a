#!/usr/bin/env bash
# Lint, format and type checks, run by scripts/test.sh before the tests (as CI does):
# ruff check, ruff format --check, and mypy (strict on all of gateway/, console/, bench/,
# scripts/ and manage.py: [tool.mypy] of pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy
