#!/usr/bin/env bash
# The whole test suite, on a fresh clone: installs and starts what the tests
# need, builds, and runs every test. Usage: scripts/test.sh [swift test args…]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# Python peers (safetensors, numpy) in a project venv, for interop tests.
scripts/setup-python.sh >&2

export RESUMABLE_PYTHON="$root/.venv/bin/python"
export RESUMABLE_BUILD_DIR="$root/.build/debug"

echo "== building" >&2
swift build --build-tests 2>&1 | grep -v '^\[' >&2 || { echo "build failed" >&2; exit 1; }

# A one-node Slurm cluster (munged + slurmctld + slurmd under one directory) for
# the `resumable run --requeue` tests; stopped when this script exits.
echo "== starting a local Slurm cluster" >&2
eval "$(scripts/slurm-local.sh start)"
export SLURM_CONF
trap 'scripts/slurm-local.sh stop >&2' EXIT

echo "== testing" >&2
swift test --skip-build "$@"
