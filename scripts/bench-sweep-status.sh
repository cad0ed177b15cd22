#!/usr/bin/env bash
# Measures `resumable sweep status` on a sweep of COUNT finished units
# (release build; docs/PERFORMANCE.md, "Sweeps"). The units' keys and
# parameters come from `sweep status --json` itself; the records are written
# as `UnitRecord` writes them (docs/SWEEPS.md, "Unit records"), each with a
# JSON result and a 20-line log.
# Usage: scripts/bench-sweep-status.sh [COUNT=10000] (COUNT a square: 100 × 100 units by default)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000}
side=$(python3 -c "import math; print(math.isqrt($count))")
[ -n "${BIN:-}" ] || swift build -c release --product resumable >&2
bin=${BIN:-.build/release/resumable}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/sweep.yaml" <<YAML
name: bench
run: runs
command: python3 train.py --a {a} --b {b} --out {output}
matrix:
  a: [$(seq -s, 0 $((side - 1)))]
  b: [$(seq -s, 0 $((side - 1)))]
YAML
"$bin" sweep status "$dir/sweep.yaml" --json > "$dir/units.json"
python3 - "$dir" <<'PY'
import json, os, sys
d = sys.argv[1]
status = json.load(open(os.path.join(d, "units.json")))
sweep = status["sweep_directory"]
os.makedirs(os.path.join(sweep, "units"), exist_ok=True)
os.makedirs(os.path.join(sweep, "logs"), exist_ok=True)
for i, u in enumerate(status["units"]):
    key = u["key"]
    # The fingerprint's first 16 digits are the key; the rest is not checked on read.
    record = {
        "schema_version": 1, "key": key, "fingerprint": key + "0" * 48, "params": u["params"], "status": "done",
        "attempts": 1, "started_at": "2026-11-29T20:00:00.000Z", "finished_at": "2026-11-29T21:00:00.000Z",
        "duration_seconds": 3600.0, "exit_code": 0, "log": f"logs/{key}.log",
        "result": {"json": {"accuracy": i / len(status["units"]), "metrics": {"loss": 1.0 / (i + 1), "f1": 0.5}, "epochs": 10}},
        "error_tail": [], "owner": None, "slurm": None,
    }
    with open(os.path.join(sweep, "units", key + ".json"), "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    with open(os.path.join(sweep, "logs", key + ".log"), "w") as f:
        f.write("".join(f"epoch {e}: loss {1.0 / (e + 1):.4f}\n" for e in range(20)))
PY
"$bin" sweep status "$dir/sweep.yaml" > /dev/null   # warm the page cache
measure() {
    local label=$1; shift
    local best=999 start end t
    for _ in 1 2 3 4 5; do
        start=$(date +%s.%N)
        "$@" > /dev/null
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc)
        best=$(echo "if ($t < $best) $t else $best" | bc)
    done
    printf '%-34s best of 5: %6.3f s\n' "$label" "$best"
}
echo "$count finished units in $dir"
"$bin" sweep status "$dir/sweep.yaml" | sed -n 5p
measure "sweep status" "$bin" sweep status "$dir/sweep.yaml"
measure "sweep status --json" "$bin" sweep status "$dir/sweep.yaml" --json
measure "sweep merge" "$bin" sweep merge "$dir/sweep.yaml"
