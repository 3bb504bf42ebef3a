#!/bin/sh
# The Switchyard container's start: migrate the database (unless SWITCHYARD_MIGRATE=0:
# on Kubernetes a Job migrates once and the serving pods never do), import the LiteLLM
# config mounted at /config/config.yaml when there is one (re-importing updates, never
# duplicates), then replace this shell with the server so it receives SIGTERM itself.
# Arguments are passed on to serve (`--role api`).
set -eu
cd "${SWITCHYARD_APP_DIR:-/app}"
if [ "${SWITCHYARD_MIGRATE:-1}" != 0 ]; then
  python manage.py migrate --no-input -v 1
fi
config="${SWITCHYARD_IMPORT_CONFIG:-/config/config.yaml}"
if [ -f "$config" ]; then
  echo "importing $config"
  python manage.py import_config "$config"
fi
exec python manage.py serve --no-migrate --host 0.0.0.0 --port "${SWITCHYARD_PORT:-4000}" --workers "${SWITCHYARD_WORKERS:-2}" "$@"
