#!/usr/bin/env bash
# Command 2 of the README: install what the tests need and run the whole suite.
# Installs the project with its test extra into .venv, Debian's Chromium for the
# browser tests and the Claude Code and Gemini CLIs from npm (when root / npm are available),
# makes sure the local PostgreSQL and Redis are up, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
# the example plugin (tests/plugin_package): a separate package found by its entry point
# (tests/gateway/base/test_plugins_installed.py)
.venv/bin/python -m pip install --quiet -e tests/plugin_package

if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
# the Kubernetes manifests are rendered with `kubectl kustomize` (tests/deploy/test_kubernetes.py;
# kubectl 1.22+: Debian's `kubectl` package where the Kubernetes apt repository is set up)
if ! command -v kubectl >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl >/dev/null) \
    || echo "warning: could not install kubectl; the Kubernetes manifest checks will be skipped" >&2
fi
# the compose file and the systemd unit are validated with these CLIs when present
if { ! command -v docker-compose >/dev/null 2>&1 || ! command -v systemd-analyze >/dev/null 2>&1; } \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose systemd >/dev/null 2>&1) \
    || echo "warning: could not install docker-compose/systemd; their checks will be skipped" >&2
fi
# the rolling-restart test runs two instances behind a real nginx
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1) \
    || echo "warning: could not install nginx; the rolling-restart test will be skipped" >&2
fi
if ! command -v claude >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  npm install -g --silent @anthropic-ai/claude-code >/dev/null 2>&1 \
    || echo "warning: could not install the Claude Code CLI; its tests will be skipped" >&2
fi
if ! command -v gemini >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  npm install -g --silent @google/gemini-cli >/dev/null 2>&1 \
    || echo "warning: could not install the Gemini CLI; its tests will be skipped" >&2
fi
if ! command -v codex >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  npm install -g --silent @openai/codex >/dev/null 2>&1 \
    || echo "warning: could not install the Codex CLI; its tests will be skipped" >&2
fi
# the single sign-on tests sign in at a real OpenID provider (panva/oidc-provider on Node)
if command -v npm >/dev/null 2>&1 && [ ! -d tests/fixtures/oidc_provider/node_modules/oidc-provider ]; then
  (cd tests/fixtures/oidc_provider && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) \
    || echo "warning: could not install the test OpenID provider; the SSO tests will be skipped" >&2
fi
# the MCP conformance suite and its reference server (tests/integration/test_mcp_conformance.py)
if command -v npm >/dev/null 2>&1 && [ ! -d tests/fixtures/mcp_conformance/node_modules/@modelcontextprotocol/conformance ]; then
  (cd tests/fixtures/mcp_conformance && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) \
    || echo "warning: could not install the MCP conformance suite; its test will be skipped" >&2
fi
scripts/services.sh || echo "warning: PostgreSQL/Redis not available; their tests will be skipped" >&2

# Bytecode is written for this run, whatever the environment says (PYTHONDONTWRITEBYTECODE=1
# is common in containers): without it every process the suite starts (each live test
# module's gateway server and its workers, each `manage.py` command, each pytest worker)
# compiles gateway/ from source again, about a third of a Django start's CPU, and each
# pytest worker rewrites every test module's asserts again (collection: 37 s of CPU
# against 13 s). gateway/ and console/ are compiled once here, before the two workers
# would both do it at the same moment (docs/benchmarks.md "The test suite's CPU").
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q -j 2 -x node_modules gateway console tests >/dev/null

# ruff and mypy first, as CI runs them (SWITCHYARD_SKIP_LINT=1 to skip while iterating)
if [ "${SWITCHYARD_SKIP_LINT:-0}" != 1 ]; then
  scripts/lint.sh
fi

# three pytest processes (pytest-xdist) on CI's 2 cores, whole test files to one process
# each so a module's shared server starts once, the files that drive Chromium one after
# the other in one process (tests/schedule.py): the live tests mostly wait on servers,
# CLIs and sockets, and a third process fills that time (docs/benchmarks.md "The test
# suite's wall time"). SWITCHYARD_TEST_WORKERS=0 runs in one process (for -s / --pdb).
exec .venv/bin/python -m pytest -n "${SWITCHYARD_TEST_WORKERS:-3}" --dist loadfile --no-loadscope-reorder "$@"
