"""resumable.lightning against the real Lightning (CPU), W&B (offline) and the `resumable` binary.

The end-to-end test SIGKILLs a Trainer.fit job (tests/lightning_job.py) twice at random points
after a checkpoint and restarts it with the same command; the result must equal an uninterrupted
run's bit for bit. The unit tests drive the CheckpointIO plugin directly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest
import torch
from torch import nn

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger, WandbLogger
from lightning.pytorch.trainer.states import TrainerFn

from resumable import ResumableError, Run
from resumable import lightning as rl
from resumable.lightning import AutoResume, ResumableCheckpointIO, fix_hyperparameters, load_from_checkpoint

JOB = Path(__file__).with_name("lightning_job.py")


def manifest(run: Path, step: int) -> dict[str, Any]:
    return json.loads((run / "checkpoints" / f"step-{step:012d}" / "manifest.json").read_text())


def steps(run: Path) -> list[int]:
    directory = run / "checkpoints"
    if not directory.is_dir():
        return []
    return sorted(int(p.name[5:]) for p in directory.iterdir() if re.fullmatch(r"step-\d{12,}", p.name))


def lightning_checkpoint(step: int, *, epoch: int = 0, scale: float = 1.0, **extra: Any) -> dict[str, Any]:
    """A checkpoint dict shaped like the one Lightning's dump_checkpoint makes."""
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3) * scale
    return {
        "epoch": epoch, "global_step": step, "pytorch-lightning_version": pl.__version__,
        "state_dict": {"net.weight": weight, "net.bias": torch.zeros(2)},
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": epoch}}}},
        "callbacks": {"ModelCheckpoint{'monitor': 'val_loss'}": {"monitor": "val_loss",
                                                                 "current_score": torch.tensor(0.5 / (step + 1))}},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(float(step)), "exp_avg": weight * 0.1}},
                              "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": [0, 1]}]}],
        "lr_schedulers": [{"step_size": 2, "gamma": 0.5, "last_epoch": epoch, "_last_lr": [0.01]}],
        "hyper_parameters": {"hidden": 4},
        **extra,
    }


# The end-to-end test ------------------------------------------------------------------------------------


def job_environment(tmp_path: Path, name: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("WANDB_", "RESUMABLE_RUN", "RESUMABLE_ATTEMPT", "RESUMABLE_RESUME", "RESUMABLE_LOCK")):
            del env[key]
    home = tmp_path / f"wandb-home-{name}"
    home.mkdir(exist_ok=True)
    env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path / f"wandb-{name}"),
                "WANDB_CONFIG_DIR": str(home), "WANDB_CACHE_DIR": str(home), "WANDB_DATA_DIR": str(home),
                "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"})
    (tmp_path / f"wandb-{name}").mkdir(exist_ok=True)
    return env


def start_job(tmp_path: Path, name: str, attempt: int,
              supervisor: Optional[str] = None) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """Starts tests/lightning_job.py (under `resumable run` when ``supervisor`` is the binary)."""
    out, err = tmp_path / f"{name}-{attempt}.out", tmp_path / f"{name}-{attempt}.err"
    run = str(tmp_path / f"run-{name}")
    command = [sys.executable, str(JOB), "--run", run, "--wandb-dir", str(tmp_path / f"wandb-{name}"),
               "--step-sleep", "0.004"]
    if supervisor:
        command = [supervisor, "run", "--run-dir", run, "--max-restarts", "0", "--", *command]
    with open(out, "wb") as o, open(err, "wb") as e:
        process = subprocess.Popen(command, stdout=o, stderr=e, env=job_environment(tmp_path, name),
                                   start_new_session=True)
    return process, out, err


