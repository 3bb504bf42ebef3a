#!/bin/sh
# The Switchyard container's start: migrate the database, import the LiteLLM config
# mounted at /config/config.yaml when there is one (re-importing updates, never
# duplicates), then replace this shell with the server so it receives SIGTERM itself.
set -eu
cd "${SWITCHYARD_APP_DIR:-/app}"
python manage.py migrate --no-input -v 1
config="${SWITCHYARD_IMPORT_CONFIG:-/config/config.yaml}"
if [ -f "$config" ]; then
  echo "importing $config"
  python manage.py import_config "$config"
fi
exec python manage.py serve --no-migrate --host 0.0.0.0 --port "${SWITCHYARD_PORT:-4000}" --workers "${SWITCHYARD_WORKERS:-2}"
