#!/usr/bin/env bash
# The compatibility tier (docs/compat.md): real clients against a gateway on every upstream
# kind (the repository's mocks on 127.0.0.1), written as a client x version x upstream x
# feature matrix into docs/compat.md.
#
#   scripts/compat.sh                 the pinned set: the SDKs of .venv, the CLIs on PATH
#                                     (what scripts/test.sh installs; CI runs the SDK part
#                                     as tests/compat/test_compat_matrix.py)
#   scripts/compat.sh --newest        the newest published releases (npm view / pip index),
#                                     and the two releases before of each CLI, installed
#                                     into an isolated prefix (never .venv)
#   --clients claude,codex,gemini     only these (openai, anthropic, google-genai,
#                                     openai-agents, langchain, vercel, claude, codex, gemini)
#   COMPAT_DIR=...                    where the prefix lives (default ~/.cache/switchyard-compat)
set -euo pipefail
cd "$(dirname "$0")/.."

NEWEST=0
CLIENTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --newest) NEWEST=1 ;;
    --clients) CLIENTS="$2"; shift ;;
    --clients=*) CLIENTS="${1#--clients=}" ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

if [ "$NEWEST" = 0 ]; then
  exec "$PYTHON" -m tests.compat.matrix ${CLIENTS:+--clients "$CLIENTS"} --command "scripts/compat.sh"
fi

DIR=${COMPAT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard-compat}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
wants() { [ -z "$CLIENTS" ] || [[ ",$CLIENTS," == *",$1,"* ]]; }

# --- Python SDKs: the newest of each, in a venv of their own --------------------------------
PY_PACKAGES=()
wants openai && PY_PACKAGES+=(openai)
wants anthropic && PY_PACKAGES+=(anthropic)
wants google-genai && PY_PACKAGES+=(google-genai)
wants openai-agents && PY_PACKAGES+=(openai-agents)
wants langchain && PY_PACKAGES+=(langchain-openai langchain-anthropic)
if [ ${#PY_PACKAGES[@]} -gt 0 ]; then
  [ -x "$DIR/venv/bin/python" ] || "$PYTHON" -m venv "$DIR/venv"
  pins=()
  for package in "${PY_PACKAGES[@]}"; do
    newest=$("$DIR/venv/bin/python" -m pip index versions "$package" 2>/dev/null \
      | sed -n 's/^[^ ]* (\(.*\))$/\1/p' | head -1)
    pins+=("$package${newest:+==$newest}")
  done
  echo "python: ${pins[*]}"
  "$DIR/venv/bin/python" -m pip install --quiet --upgrade "${pins[@]}"
fi

# --- npm: the Vercel AI SDK, and three releases of each CLI, each in its own prefix --------
newest_versions() {  # the newest N stable versions of an npm package, newest first
  npm view "$1" versions --json 2>/dev/null \
    | "$PYTHON" -c 'import json,re,sys; v=[x for x in json.load(sys.stdin) if re.fullmatch(r"\d+\.\d+\.\d+",x)]; v.sort(key=lambda s: tuple(map(int,s.split(".")))); print("\n".join(reversed(v[-int(sys.argv[1]):])))' "$2"
}
NODE_PATH_DIR=""
if wants vercel; then
  mkdir -p "$DIR/npm-ai"
  ai=$(newest_versions ai 1); oa=$(newest_versions @ai-sdk/openai 1); an=$(newest_versions @ai-sdk/anthropic 1)
  echo "npm: ai@$ai @ai-sdk/openai@$oa @ai-sdk/anthropic@$an"
  npm install --silent --no-audit --no-fund --prefix "$DIR/npm-ai" "ai@$ai" "@ai-sdk/openai@$oa" "@ai-sdk/anthropic@$an" >/dev/null
  NODE_PATH_DIR="$DIR/npm-ai/node_modules"
fi

declare -A NPM_NAME=([claude]=@anthropic-ai/claude-code [codex]=@openai/codex [gemini]=@google/gemini-cli)
CLIS_JSON=""
for cli in claude codex gemini; do
  wants "$cli" || continue
  entries=""
  for version in $(newest_versions "${NPM_NAME[$cli]}" 3); do
    prefix="$DIR/npm-$cli-$version"
    if [ ! -x "$prefix/bin/$cli" ]; then
      echo "npm: ${NPM_NAME[$cli]}@$version"
      npm install -g --silent --no-audit --no-fund --prefix "$prefix" "${NPM_NAME[$cli]}@$version" >/dev/null \
        || { echo "warning: could not install ${NPM_NAME[$cli]}@$version" >&2; continue; }
    fi
    entries+="${entries:+,}{\"version\": \"$version\", \"bin\": \"$prefix/bin/$cli\"}"
  done
  CLIS_JSON+="${CLIS_JSON:+,}\"$cli\": [$entries]"
done

MANIFEST="$DIR/manifest.json"
cat >"$MANIFEST" <<EOF
{"python": "$DIR/venv/bin/python", "node_path": "$NODE_PATH_DIR", "clis": {$CLIS_JSON}}
EOF
# the CLI-only run names no Python SDK: the matrix still asks for the clients it was given
ARGS=(--manifest "$MANIFEST" --command "scripts/compat.sh --newest${CLIENTS:+ --clients $CLIENTS}")
if [ -n "$CLIENTS" ]; then
  ARGS+=(--clients "$CLIENTS")
fi
exec "$PYTHON" -m tests.compat.matrix "${ARGS[@]}"
