#!/usr/bin/env bash
# The whole test suite, on a fresh clone: installs and starts what the tests
# need, builds, and runs every test. Usage: scripts/test.sh [swift test args…]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The Python environment (numpy, safetensors, pytest, torch, lightning, keras,
# wandb), cached outside the clone by the requirements' hash; .venv links to it.
scripts/setup-python.sh >&2

export RESUMABLE_PYTHON="$root/.venv/bin/python"
export RESUMABLE_BUILD_DIR="$root/.build/debug"
# Fault injection is compiled in only for the tests (Package.swift); every
# swift command of this script sees the same setting, so nothing rebuilds twice.
export RESUMABLE_FAULT_INJECTION=1

echo "== building" >&2
swift build --build-tests 2>&1 | grep -v '^\[' >&2 || { echo "build failed" >&2; exit 1; }

# The library's shape: public API and imports (scripts/check-api.sh).
if [ $# -eq 0 ]; then
  echo "== checking the public API" >&2
  scripts/check-api.sh
fi

# A one-node Slurm cluster (munged + slurmctld + slurmd under one directory) for
# the `resumable run --requeue` tests; stopped when this script exits.
echo "== starting a local Slurm cluster" >&2
# One cluster directory per checkout, so two checkouts never stop each other's daemons.
export RESUMABLE_SLURM_DIR="${RESUMABLE_SLURM_DIR:-${TMPDIR:-/tmp}/resumable-slurm-$(printf %s "$root" | cksum | cut -d' ' -f1)}"
eval "$(scripts/slurm-local.sh start)"
export SLURM_CONF
trap 'scripts/slurm-local.sh stop >&2' EXIT

# A short coverage-guided fuzzing run of the parsers (docs/FUZZING.md), when
# the whole suite runs. RESUMABLE_FUZZ_SECONDS=0 skips it; more fuzzes longer.
fuzz_seconds=${RESUMABLE_FUZZ_SECONDS:-10}
if [ $# -eq 0 ] && [ "$fuzz_seconds" -gt 0 ]; then
  echo "== fuzzing the parsers for $fuzz_seconds s" >&2
  mkdir -p .build/fuzz
  if ! scripts/fuzz.sh "$fuzz_seconds" > .build/fuzz/smoke.log 2>&1; then
    tail -60 .build/fuzz/smoke.log >&2
    echo "fuzzing found a problem (or could not build): see .build/fuzz/smoke.log and docs/FUZZING.md" >&2
    exit 1
  fi
  grep -E "^Done [0-9]+ runs" .build/fuzz/smoke.log >&2 || true
fi

echo "== testing the Swift package" >&2
status=0
swift test --skip-build "$@" || status=$?

# The Python package (python/tests), against the binary just built. Only with
# the whole suite: arguments select Swift tests.
if [ $# -eq 0 ]; then
  echo "== testing the Python package" >&2
  export RESUMABLE_BIN="$root/.build/debug/resumable" PYTHONPATH="$root/python" KERAS_BACKEND=torch
  export WANDB_MODE=offline WANDB_SILENT=true PYTHONDONTWRITEBYTECODE=1
  "$RESUMABLE_PYTHON" -m pytest python/tests -q -p no:cacheprovider || status=$?
fi
exit $status

