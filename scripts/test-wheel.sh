#!/usr/bin/env bash
# Tests a platform wheel as a user without a Swift toolchain gets it: a clean
# venv of the system python3, `pip install WHEEL` (numpy comes from the package
# index as its dependency), then, with a PATH that holds only the venv's bin/
# and a directory of links to a few system tools (no swift):
#   - `resumable --help` (the binary the wheel put in bin/);
#   - Run.save / Run.load from Python, the tensors and state round-tripping;
#   - `resumable verify` of that checkpoint;
#   - `resumable run -- python job.py`: a job killed on its first attempt
#     (SIGKILL after two checkpoints) finishes on its second, resumed.
# Temporary directories are removed on exit, passed or failed.
#
# Usage: scripts/test-wheel.sh WHEEL      (exit 0 when every check passes)
set -euo pipefail
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: scripts/test-wheel.sh WHEEL (a .whl file)" >&2; exit 64; }
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# Nothing of the calling environment's Python (scripts/test.sh sets PYTHONPATH to python/).
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV RESUMABLE_BIN
start=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/resumable-test-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
say() { echo "test-wheel: $*" >&2; }
fail() { echo "test-wheel: FAILED: $*" >&2; exit 1; }

# The system's python3 itself (not a pyenv shim, which needs pyenv on PATH).
system_python=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
say "venv of $system_python ($("$system_python" --version 2>&1))"
"$system_python" -m venv "$work/venv"
say "pip install $(basename "$wheel")"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$wheel" >&2 \
  || fail "pip install $wheel"

# A few system tools by link, and nothing else: not swift, not the repository's build.
tools=$work/tools
mkdir -p "$tools" "$work/home" "$work/tmp"
ln -s "$system_python" "$tools/python3"
for tool in sh env cat ls mkdir rm; do
  found=$(command -v "$tool") || fail "$tool is not installed"
  ln -s "$found" "$tools/$tool"
done
bash=$(command -v bash)
# Runs a command line with only the venv and the tools, in a clean environment.
isolated() {
  env -i HOME="$work/home" TMPDIR="$work/tmp" LANG=C.UTF-8 PATH="$work/venv/bin:$tools" \
    "$bash" -c "$1"
}

isolated 'command -v swift' >/dev/null 2>&1 && fail "swift is reachable on the isolated PATH"
isolated '[ "$(command -v resumable)" = "'"$work/venv/bin/resumable"'" ]' \
  || fail "resumable on the isolated PATH is not the wheel's ($work/venv/bin/resumable)"

say "resumable --help"
isolated 'resumable --help' > "$work/help.txt" || fail "resumable --help"
isolated 'resumable --version' > "$work/version.txt" || fail "resumable --version"
for command in status ls inspect verify diff prune reset edit commit run; do
  grep -q "^  $command " "$work/help.txt" || fail "resumable --help does not list $command"
done

say "Run.save / Run.load round trip"
cat > "$work/roundtrip.py" <<'PY'
import os
import sys
import sysconfig

import numpy as np

import resumable
from resumable import Run, find_binary

venv = os.path.realpath(sys.prefix)
assert os.path.realpath(resumable.__file__).startswith(venv + os.sep), f"resumable imported from {resumable.__file__}"
scripts = sysconfig.get_path("scripts")
assert find_binary() == os.path.join(scripts, "resumable"), f"find_binary() is {find_binary()}, not the wheel's"

