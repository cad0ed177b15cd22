"""Run.save / load / resume against the real `resumable` binary."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as st_load_file
from safetensors.numpy import save_file as st_save_file

from resumable import Checkpoint, ResumableError, Run, find_binary

ALL_NUMPY = {
    "f64": np.linspace(-1, 1, 6).reshape(2, 3),
    "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "f16": np.array([0.5, -2, 65504], dtype=np.float16),
    "i64": np.array([-(2**63), 0, 2**63 - 1], dtype=np.int64),
    "i32": np.array([[1, -2], [3, -4]], dtype=np.int32),
    "i16": np.array([-3], dtype=np.int16),
    "i8": np.array([-128, 127], dtype=np.int8),
    "u64": np.array([2**64 - 1], dtype=np.uint64),
    "u32": np.array([7], dtype=np.uint32),
    "u16": np.array([65535], dtype=np.uint16),
    "u8": np.arange(5, dtype=np.uint8),
    "bool": np.array([True, False, True]),
    "c64": np.array([1 + 2j], dtype=np.complex64),
    "bf16": np.array([1.5, -3.0], dtype=ml_dtypes.bfloat16),
    "scalar": np.array(3.25, dtype=np.float32),
    "empty": np.zeros((0, 4), dtype=np.float32),
}


def cli(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def test_numpy_round_trip_every_dtype_and_the_files_verify(run_dir: Path, binary: str) -> None:
    run = Run(run_dir)
    saved = run.save(10, tensors=ALL_NUMPY, metrics={"loss": 0.25}, epoch=2, tags=["warmup"],
                     metadata={"note": "3", "nested": {"a": [1, 2]}})
    assert saved is not None and saved.step == 10 and saved.bytes > 0
    checkpoint = run.load()
    assert (checkpoint.step, checkpoint.epoch, checkpoint.metrics, checkpoint.tags) == (10, 2, {"loss": 0.25}, ["warmup"])
    assert checkpoint.metadata == {"note": "3", "nested": {"a": [1, 2]}}  # "3" stays a string
    for name, array in ALL_NUMPY.items():
        loaded = checkpoint.tensors[name]
        assert loaded.dtype == array.dtype and loaded.shape == array.shape, name
        assert loaded.tobytes() == np.ascontiguousarray(array).tobytes(), name
    assert cli(binary, "verify", str(run_dir)).returncode == 0
    # The file opens unchanged in the safetensors package.
    reference = st_load_file(os.path.join(checkpoint.path, "model.safetensors"))
    assert np.array_equal(reference["f32"], ALL_NUMPY["f32"]) and reference["i64"][0] == -(2**63)
    # Nothing was left in the staging area, nothing copied twice.
    assert os.listdir(run_dir / ".incoming") == []


def test_torch_tensors_bfloat16_and_state_round_trip(run_dir: Path) -> None:
    run = Run(run_dir)
    weights = {"layer.weight": torch.randn(4, 3), "layer.bias": torch.randn(4).to(torch.bfloat16),
               "count": torch.tensor([3], dtype=torch.int64), "mask": torch.tensor([True, False])}
    state = {"epoch": 3, "rng": (3, (1, 2, 3), None), "moments": {"m": torch.full((2,), 0.5)},
             "best": float("inf"), "big": 2**70, "keys": {1: "a", (2, 3): "b"}, "raw": b"\x00\xff",
             "np": np.float32(1.5), "arr": np.arange(3)}
    run.save(1, tensors=weights, state=state)
    checkpoint = run.load(framework="pt")
    for name, tensor in weights.items():
        assert checkpoint.tensors[name].dtype == tensor.dtype and torch.equal(checkpoint.tensors[name], tensor)
    s = checkpoint.state
    assert s["epoch"] == 3 and s["rng"] == (3, (1, 2, 3), None) and s["best"] == float("inf")
    assert s["big"] == 2**70 and s["keys"] == {1: "a", (2, 3): "b"} and s["raw"] == b"\x00\xff"
    assert s["np"] == 1.5 and torch.equal(s["moments"]["m"], torch.full((2,), 0.5))
    assert torch.equal(s["arr"], torch.arange(3))
    files = sorted(os.listdir(checkpoint.path))
    assert files == ["manifest.json", "model.safetensors", "state.json", "state.safetensors"]


def test_loaded_tensors_are_writable_copies_on_write(run_dir: Path) -> None:
    run = Run(run_dir)
    run.save(1, tensors={"w": np.ones(1000, dtype=np.float32)})
    first = run.load(framework="pt")
    first.tensors["w"].mul_(3)  # the mapping is private: the checkpoint does not change
    again = run.load()
    assert np.all(again.tensors["w"] == 1)


def test_state_values_json_cannot_hold_are_refused_naming_their_key(run_dir: Path) -> None:
    run = Run(run_dir)
    with pytest.raises(TypeError, match=r"'optimizer\.closure'"):
        run.save(1, state={"optimizer": {"closure": object()}})
    assert not (run_dir / "checkpoints").exists() or Run(run_dir).checkpoints() == []


def test_a_step_already_committed_is_refused_with_code_1(run_dir: Path) -> None:
    run = Run(run_dir)
    run.save(5, tensors={"a": np.zeros(2)})
    with pytest.raises(ResumableError) as error:
        run.save(5, tensors={"a": np.ones(2)})
    assert error.value.code == 1 and "step 5" in error.value.message
    assert np.all(run.load().tensors["a"] == 0)


def test_background_save_returns_before_the_commit_and_errors_surface_later(run_dir: Path) -> None:
    run = Run(run_dir)
    big = np.random.default_rng(0).standard_normal(4_000_000).astype(np.float32)
    assert run.save(1, tensors={"big": big}, background=True) is None
    big[:] = 0  # the save took a snapshot: changing the array now does not change the checkpoint
    run.wait()
    assert np.array_equal(run.load().tensors["big"][:5], np.random.default_rng(0).standard_normal(5).astype(np.float32))
    run.save(1, tensors={"x": np.zeros(1)}, background=True)  # step 1 exists: fails in the background
    with pytest.raises(ResumableError) as error:
        run.save(2, tensors={"x": np.zeros(1)})  # raises the background error; saves nothing
    assert error.value.code == 1
    run.save(3, tensors={"x": np.zeros(1)}, background=True)
    run.close()
    assert [c["step"] for c in run.checkpoints()] == [1, 3]


def test_latest_passes_over_a_corrupt_checkpoint_and_says_so(run_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = Run(run_dir)
    run.save(1, tensors={"w": np.zeros(4)})
    saved = run.save(2, tensors={"w": np.ones(4)})
    assert saved is not None
    path = Path(saved.path) / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="resumable"):
        checkpoint = run.load()
    assert checkpoint.step == 1
    assert any("step-000000000002" in r.message for r in caplog.records)
    with pytest.raises(ResumableError) as error:
        run.load(2)  # exactly that one: refused, not replaced
    assert error.value.code == 65


def test_best_follows_the_monitor(run_dir: Path) -> None:
    run = Run(run_dir, monitor="val_loss", mode="min")
    for step, loss in ((1, 0.9), (2, 0.3), (3, 0.5)):
        run.save(step, tensors={"w": np.full(2, step)}, metrics={"val_loss": loss})
    assert run.load("best").step == 2
    assert run.load("step-3").step == 3 and run.load(3).metrics == {"val_loss": 0.5}


def test_retention_keeps_last_and_best(run_dir: Path) -> None:
    run = Run(run_dir, monitor="val_loss", keep_last=2)
    for step, loss in ((1, 0.1), (2, 0.5), (3, 0.6), (4, 0.7)):
        run.save(step, tensors={"w": np.zeros(1)}, metrics={"val_loss": loss})
    assert [c["step"] for c in run.checkpoints()] == [1, 3, 4]  # best (1) and the last two


def test_resume_modes(run_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run = Run(run_dir)
    assert run.resume() is None
    assert "afresh" in capfd.readouterr().err
    with pytest.raises(ResumableError) as error:
        run.resume("must")
    assert error.value.code == 66
    run.save(1, tensors={"w": np.zeros(1)}, epoch=0)
    run.save(2, tensors={"w": np.ones(1)}, epoch=1)
    checkpoint = run.resume()
    assert isinstance(checkpoint, Checkpoint) and checkpoint.step == 2
    said = capfd.readouterr().err
    assert "resuming" in said and "from step 2, epoch 1" in said
    with pytest.raises(ResumableError) as error:
        run.resume("step-1")  # newer checkpoints would be replaced
    assert error.value.code == 1 and "newer" in error.value.message
    assert run.resume("step-1", overwrite=True).step == 1
    assert [c["step"] for c in run.checkpoints()] == [1]
    with pytest.raises(ResumableError) as error:
        run.resume("never")
    assert error.value.code == 1 and "overwrite=True" in error.value.message
    assert run.resume("never", overwrite=True) is None
    assert run.checkpoints() == []


def test_bad_arguments_are_usage_errors(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run(run_dir)
    for call in (lambda: run.save(-1), lambda: run.save(1, metrics={"a": "x"}), lambda: run.load("newest"),
                 lambda: run.save(1, tensors={"o": np.array([object()])}), lambda: Run(run_dir, mode="up"),
                 lambda: run.save(1, metadata={"k": float("nan")})):
        with pytest.raises(ResumableError) as error:
            call()
        assert error.value.code == 64, error.value
    monkeypatch.delenv("RESUMABLE_RUN_DIR", raising=False)
    with pytest.raises(ResumableError, match="no run directory"):
        Run()


def test_the_binary_is_found_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_BIN", str(tmp_path / "nothing"))
    with pytest.raises(ResumableError) as error:
        find_binary()
    assert error.value.code == 64 and "RESUMABLE_BIN" in error.value.message
    monkeypatch.delenv("RESUMABLE_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    with pytest.raises(ResumableError) as error:
        find_binary()
    assert error.value.code == 66 and "swift build" in error.value.message and "wheel" in error.value.message


def test_a_job_under_resumable_run_gets_its_run_attempt_and_resume_point(tmp_path: Path, binary: str) -> None:
    """The job fails on its first attempt after saving; the second attempt resumes from that save."""
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        import numpy as np
        from resumable import Run
        run = Run()
        checkpoint = run.resume()
        start = 0 if checkpoint is None else checkpoint.state["next"]
        print(json.dumps({{"attempt": run.attempt, "start": start, "id": run.id, "supervised": run.supervised}}),
              flush=True)
        for step in range(start, 6):
            run.save(step + 1, tensors={{"w": np.full(3, step, dtype=np.float32)}}, state={{"next": step + 1}})
            if run.attempt == 1 and step == 2:
                sys.exit(3)
    """))
    run_dir = tmp_path / "supervised"
    outcome = subprocess.run([binary, "run", "--run-dir", str(run_dir), "--backoff", "0", "--", sys.executable,
                              str(script)], capture_output=True, text=True, timeout=300)
    assert outcome.returncode == 0, outcome.stderr
    lines = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [(x["attempt"], x["start"], x["supervised"]) for x in lines] == [(1, 0, True), (2, 3, True)]
    assert lines[0]["id"] == lines[1]["id"] and lines[0]["id"]
    final = Run(run_dir).load()
    assert final.step == 6 and np.all(final.tensors["w"] == 5)


