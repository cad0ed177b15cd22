#!/usr/bin/env bash
# Creates .venv with the Python packages the tests use (numpy, safetensors).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import numpy, safetensors" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check numpy safetensors
fi
.venv/bin/python -c "import numpy, safetensors; print('python peers: numpy', numpy.__version__, 'safetensors', safetensors.__version__)"
