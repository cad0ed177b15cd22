#!/usr/bin/env bash
# Measures `resumable ls` and resolving `latest` on a run of many checkpoints
# (release build). Usage: scripts/bench-ls.sh [COUNT=10000]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
swift build -c release --product resumable >&2
run=$(mktemp -d)/run
python3 scripts/make-large-run.py "$run" "$count"
bin=.build/release/resumable
"$bin" ls "$run" > /dev/null   # warm the page cache
measure() {
    local label=$1; shift
    local start end
    start=$(date +%s.%N)
    "$@" > /dev/null
    end=$(date +%s.%N)
    printf '%-28s %6.3f s\n' "$label" "$(echo "$end - $start" | bc)"
}
echo "$count checkpoints in $run"
measure "ls" "$bin" ls "$run"
measure "ls --json" "$bin" ls "$run" --json
measure "status" "$bin" status "$run"
measure "inspect RUN (latest)" "$bin" inspect "$run"
measure "verify --all" "$bin" verify --all "$run"
rm -rf "$(dirname "$run")"
