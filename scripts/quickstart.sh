#!/usr/bin/env bash
# Command 1 of the README: set up and start Switchyard with its console.
# Creates .venv, installs the project, migrates, seeds the demo echo routes, a master
# key and a console admin (printed once, or taken from SWITCHYARD_MASTER_KEY,
# SWITCHYARD_ADMIN_USER / SWITCHYARD_ADMIN_PASSWORD), then serves on
# http://127.0.0.1:4000 (SWITCHYARD_HOST / SWITCHYARD_PORT to change) with one worker
# process per core, the production setup the README recommends (SWITCHYARD_WORKERS).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py seed_demo
CORES=$(nproc 2>/dev/null || echo 1)
exec .venv/bin/python manage.py serve --no-migrate \
  --host "${SWITCHYARD_HOST:-127.0.0.1}" --port "${SWITCHYARD_PORT:-4000}" \
  --workers "${SWITCHYARD_WORKERS:-$CORES}"
