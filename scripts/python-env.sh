#!/usr/bin/env bash
# Creates .venv with Python 3.11+ and installs the pinned requirements when they changed.
# Usage: scripts/python-env.sh requirements.txt|requirements-dev.txt
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=${1:-requirements.txt}
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "GreenAI needs Python 3.11 or newer ($python is older)." >&2; exit 1; }
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.installed-$(basename "$requirements")
if [ ! -f "$stamp" ] || [ -n "$(find requirements*.txt -newer "$stamp")" ]; then
  .venv/bin/python -m pip install -q -r "$requirements"
  touch "$stamp"
fi
