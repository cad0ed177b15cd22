#!/usr/bin/env bash
# Replays every attack of issue 10 against the built binary and the library:
# links, FIFOs and hostile files planted in a run, SIGKILLs of `commit --move`,
# sources truncated during `commit`, deep and huge manifests, overflowing
# numbers, a supervisor killed under its job. Each is a test in
# Tests/ResumableTests/Attack (suites named "Attack: …"); they also run with
# the whole suite (scripts/test.sh). The supervisor's (a SIGKILLed supervisor,
# escaped grandchildren, taking over an orphaned job) are SupervisorOrphanTests.
# Usage: scripts/attack.sh [extra swift test args…]
set -euo pipefail
cd "$(dirname "$0")/.."
export RESUMABLE_BUILD_DIR="$PWD/.build/debug"
export RESUMABLE_FAULT_INJECTION=1   # as scripts/test.sh builds, so nothing rebuilds
swift build --build-tests 2>&1 | grep -v '^\[' >&2 || { echo "build failed" >&2; exit 1; }
exec swift test --skip-build --filter 'ResumableTests\.(Attack|SupervisorOrphan)' "$@"