run_dir = sys.argv[1]
rng = np.random.default_rng(7)
tensors = {
    "layer.weight": rng.standard_normal((4, 3)).astype(np.float32),
    "layer.bias": np.arange(4, dtype=np.float64),
    "counts": np.array([[1, -2], [3, 4]], dtype=np.int64),
    "mask": np.array([True, False, True]),
    "half": np.linspace(-1, 1, 5).astype(np.float16),
}
state = {"epoch": 2, "lr": 0.01, "name": "wheel", "optimizer": {"m": np.ones((2, 2), dtype=np.float32), "t": 5}}
with Run(run_dir, monitor="loss", mode="min") as run:
    first = run.save(100, tensors=tensors, state=state, metrics={"loss": 0.5}, epoch=1)
    assert first is not None and first.step == 100, first
    second = {k: v * 2 if v.dtype != np.bool_ else v for k, v in tensors.items()}
    run.save(200, tensors=second, state={**state, "epoch": 3}, metrics={"loss": 0.7}, epoch=2)

    for ref, expected, step in (("latest", second, 200), ("best", tensors, 100), (100, tensors, 100)):
        loaded = run.load(ref)
        assert loaded.step == step, (ref, loaded.step)
        assert set(loaded.tensors) == set(expected), (ref, sorted(loaded.tensors))
        for name, array in expected.items():
            got = loaded.tensors[name]
            assert got.dtype == array.dtype and got.shape == array.shape, (ref, name, got.dtype, got.shape)
            assert np.array_equal(got, array), (ref, name)
    loaded = run.load(100)
    assert loaded.metrics == {"loss": 0.5}, loaded.metrics
    assert loaded.state["epoch"] == 2 and loaded.state["name"] == "wheel" and loaded.state["optimizer"]["t"] == 5
    assert np.array_equal(loaded.state["optimizer"]["m"], state["optimizer"]["m"])
    assert [c["step"] for c in run.checkpoints()] == [100, 200]
print("round trip ok")
PY
isolated "python '$work/roundtrip.py' '$work/run'" >&2 || fail "the Python round trip"

say "resumable verify"
isolated "resumable verify '$work/run' --all" >&2 || fail "resumable verify --all"
isolated "resumable verify '$work/run@step-100' --json" > "$work/verify.json" || fail "resumable verify step-100"
isolated "python -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d[\"intact\"] is True, d' '$work/verify.json'" \
  || fail "verify --json does not say intact"

say "resumable run: a job killed on its first attempt finishes on its second"
cat > "$work/job.py" <<'PY'
import json
import os
import signal
import sys

import numpy as np

from resumable import Run

marker = sys.argv[1]
with Run() as run:  # RESUMABLE_RUN_DIR, set by `resumable run`
    checkpoint = run.resume()
    step = 0 if checkpoint is None else checkpoint.step
    total = 0.0 if checkpoint is None else float(checkpoint.state["total"])
    if checkpoint is not None:
        assert np.array_equal(checkpoint.tensors["w"], np.full(3, step, dtype=np.float32))
    while step < 4:
        step += 1
        total += step
        run.save(step, tensors={"w": np.full(3, step, dtype=np.float32)}, state={"total": total})
        if run.attempt == 1 and step == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-run, once
with open(marker, "w") as f:
    json.dump({"attempt": run.attempt, "resumed_from": None if checkpoint is None else checkpoint.step,
               "total": total}, f)
PY
isolated "resumable run --run-dir '$work/job-run' --backoff 0.2 --max-restarts 2 -- python '$work/job.py' '$work/done.json'" >&2 \
  || fail "resumable run did not finish the job"
isolated "resumable status '$work/job-run' --json" > "$work/status.json" || fail "resumable status"
isolated "resumable ls '$work/job-run' --json" > "$work/ls.json" || fail "resumable ls"
isolated "python - '$work'" <<'PY' || fail "the supervised job's outcome"
import json, os, sys
work = sys.argv[1]
done = json.load(open(os.path.join(work, "done.json")))
assert done == {"attempt": 2, "resumed_from": 2, "total": 10.0}, done
steps = [c["step"] for c in json.load(open(os.path.join(work, "ls.json")))["checkpoints"]]
assert steps == [1, 2, 3, 4], steps
attempts = json.load(open(os.path.join(work, "status.json")))["attempts"]
assert attempts["starts"] == 2 and attempts["resumes"] == 1 and attempts["restarts"] == 1, attempts
assert attempts["last_failure"]["signal_name"] == "SIGKILL", attempts["last_failure"]
print("supervised job ok: attempt 2 resumed from step 2 and finished")
PY

say "passed in $(( $(date +%s) - start )) s ($(basename "$wheel"))"
