#!/usr/bin/env bash
# Runs Resumable's benchmarks side by side with the Python peers and the
# machine's limits, then prints the table and, as its last line, the ratios
# against the targets of docs/PERFORMANCE.md.
#
#   Benchmarks/compare.sh [--quick]
#
# --quick: a 0.49 GB state (GPT-2 layout at d_model=384 with Adam moments,
# 445 tensors), 3 repetitions, one round: under five minutes.
# Default: the 1.49 GB state (d_model=768 with Adam, 445 tensors), two
# interleaved rounds of 3 repetitions.
# Needs root for cold-cache numbers (echo 3 > /proc/sys/vm/drop_caches);
# without it, files are evicted with posix_fadvise and the table says so.
# Environment: RESUMABLE_BENCH_DIR (scratch directory, default Benchmarks/.data,
# on the file system being measured), RESULTS (the JSON lines file).
set -uo pipefail
cd "$(dirname "$0")"
HERE=$PWD

QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $a (use --quick)" >&2; exit 64 ;;
  esac
done
if [ $QUICK = 1 ]; then D_MODEL=384; REPS=3; ROUNDS=1; LS_COUNT=10000; else D_MODEL=768; REPS=3; ROUNDS=2; LS_COUNT=10000; fi

DATA=${RESUMABLE_BENCH_DIR:-$HERE/.data}
mkdir -p "$DATA"
RESULTS=${RESULTS:-$DATA/results.jsonl}
: > "$RESULTS"
log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }

log "setting up the Python peers (Benchmarks/.venv)"
./setup-peers.sh || { echo "compare.sh: could not set up the Python peers" >&2; exit 1; }
PY=$HERE/.venv/bin/python
log "building resumable-bench and resumable (release)"
swift build -c release --product resumable-bench >&2 || { echo "compare.sh: build failed" >&2; exit 1; }
BIN=$HERE/.build/release/resumable-bench
swift build -c release --product resumable >&2 || log "the resumable CLI did not build; its rows are skipped"
CLI=$HERE/.build/release/resumable

STATE=(--dir "$DATA" --d-model "$D_MODEL" --reps "$REPS")
BYTES=$("$PY" -c "import sys; sys.path.insert(0,'.'); import peers; print(sum(__import__('numpy').prod(s)*4 for _,s in peers.layout($D_MODEL, True)))")

ours() { log "resumable $*"; "$BIN" "$@" "${STATE[@]}" >> "$RESULTS" || log "FAILED: resumable-bench $*"; }
peer() { log "peer $*"; "$PY" peers.py "$@" "${STATE[@]}" >> "$RESULTS" || log "FAILED: peers.py $*"; }
dd_once() {  # $1: method name, $2...: extra dd flags
  local name=$1; shift
  local f=$DATA/dd.bin count=$(( (BYTES + (16<<20) - 1) / (16<<20) ))
  rm -f "$f"; sync
  local out; out=$(LC_ALL=C dd if=/dev/zero of="$f" bs=16M count=$count "$@" 2>&1 | tail -1)
  rm -f "$f"; sync
  local s; s=$(echo "$out" | sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p')
  log "$name: $out"
  [ -n "$s" ] && echo "{\"method\":\"$name\",\"phase\":\"limit\",\"state\":\"zeros\",\"bytes\":$((count*(16<<20))),\"seconds\":[$s]}" >> "$RESULTS"
}
# The write limits: through the page cache (the target's reference) and direct to the device.
dd_limit() { dd_once "dd conv=fsync" conv=fsync; dd_once "dd oflag=direct" oflag=direct conv=fsync; }

PEERS=(st-torch st-numpy torch np-savez np-save)
for round in $(seq 1 $ROUNDS); do
  log "round $round/$ROUNDS: durable save"
  dd_limit
  ours save
  for p in "${PEERS[@]}"; do
    peer "$p" save
    case "$p" in st-numpy|np-savez) dd_limit; ours save ;; esac
  done
  ours save-nohash
  ours save          # the last save leaves the checksummed checkpoint for the loads
  dd_limit
  log "round $round/$ROUNDS: open and load"
  for phase in cold warm; do ours open --phase $phase; done
  for phase in cold warm; do ours touch --method mmap --phase $phase; done
  for p in st-torch torch torch-mmap np-save st-numpy np-savez; do
    for phase in load-cold touch-cold touch-warm; do peer "$p" "$phase"; done
    case "$p" in torch-mmap|st-numpy) ours touch --method mmap --phase warm; ours touch --method mmap --phase cold ;; esac
  done
  ours load --method copy --phase cold
  ours touch --method copy --phase cold
  ours touch --method copy --phase warm
done
log "limits: memory copy, SHA-256"
"$BIN" memcpy --reps 5 >> "$RESULTS"
"$BIN" memcpy-idle >> "$RESULTS"
"$BIN" sha256 --reps 3 >> "$RESULTS"
log "asynchronous save"
ours async
log "listing a run of $LS_COUNT checkpoints"
"$BIN" listing --dir "$DATA" --count $LS_COUNT --reps 3 --binary "$CLI" >> "$RESULTS" || log "FAILED: listing"
log "resume of the digits example"
if swift build -c release --product digits >&2 2>/dev/null; then
  "$BIN" resume --dir "$DATA" --reps 5 --binary "$HERE/.build/release/digits" >> "$RESULTS" || log "FAILED: resume"
else
  log "the digits example is not in this checkout; resume is not measured"
fi

python3 report.py "$RESULTS"
