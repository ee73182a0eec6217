#!/usr/bin/env bash
# Creates .venv-masakari with masakari-api 22.0.0 and psycopg2, for bench/api_notifications.py's
# side-by-side run. Idempotent: does nothing when the venv already holds masakari 22.0.0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MASAKARI_VENV:-$root/.venv-masakari}"
py="${PYTHON:-python3}"
if "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("masakari") != "22.0.0")' 2>/dev/null; then
  exit 0
fi
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q "masakari==22.0.0" psycopg2-binary
