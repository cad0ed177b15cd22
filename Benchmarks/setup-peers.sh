#!/usr/bin/env bash
# Creates Benchmarks/.venv with the Python peers the benchmark compares against:
# numpy, safetensors and torch (the default PyPI wheel; torch is a large download).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import numpy, safetensors, torch" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check numpy safetensors torch
fi
.venv/bin/python -c "import numpy, safetensors, torch, sys; print('peers: python', sys.version.split()[0], 'numpy', numpy.__version__, 'safetensors', safetensors.__version__, 'torch', torch.__version__)" >&2