def kill_after_new_checkpoint(process: subprocess.Popen[bytes], run: Path, after: int, rng: random.Random,
                              err: Path) -> int:
    """SIGKILLs the job's process group at a random moment after it committed a step beyond ``after``."""
    deadline = time.monotonic() + 150
    while not any(s > after for s in steps(run)):
        if process.poll() is not None:
            pytest.fail(f"the job ended (exit {process.returncode}) before its checkpoint:\n{err.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("no checkpoint within 150 s")
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 1.2))
    if process.poll() is not None:
        pytest.fail(f"the job finished before it could be killed: make the run longer\n{err.read_text()[-2000:]}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return max(steps(run))


def wandb_run_ids(directory: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[1] for p in (directory / "wandb").glob("offline-run-*"))


def test_killed_twice_resumes_to_the_uninterrupted_result(tmp_path: Path, binary: str) -> None:
    rng = random.Random(os.environ.get("RESUMABLE_TEST_SEED") or None)
    reference, _, reference_err = start_job(tmp_path, "reference", 1)
    run = tmp_path / "run-crash"

    first, _, err1 = start_job(tmp_path, "crash", 1)
    killed_at = [kill_after_new_checkpoint(first, run, -1, rng, err1)]
    second, _, err2 = start_job(tmp_path, "crash", 2)
    killed_at.append(kill_after_new_checkpoint(second, run, killed_at[0], rng, err2))
    # The last attempt runs under `resumable run`: RESUMABLE_RESUME_FROM, the lent lock, and its WANDB_RUN_ID
    # (the run's id) which the checkpoint's recorded W&B run must win over.
    third, out3, err3 = start_job(tmp_path, "crash", 3, supervisor=binary)
    assert third.wait(timeout=240) == 0, err3.read_text()[-4000:]
    assert reference.wait(timeout=240) == 0, reference_err.read_text()[-4000:]

    # Every restart resumed (from a step no older than the previous resume), none started over.
    resumed = []
    for err in (err2, err3):
        found = re.search(r"resumable: resuming \S+ from step (\d+), epoch (\d+)", err.read_text())
        assert found, err.read_text()[-3000:]
        resumed.append(int(found.group(1)))
    assert 0 < resumed[0] <= killed_at[0] and resumed[0] <= resumed[1] <= killed_at[1], (resumed, killed_at)

    # Bit-identical to the uninterrupted run: weights, optimizer moments, scheduler, RNG, loops, callbacks.
    crash_result = json.loads((tmp_path / "crash-3.out").read_text().splitlines()[-1])
    reference_result = json.loads((tmp_path / "reference-1.out").read_text().splitlines()[-1])
    wandb_id = crash_result.pop("wandb_id")
    reference_result.pop("wandb_id")
    assert crash_result == reference_result
    assert crash_result["early_stopping"]["wait_count"] > 0  # EarlyStopping's state mattered
    reference_run = tmp_path / "run-reference"
    assert steps(run)[-1] == steps(reference_run)[-1] == crash_result["global_step"]
    diff = subprocess.run([binary, "diff", "--json", f"{reference_run}@latest", f"{run}@latest"],
                          capture_output=True, text=True)
    tensors = json.loads(diff.stdout)["tensors"]
    assert any(t["name"].startswith("optimizer_states.") for t in tensors)
    assert any(t["name"].startswith("callbacks.AutoResume.rng.") for t in tensors)
    # Only ModelCheckpoint's best_k_models differ by name: they are keyed by paths, which differ.
    assert all(t["status"] == "equal" for t in tensors if ".best_k_models." not in t["name"]), diff.stdout[-3000:]
    final = {which: ResumableCheckpointIO(which).load_checkpoint(which / "checkpoints" / f"step-{steps(which)[-1]:012d}")
             for which in (run, reference_run)}
    best = {which: {os.path.basename(k): v.item() for k, v in next(
        v for k, v in final[which]["callbacks"].items() if k.startswith("ModelCheckpoint"))["best_k_models"].items()}
        for which in final}
    assert best[run] == best[reference_run] and len(best[run]) == 2
    state = {}
    for which in (reference_run, run):
        raw = json.loads((which / "checkpoints" / f"step-{steps(which)[-1]:012d}" / "state.json").read_text())
        state[which] = raw
    crash_state, reference_state = state[run], state[reference_run]
    for key in ("epoch", "global_step", "loops", "lr_schedulers", "hyper_parameters"):
        assert crash_state[key] == reference_state[key], key
    assert crash_state["optimizer_states"][0]["param_groups"] == reference_state["optimizer_states"][0]["param_groups"]
    stopping = next(v for k, v in crash_state["callbacks"].items() if k.startswith("EarlyStopping"))
    assert stopping == next(v for k, v in reference_state["callbacks"].items() if k.startswith("EarlyStopping"))
    checkpointing = next(v for k, v in crash_state["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert os.path.basename(checkpointing["best_model_path"]) == crash_result["best_model_path"]
    assert os.path.basename(checkpointing["last_model_path"]) == "last.ckpt"  # never last-v1.ckpt after a resume
    assert checkpointing["dirpath"].endswith(f"/{wandb_id}/checkpoints")  # the same W&B run: the same directory

    # One W&B run across the three attempts, recorded in the checkpoints.
    ids = wandb_run_ids(tmp_path / "wandb-crash")
    assert ids == [wandb_id] * 3, ids
    assert manifest(run, steps(run)[-1])["metadata"]["wandb"]["run_id"] == wandb_id

    # Every checkpoint verifies; nothing pickled anywhere in the run.
    verify = subprocess.run([binary, "verify", "--all", str(run)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for path in run.rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:4]
            assert not head.startswith(b"\x80") and head != b"PK\x03\x04", path  # pickle / torch.save zip
            if path.name == "state.json":
                assert "__pickle__" not in path.read_text()
    # Lightning's files are pointers into the run, and the top-k ones are pinned.
    pointers = sorted((tmp_path / "wandb-crash").rglob("*.ckpt"))
    assert {p.name for p in pointers} >= {"last.ckpt", crash_result["best_model_path"]}
    for pointer in pointers:
        assert json.loads(pointer.read_text())["format"] == rl.POINTER_FORMAT


# Unit tests of the plugin ------------------------------------------------------------------------------


@pytest.fixture
def io(run_dir: Path) -> ResumableCheckpointIO:
    return ResumableCheckpointIO(run_dir)


def test_refuses_a_value_json_cannot_hold_naming_its_key(io: ResumableCheckpointIO, tmp_path: Path,
                                                         run_dir: Path) -> None:
    checkpoint = lightning_checkpoint(3, hyper_parameters={"data": {"root": Path("/data")}})
    with pytest.raises(TypeError, match=r"hyper_parameters\.data\.root.*PosixPath.*allow_pickle"):
        io.save_checkpoint(checkpoint, tmp_path / "ckpt" / "epoch=0-step=3.ckpt")
    assert steps(run_dir) == [] and not (tmp_path / "ckpt" / "epoch=0-step=3.ckpt").exists()


def test_allow_pickle_loads_only_with_weights_only(run_dir: Path, tmp_path: Path) -> None:
    io = ResumableCheckpointIO(run_dir, allow_pickle=True)
    path = tmp_path / "ckpt" / "a.ckpt"
    io.save_checkpoint(lightning_checkpoint(1, hyper_parameters={"dtype": torch.float16}), path)
    assert '"__pickle__"' in (run_dir / "checkpoints" / f"step-{1:012d}" / "state.json").read_text()
    assert io.load_checkpoint(path)["hyper_parameters"]["dtype"] is torch.float16
    # An object the safe unpickler does not allow is refused on load, never constructed.
    io.save_checkpoint(lightning_checkpoint(2, hyper_parameters={"ns": argparse.Namespace(a=1)}), tmp_path / "b.ckpt")
    with pytest.raises(ResumableError, match="weights_only=True") as refused:
        io.load_checkpoint(tmp_path / "b.ckpt")
    assert refused.value.code == 65
    # Without allow_pickle the same run's pickled state is not loaded at all.
    with pytest.raises(ResumableError, match="allow_pickle"):
        ResumableCheckpointIO(run_dir).load_checkpoint(path)


def test_round_trip_and_two_names_at_one_step(io: ResumableCheckpointIO, tmp_path: Path, run_dir: Path) -> None:
    directory = tmp_path / "ckpt"
    top, last = directory / "epoch=0-step=5.ckpt", directory / "last.ckpt"
    saved = lightning_checkpoint(5)
    io.save_checkpoint(saved, top)
    io.save_checkpoint(lightning_checkpoint(5, scale=2.0), last)  # the second save at step 5 only adds the name
    assert steps(run_dir) == [5]
    recorded = manifest(run_dir, 5)
    assert recorded["metadata"]["lightning"]["paths"] == [str(top), str(last)]
    assert recorded["tags"] == ["pinned"] and recorded["epoch"] == 0
    assert recorded["metrics"] == {"val_loss": pytest.approx(0.5 / 6)}
    for path in (top, last):
        loaded = io.load_checkpoint(path)
        assert torch.equal(loaded["state_dict"]["net.weight"], saved["state_dict"]["net.weight"])  # the first save's
        assert set(loaded["state_dict"]) == {"net.weight", "net.bias"}
        assert loaded["optimizer_states"][0]["state"][0]["exp_avg"].dtype == torch.float32
        assert loaded["optimizer_states"][0]["param_groups"][0]["betas"] == (0.9, 0.999)
        assert loaded["lr_schedulers"] == saved["lr_schedulers"] and loaded["loops"] == saved["loops"]
    # last.ckpt saved again at a later step moves there; the top-k name stays.
    io.save_checkpoint(lightning_checkpoint(9, epoch=1), last)
    assert manifest(run_dir, 5)["metadata"]["lightning"]["paths"] == [str(top)]
    assert manifest(run_dir, 9)["metadata"]["lightning"]["paths"] == [str(last)]
    assert manifest(run_dir, 9)["tags"] == []  # last.ckpt alone pins nothing
    assert io.load_checkpoint(last)["global_step"] == 9
    # A name is found in the manifests when its pointer file is gone, and a checkpoint directory loads too.
    last.unlink()
    assert ResumableCheckpointIO(run_dir).load_checkpoint(last)["global_step"] == 9
    assert io.load_checkpoint(run_dir / "checkpoints" / f"step-{5:012d}")["global_step"] == 5
    # A fresh plugin (the next attempt) committing at a step an earlier attempt committed adds the name.
    ResumableCheckpointIO(run_dir).save_checkpoint(lightning_checkpoint(9, epoch=1), directory / "again.ckpt")
    assert str(directory / "again.ckpt") in manifest(run_dir, 9)["metadata"]["lightning"]["paths"]


def test_remove_checkpoint_drops_the_name_and_leaves_deletion_to_retention(tmp_path: Path, run_dir: Path) -> None:
    io = ResumableCheckpointIO(run_dir, keep_last=1)
    a, b = tmp_path / "ckpt" / "epoch=0-step=1.ckpt", tmp_path / "ckpt" / "epoch=1-step=2.ckpt"
    io.save_checkpoint(lightning_checkpoint(1), a)
    io.save_checkpoint(lightning_checkpoint(2, epoch=1), b)
    assert steps(run_dir) == [1, 2]  # step 1 is pinned: it carries a top-k name
    io.remove_checkpoint(a)
    assert not a.exists() and steps(run_dir) == [1, 2]  # removing deletes nothing in the store
    assert manifest(run_dir, 1)["metadata"]["lightning"]["paths"] == []
    assert manifest(run_dir, 1)["tags"] == []
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(a)
    io.save_checkpoint(lightning_checkpoint(3, epoch=2), tmp_path / "ckpt" / "last.ckpt")
    assert steps(run_dir) == [2, 3]  # retention (keep_last=1) took step 1; step 2 is still pinned
    io.remove_checkpoint(tmp_path / "ckpt" / "never-saved.ckpt")  # unknown: nothing happens


class Hparams(pl.LightningModule):
    def __init__(self, hidden: int = 3, activation: str = "relu") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Linear(hidden, 2)


def test_fix_hparams_drops_what_init_refuses(io: ResumableCheckpointIO, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    model = Hparams(hidden=3)
    checkpoint = lightning_checkpoint(4, hyper_parameters={"hidden": "three", "activation": "relu", "dropout": 0.1})
    checkpoint["state_dict"] = model.state_dict()
    path = tmp_path / "old" / "last.ckpt"
    io.save_checkpoint(checkpoint, path)
    with pytest.raises(TypeError):  # what users hit: the old hyperparameters no longer construct the module
        load_from_checkpoint(Hparams, path)
    with caplog.at_level(logging.WARNING, logger="resumable.lightning"):
        fixed = load_from_checkpoint(Hparams, path, fix_hparams=True)
    assert fixed.hparams == {"hidden": 3, "activation": "relu"}
    assert torch.equal(fixed.net.weight, model.net.weight)
    assert "hyper_parameters['hidden']" in caplog.text and "hyper_parameters['dropout']" in caplog.text
    # The plugin applies it to every load when AutoResume(fix_hparams=True) set the module class.
    io.fix_hparams_for = Hparams
    assert io.load_checkpoint(path)["hyper_parameters"] == {"activation": "relu"}
    assert fix_hyperparameters({"hyper_parameters": {"anything": 1}}, type("Open", (), {"__init__":
                                                                                       lambda self, **kw: None})) == []


def test_mlflow_run_is_recorded_and_continued(tmp_path: Path, run_dir: Path) -> None:
    class Client:
        deleted: list[str] = []

        def delete_run(self, run_id: str) -> None:
            self.deleted.append(run_id)

    mlflow = MLFlowLogger.__new__(MLFlowLogger)  # mlflow itself is not installed: the logger's state only
    mlflow._initialized, mlflow._mlflow_client, mlflow._run_id, mlflow._experiment_id = True, Client(), "r1", "7"

    class Trainer:
        loggers = [mlflow]

    assert rl._tracker_metadata(Trainer()) == {"mlflow": {"run_id": "r1", "experiment_id": "7"}}
    Run(run_dir).save(1, state={"global_step": 1}, metadata={"mlflow": {"run_id": "r1", "experiment_id": "7"}})
    resume = AutoResume(run_dir)
    assert os.environ.pop("MLFLOW_RUN_ID") == "r1"
    mlflow._run_id = "fresh"  # what the logger created at setup
    resume._check_trackers(Trainer())  # type: ignore[arg-type]
    assert mlflow._run_id == "r1" and Client.deleted == ["fresh"]


def test_resume_point_skips_a_corrupt_latest_even_against_a_newer_last_ckpt(io: ResumableCheckpointIO, tmp_path: Path,
                                                                             run_dir: Path) -> None:
    directory = tmp_path / "ckpt"
    io.save_checkpoint(lightning_checkpoint(1), directory / "last.ckpt")
    io.save_checkpoint(lightning_checkpoint(2, epoch=1), directory / "last.ckpt")
    model = run_dir / "checkpoints" / f"step-{2:012d}" / "model.safetensors"
    damaged = bytearray(model.read_bytes())
    damaged[-1] ^= 0xFF
    model.write_bytes(bytes(damaged))
    resume = AutoResume(io)
    assert resume.resume_from == str(run_dir / "checkpoints" / f"step-{1:012d}")
    # Lightning's own resolution of fit(ckpt_path=None): "last" over AutoResume's and ModelCheckpoint's files.
    trainer = pl.Trainer(callbacks=[ModelCheckpoint(dirpath=directory, save_last=True), resume], plugins=[io],
                         logger=False, enable_progress_bar=False)
    trainer.state.fn = TrainerFn.FITTING
    chosen = trainer._checkpoint_connector._parse_ckpt_path(TrainerFn.FITTING, None, model_provided=True,
                                                            model_connected=False)
    assert chosen == resume.ckpt_path and io.load_checkpoint(chosen)["global_step"] == 1
    with pytest.raises(ResumableError) as corrupt:  # asked for by name, the damaged one is refused
        ResumableCheckpointIO(run_dir).load_checkpoint(directory / "last.ckpt")
    assert corrupt.value.code == 65


def test_under_resumable_run_the_supervisors_resume_point_is_used(io: ResumableCheckpointIO, tmp_path: Path,
                                                                  run_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for step in (1, 2):
        io.save_checkpoint(lightning_checkpoint(step), tmp_path / "ckpt" / "last.ckpt")
    chosen = run_dir / "checkpoints" / f"step-{1:012d}"
    monkeypatch.setenv("RESUMABLE_RUN_DIR", str(run_dir))
    monkeypatch.setenv("RESUMABLE_RESUME_FROM", str(chosen))
    monkeypatch.setenv("RESUMABLE_ATTEMPT", "2")
    resume = AutoResume()
    assert resume.io.run.supervised and resume.resume_from == str(chosen)
    assert resume.io.load_checkpoint(resume.ckpt_path)["global_step"] == 1
    monkeypatch.setenv("RESUMABLE_RESUME_FROM", "")  # the supervisor found nothing that verifies: start afresh
    fresh = AutoResume()
    assert fresh.resume_from is None and not os.path.exists(fresh.ckpt_path)


# In-process fits: automatic resume, "last"/"best", a W&B id attached with `resumable edit` ---------------


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        loss = nn.functional.mse_loss(self.net(batch[0]), batch[1])
        self.log("loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", nn.functional.mse_loss(self.net(batch[0]), batch[1]))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def tiny_data() -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=generator)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def test_fit_resumes_by_itself_and_lightning_paths_work(tmp_path: Path, run_dir: Path, binary: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    io = ResumableCheckpointIO(run_dir)
    directory = tmp_path / "checkpoints"
    options: dict[str, Any] = dict(accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
                                   num_sanity_val_steps=0, default_root_dir=tmp_path)
    # AutoResume alone: Lightning's default ModelCheckpoint is added (AutoResume counts as a checkpoint callback).
    trainer = pl.Trainer(max_epochs=2, logger=False, plugins=[io], callbacks=[AutoResume(io)], **options)
    trainer.fit(Tiny(), tiny_data(), tiny_data())
    assert steps(run_dir) == [4, 8] and run_dir.joinpath("run.json").is_file()
    progress = json.loads(run_dir.joinpath("progress.json").read_text())  # what `resumable status` shows
    assert (progress["epoch"], progress["of"], progress["step"]) == (2, 2, 8)
    assert isinstance(trainer.checkpoint_callback, ModelCheckpoint)
    assert [p.name for p in directory.iterdir()] == ["epoch=1-step=8.ckpt"]  # epoch 0's was removed
    assert manifest(run_dir, 4)["metadata"]["lightning"]["paths"] == [] and manifest(run_dir, 4)["tags"] == []
    assert trainer.validate(Tiny(), tiny_data(), ckpt_path="best", verbose=False)

    # A fit with a monitored, top-1, last.ckpt-as-a-link ModelCheckpoint listed first; ckpt_path="last" works.
    checkpoint = ModelCheckpoint(dirpath=directory, monitor="val_loss", save_top_k=1, save_last="link")
    trainer = pl.Trainer(max_epochs=3, logger=False, plugins=[io], callbacks=[AutoResume(io), checkpoint], **options)
    trainer.fit(Tiny(), tiny_data(), tiny_data())
    assert trainer.global_step == 12 and steps(run_dir)[-1] == 12  # continued from step 8
    assert trainer.checkpoint_callback is checkpoint  # AutoResume was moved after the ModelCheckpoint
    assert (directory / "last.ckpt").is_symlink() and Path(checkpoint.best_model_path).is_file()
    assert trainer.validate(Tiny(), tiny_data(), ckpt_path="last", verbose=False)

    # Attach a W&B run id to the latest checkpoint, the way `resumable edit` does; the next fit continues it.
    subprocess.run([binary, "edit", f"{run_dir}@latest", "--set", "wandb.run_id=attached1"], check=True,
                   capture_output=True)
    for key in list(os.environ):
        if key.startswith("WANDB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    for key in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(key, str(tmp_path / "wandb-home"))
    wandb_logger = WandbLogger(project="resumable-test", save_dir=str(tmp_path))
    io = ResumableCheckpointIO(run_dir)
    trainer = pl.Trainer(max_epochs=4, logger=wandb_logger, plugins=[io], callbacks=[
        ModelCheckpoint(dirpath=directory, monitor="val_loss", save_last=True), AutoResume(io, fix_hparams=True)],
        **options)
    assert os.environ["WANDB_RUN_ID"] == "attached1"
    try:
        trainer.fit(Tiny(), tiny_data(), tiny_data())
        assert wandb_logger.experiment.id == "attached1"
    finally:
        wandb_logger.experiment.finish()
    assert "WANDB_RUN_ID" not in os.environ  # put back once the logger had its run
    assert trainer.global_step == 16 and steps(run_dir)[-1] == 16
    assert manifest(run_dir, 16)["metadata"]["wandb"]["run_id"] == "attached1"
    assert manifest(run_dir, 16)["epoch"] == 3 and io.fix_hparams_for is Tiny
