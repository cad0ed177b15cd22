#!/usr/bin/env bash
# Creates the Python environment the tests, examples and benchmarks use: numpy,
# safetensors, pytest, torch, lightning, keras and wandb (python/requirements-test.txt).
# It lives outside the clone, in ${RESUMABLE_VENV_CACHE:-~/.cache/resumable/venvs}/HASH,
# keyed by the requirements' hash, so a later clone or CI run on the same machine
# reuses it; .venv in the clone is a symbolic link to it. Safe to run again.
# Prints the environment's python on standard output.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=python/requirements-test.txt
key=$( (cat "$requirements"; python3 --version) | sha256sum | cut -c1-16)
cache=${RESUMABLE_VENV_CACHE:-$HOME/.cache/resumable/venvs}
venv=$cache/$key
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9   # two checkouts setting up at once: the second waits and reuses
if [ ! -f "$venv/.complete" ]; then
  echo "setup-python: creating $venv (torch and friends: a few GB, several minutes the first time)" >&2
  rm -rf "$venv"   # an unfinished one (killed mid-install) is started over
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  touch "$venv/.complete"
fi
exec 9>&-
if [ -L .venv ] || [ ! -e .venv ]; then
  ln -sfn "$venv" .venv
fi
KERAS_BACKEND=torch "$venv/bin/python" -c "import numpy, safetensors, torch, lightning, keras, wandb; print('setup-python: numpy', numpy.__version__, 'torch', torch.__version__, 'lightning', lightning.__version__, 'keras', keras.__version__, 'wandb', wandb.__version__)" >&2
echo "$venv/bin/python"