def test_files_written_by_the_safetensors_package_load(tmp_path: Path, binary: str) -> None:
    source = tmp_path / "source"
    source.mkdir()
    st_save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3)}, str(source / "weights.safetensors"))
    assert cli(binary, "commit", str(tmp_path / "run"), "--step", "7", str(source)).returncode == 0
    checkpoint = Run(tmp_path / "run").load()
    assert checkpoint.state is None and np.array_equal(checkpoint.tensors["a"], np.arange(6).reshape(2, 3))


def test_background_saves_reuse_their_buffers_and_each_holds_its_own_values(run_dir: Path) -> None:
    run = Run(run_dir)
    weights = torch.zeros(1000)
    moments = np.zeros(10)
    for step in range(1, 5):
        weights.fill_(step)
        moments[:] = -step
        run.save(step, tensors={"w": weights}, state={"m": moments, "step": step}, background=True)
    first = run._snapshot_buffers[("model", "w")]
    run.save(5, tensors={"w": weights.fill_(5)}, state={"m": moments, "step": 5}, background=True)
    assert run._snapshot_buffers[("model", "w")] is first  # the same buffer, refilled
    run.close()
    for step in range(1, 6):
        checkpoint = run.load(step)
        assert np.all(checkpoint.tensors["w"] == step) and checkpoint.state["step"] == step
        assert np.all(checkpoint.state["m"] == (-step if step < 5 else -4))


def test_leftovers_of_dead_processes_are_cleaned_but_not_another_hosts(run_dir: Path) -> None:
    from resumable.run import _HOST
    run = Run(run_dir)
    run.save(1, tensors={"w": np.zeros(1)})
    incoming = run_dir / ".incoming"
    dead_here = incoming / f"4194303@{_HOST}-2-deadbeef"
    other_host = incoming / "4194303@another_machine-2-cafecafe"
    old_style = incoming / "4194303-2-0badf00d"
    for directory in (dead_here, other_host, old_style):
        directory.mkdir()
        (directory / "model.safetensors").write_bytes(b"partial")
    run.save(2, tensors={"w": np.ones(1)})
    assert sorted(p.name for p in incoming.iterdir()) == [other_host.name]
