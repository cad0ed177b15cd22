"""resumable.torch: capture/restore exactness, the sampler's position, refusals, and SIGKILL anywhere.

The last test runs Examples/pytorch/train.py twice: uninterrupted, and under
`resumable run` SIGKILLed at 10 seeded random instants spread over the run (and
stopped once by SIGTERM); the final checkpoints must be bit-identical (every
tensor of model.safetensors and state.safetensors, state.json byte for byte,
the epoch and every metric).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import torch  # noqa: E402

from resumable import Run  # noqa: E402
from resumable.torch import ResumableDataLoader, ResumableSampler, capture, restore  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "Examples" / "pytorch" / "train.py"
STEPS = 300
TRAIN_ARGS = ["--steps", str(STEPS), "--save-every", "10", "--log-every", "1", "--step-delay", "0.003"]
KILLS = 10  # SIGKILLs; one SIGTERM besides


# Helpers ---------------------------------------------------------------------------------------------

class Net(torch.nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(6, hidden)
        self.norm = torch.nn.BatchNorm1d(hidden)
        self.drop = torch.nn.Dropout(0.3)
        self.fc2 = torch.nn.Linear(hidden, 3)

    def forward(self, x: Any) -> Any:
        return self.fc2(self.drop(torch.relu(self.norm(self.fc1(x)))))


def make(seed: int, hidden: int = 8) -> tuple[Any, Any, Any, Any]:
    """A model, Adam over two parameter groups (amsgrad: one more moment), a lambda schedule, a CPU GradScaler."""
    torch.manual_seed(seed)
    model = Net(hidden)
    optimizer = torch.optim.Adam([
        {"params": [model.fc1.weight, model.fc1.bias, model.norm.weight, model.norm.bias], "lr": 1e-2},
        {"params": list(model.fc2.parameters()), "lr": 3e-3, "weight_decay": 0.01},
    ], amsgrad=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 0.97 ** e)
    scaler = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=3)
    return model, optimizer, scheduler, scaler


def train(model: Any, optimizer: Any, scheduler: Any, scaler: Any, steps: int) -> list[float]:
    """Steps on random data (drawn from the global generator, as is dropout)."""
    losses = []
    for _ in range(steps):
        x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(float(loss.detach()))
    return losses


def draws() -> tuple[Any, ...]:
    return (torch.rand(4), torch.randn(3), random.random(), random.gauss(0, 1), np.random.rand(3),
            np.random.randint(0, 2**31))


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal, tensors bitwise (and of the same dtype and device)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.device == b.device and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def batches(loader: Any, n: int | None = None) -> list[list[int]]:
    out = []
    for (xb,) in loader:
        out.append(xb.tolist())
        if n is not None and len(out) == n:
            break
    return out


# capture / restore -----------------------------------------------------------------------------------

def test_round_trip_continues_bit_identically(run_dir: Path) -> None:
    model, optimizer, scheduler, scaler = make(0)
    train(model, optimizer, scheduler, scaler, 7)
    run = Run(run_dir)
    run.save(7, epoch=0, **capture(model, optimizer, scheduler, scaler))
    # The uninterrupted continuation.
    expected_draws = draws()
    expected_losses = train(model, optimizer, scheduler, scaler, 6)

    checkpoint = run.load(framework="pt")
    model2, optimizer2, scheduler2, scaler2 = make(1)  # other weights, fresh optimizer: everything comes back
    restore(checkpoint, model2, optimizer2, scheduler2, scaler2)
    # What was restored owns its memory: scribbling over the checkpoint's (copy-on-write) tensors changes nothing.
    for t in [*checkpoint.tensors.values(), *checkpoint.state["optimizer"]["state"]["fc1.weight"].values()]:
        t.fill_(7)
    assert_same(draws(), expected_draws, "random numbers after restore")
    assert train(model2, optimizer2, scheduler2, scaler2, 6) == expected_losses
    assert_same(model2.state_dict(), model.state_dict(), "model")
    assert_same(optimizer2.state_dict(), optimizer.state_dict(), "optimizer")
    assert_same(scheduler2.state_dict(), scheduler.state_dict(), "scheduler")
    assert_same(scaler2.state_dict(), scaler.state_dict(), "scaler")
    state = optimizer2.state_dict()["state"]
    assert {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"} <= state[0].keys()
    assert state[0]["step"].dtype == torch.float32 and state[0]["step"].dim() == 0
    assert float(state[0]["step"]) == 13.0


def test_restore_between_dtypes_and_the_model_device(run_dir: Path) -> None:
    """Tensors take the existing parameters' dtype and device; optimizer moments follow their parameter."""
    model, optimizer, scheduler, scaler = make(0)
    train(model, optimizer, scheduler, scaler, 2)
    Run(run_dir).save(2, **capture(model, optimizer))
    model2, optimizer2, _, _ = make(1)
    model2.double()
    optimizer2 = torch.optim.Adam([
        {"params": [model2.fc1.weight, model2.fc1.bias, model2.norm.weight, model2.norm.bias], "lr": 1e-2},
        {"params": list(model2.fc2.parameters()), "lr": 3e-3, "weight_decay": 0.01}], amsgrad=True)
    restore(Run(run_dir).load(framework="pt"), model2, optimizer2)
    assert model2.fc1.weight.dtype == torch.float64
    assert torch.equal(model2.fc1.weight.float(), model.fc1.weight)
    moments = optimizer2.state[model2.fc1.weight]
    assert moments["exp_avg"].dtype == torch.float64
    assert moments["step"].dtype == torch.float32  # torch keeps Adam's step as it is


def test_restore_from_numpy_arrays(run_dir: Path) -> None:
    """A checkpoint loaded with framework="np" restores the same (arrays are converted, never shared)."""
    model, optimizer, scheduler, scaler = make(0)
    train(model, optimizer, scheduler, scaler, 2)
    Run(run_dir).save(2, **capture(model, optimizer, scheduler, scaler))
    model2, optimizer2, scheduler2, scaler2 = make(1)
    restore(Run(run_dir).load(framework="np"), model2, optimizer2, scheduler2, scaler2)
    assert_same(model2.state_dict(), model.state_dict(), "model")
    assert_same(optimizer2.state_dict(), optimizer.state_dict(), "optimizer")


def test_random_generators_resume(run_dir: Path) -> None:
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    np.random.standard_normal()  # and in NumPy's
    model = Net()
    Run(run_dir).save(1, **capture(model))
    expected = draws()
    draws()
    restore(Run(run_dir).load(framework="pt"), model)
    assert_same(draws(), expected, "random numbers")


def test_optimizer_state_is_stored_by_parameter_name(run_dir: Path) -> None:
    model, optimizer, scheduler, scaler = make(0)
    train(model, optimizer, scheduler, scaler, 1)
    saved = Run(run_dir).save(1, **capture(model, optimizer, scheduler, scaler))
    assert saved is not None
    from resumable import _safetensors
    names = set(_safetensors.read_file(os.path.join(saved.path, "state.safetensors")))
    assert {"optimizer.state.fc1.weight.exp_avg", "optimizer.state.fc2.bias.max_exp_avg_sq",
            "optimizer.state.norm.weight.step", "rng.torch"} <= names
    state = json.loads(Path(saved.path, "state.json").read_text())
    assert state["optimizer"]["keyed_by"] == "names"
    assert state["optimizer"]["param_groups"][0]["params"] == ["fc1.weight", "fc1.bias", "norm.weight", "norm.bias"]
    assert state["optimizer"]["param_groups"][1]["lr"] == 3e-3 * 0.97
    assert state["optimizer"]["param_shapes"]["fc1.weight"] == [8, 6]
    assert state["scheduler"]["lr_lambdas"] == [None, None]  # torch leaves out the lambdas themselves
    assert state["scaler"]["scale"] == 256.0
    assert sorted(_safetensors.read_file(os.path.join(saved.path, "model.safetensors"))) == [
        "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "norm.bias", "norm.num_batches_tracked",
        "norm.running_mean", "norm.running_var", "norm.weight"]


def test_optimizer_state_by_index_when_a_parameter_is_not_the_models(run_dir: Path) -> None:
    model = Net()
    outside = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([*model.parameters(), outside], lr=0.1, momentum=0.9)
    (model(torch.randn(4, 6)).sum() + outside.sum()).backward()
    optimizer.step()
    saved = Run(run_dir).save(1, **capture(model, optimizer))
    state = json.loads(Path(saved.path, "state.json").read_text())  # type: ignore[union-attr]
    assert state["optimizer"]["keyed_by"] == "indices"
    assert state["optimizer"]["param_names"][-1] is None and state["optimizer"]["param_names"][0] == "fc1.weight"
    model2 = Net()
    outside2 = torch.nn.Parameter(torch.zeros(2))
    optimizer2 = torch.optim.SGD([*model2.parameters(), outside2], lr=0.1, momentum=0.9)
    restore(Run(run_dir).load(framework="pt"), model2, optimizer2)
    assert torch.equal(optimizer2.state[outside2]["momentum_buffer"], optimizer.state[outside]["momentum_buffer"])
    # The same count in another order is refused: the recorded names say so.
    model3 = Net()
    reordered = torch.optim.SGD([model3.fc2.weight, *[p for n, p in model3.named_parameters() if n != "fc2.weight"],
                                 torch.nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"another order.*fc1\.weight in the checkpoint, fc2\.weight here"):
        restore(Run(run_dir).load(framework="pt"), model3, reordered)


def test_mismatches_are_named_and_change_nothing(run_dir: Path) -> None:
    model, optimizer, scheduler, scaler = make(0)
    train(model, optimizer, scheduler, scaler, 1)
    Run(run_dir).save(1, **capture(model, optimizer, scheduler, scaler))
    checkpoint = Run(run_dir).load(framework="pt")

    wider, wider_optimizer, _, _ = make(1, hidden=9)
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(ValueError, match=r"shapes differ: fc1\.bias \(checkpoint \[8\], model \[9\]\)"):
        restore(checkpoint, wider, wider_optimizer)
    assert_same(wider.state_dict(), before, "model after a refused restore")

    class Bigger(Net):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(3, 2)

    with pytest.raises(ValueError, match=r"missing from the checkpoint: head\.bias, head\.weight"):
        restore(checkpoint, Bigger())
    with pytest.warns(RuntimeWarning, match=r"left as they are.*head\.bias"):
        restore(checkpoint, Bigger(), strict=False)

    class Smaller(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(6, 8)

    with pytest.raises(ValueError, match=r"in the checkpoint but not in the model: fc2\.bias, fc2\.weight, norm\.bias"):
        restore(checkpoint, Smaller())

    model2 = Net()
    one_group = torch.optim.Adam(model2.parameters(), amsgrad=True)
    with pytest.raises(ValueError, match=r"has 2 parameter group\(s\), this optimizer 1"):
        restore(checkpoint, model2, one_group)
    regrouped = torch.optim.Adam([{"params": [model2.fc1.weight, model2.fc1.bias, model2.norm.weight]},
                                  {"params": [model2.norm.bias, *model2.fc2.parameters()]}], amsgrad=True)
    with pytest.raises(ValueError, match=r"group 0 does not match.*in the checkpoint but not in this optimizer: "
                                         r"norm\.bias"):
        restore(checkpoint, model2, regrouped)
    with pytest.raises(ValueError, match=r"optimizer state is from Adam, this optimizer is SGD"):
        restore(checkpoint, model2, torch.optim.SGD([{"params": [model2.fc1.weight]}, {"params": [model2.fc1.bias]}],
                                                    lr=0.1))


def test_what_json_cannot_hold_is_a_type_error_naming_its_key() -> None:
    class Warmup:  # a callable object: LambdaLR stores its __dict__
        def __init__(self) -> None:
            self.device = torch.device("cpu")

        def __call__(self, epoch: int) -> float:
            return 1.0

    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, Warmup())
    with pytest.raises(TypeError, match=r"'scheduler\.lr_lambdas\.0\.device' holds a torch\.device"):
        capture(model, optimizer, scheduler)
    capture(model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0))  # a lambda: fine


def test_no_pickle_anywhere(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, optimizer, scheduler, scaler = make(0)
    train(model, optimizer, scheduler, scaler, 2)
    sampler = ResumableSampler(10)
    saved = Run(run_dir).save(2, **capture(model, optimizer, scheduler, scaler, loader=sampler))
    assert saved is not None
    assert sorted(os.listdir(saved.path)) == ["manifest.json", "model.safetensors", "state.json", "state.safetensors"]
    text = Path(saved.path, "state.json").read_text()
    assert "__pickle__" not in text
    json.loads(text)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    model2, optimizer2, scheduler2, scaler2 = make(1)
    restore(Run(run_dir).load(framework="pt"), model2, optimizer2, scheduler2, scaler2, loader=ResumableSampler(10))
    assert_same(model2.state_dict(), model.state_dict(), "model")


def test_what_the_checkpoint_lacks(run_dir: Path) -> None:
    model = Net()
    Run(run_dir).save(1, **capture(model))
    checkpoint = Run(run_dir).load(framework="pt")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        restore(checkpoint, model, optimizer)
    with pytest.warns(RuntimeWarning, match="optimizer is left as it is"):
        restore(checkpoint, model, optimizer, strict=False)
    Run(run_dir).save(2, tensors={"w": torch.ones(1)}, state={"epoch": 1})
    with pytest.raises(ValueError, match="not saved with resumable.torch.capture"):
        restore(Run(run_dir).load(framework="pt"), model)


# The data position ------------------------------------------------------------------------------------

def test_sampler_order_is_a_function_of_seed_and_epoch() -> None:
    a, b = ResumableSampler(50, seed=7), ResumableSampler(range(50), seed=7)
    first = list(a)
    assert first == list(b) and sorted(first) == list(range(50)) and first != list(range(50))
    assert list(a) != first and a.epoch == 1  # a new iteration after a finished one: the next epoch
    assert list(a) == ResumableSampler(50, seed=7).indices(2)
    assert ResumableSampler(50, seed=8).indices(0) != first
    assert list(ResumableSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]
    dataset = list(range(23))
    for drop_last in (False, True):
        for rank in range(3):
            ours = ResumableSampler(dataset, seed=3, num_replicas=3, rank=rank, drop_last=drop_last)
            theirs = torch.utils.data.DistributedSampler(dataset, num_replicas=3, rank=rank, seed=3,
                                                         drop_last=drop_last)
            ours.set_epoch(4)
            theirs.set_epoch(4)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_resumes_in_the_middle_of_an_epoch() -> None:
    dataset = torch.utils.data.TensorDataset(torch.arange(37))

    def loader_of(sampler: ResumableSampler) -> Any:
        return torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler, generator=torch.Generator())

    sampler = ResumableSampler(dataset, seed=1)
    loader = loader_of(sampler)
    head = batches(loader, 3)
    saved = capture(Net(), loader=loader)["state"]["data"]
    assert saved == {"kind": "sampler", "state": {
        "epoch": 0, "position": 12, "length": 37, "num_samples": 37, "seed": 1, "shuffle": True, "drop_last": False,
        "num_replicas": 1, "rank": 0}}
    rest = batches(loader)  # the same iteration goes on (one epoch: 10 batches, the last of 1)
    after = batches(loader)  # epoch 1
    assert len(head + rest) == 10 and sorted(sum(head + rest, [])) == list(range(37))

    resumed = ResumableSampler(dataset, seed=1)
    resumed.load_state_dict(saved["state"])
    resumed_loader = loader_of(resumed)
    assert batches(resumed_loader) == rest
    assert resumed.state_dict()["position"] == 37 and resumed.epoch == 0
    assert batches(resumed_loader) == after and resumed.epoch == 1

    # A checkpoint at the very end of an epoch: the loop's next iteration is the next epoch,
    # and set_epoch with that finished epoch keeps it finished (a loop that calls set_epoch(e)
    # for each e resumes alike).
    finished = ResumableSampler(dataset, seed=1)
    finished.load_state_dict({**saved["state"], "position": 37})
    assert batches(loader_of(finished)) == after
    held = ResumableSampler(dataset, seed=1)
    held.load_state_dict({**saved["state"], "position": 37})
    held.set_epoch(0)
    assert batches(loader_of(held)) == []
    held.set_epoch(1)
    assert batches(loader_of(held)) == after

    with pytest.raises(ValueError, match=r"seed \(1 in the checkpoint, 2 here\)"):
        ResumableSampler(dataset, seed=2).load_state_dict(saved["state"])
    with pytest.raises(ValueError, match=r"length \(37 in the checkpoint, 36 here\)"):
        ResumableSampler(36, seed=1).load_state_dict(saved["state"])


def test_plain_dataloader_with_workers_is_refused() -> None:
    dataset = torch.utils.data.TensorDataset(torch.arange(10))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=ResumableSampler(dataset), num_workers=2)
    with pytest.raises(ValueError, match="num_workers=2.*ResumableDataLoader"):
        capture(Net(), loader=loader)
    with pytest.raises(TypeError, match="RandomSampler.*ResumableSampler"):
        capture(Net(), loader=torch.utils.data.DataLoader(dataset, shuffle=True))
    with pytest.warns(RuntimeWarning, match="generator=torch.Generator"):
        capture(Net(), loader=torch.utils.data.DataLoader(dataset, batch_size=2, sampler=ResumableSampler(dataset)))


@pytest.mark.parametrize("workers", [0, 2])
def test_resumable_dataloader_counts_what_the_loop_received(run_dir: Path, workers: int) -> None:
    dataset = torch.utils.data.TensorDataset(torch.arange(53))

    def loader_of() -> ResumableDataLoader:
        return ResumableDataLoader(dataset, batch_size=5, shuffle=True, seed=4, num_workers=workers,
                                   multiprocessing_context="fork" if workers else None)

    loader = loader_of()
    iterator = iter(loader)
    head = [next(iterator)[0].tolist() for _ in range(4)]
    state = loader.state_dict()
    assert (state["epoch"], state["position"]) == (0, 20)
    model = Net()
    Run(run_dir).save(4, **capture(model, loader=loader))
    rest = [b[0].tolist() for b in iterator]
    after = batches(loader)
    assert len(head + rest) == 11 and sorted(sum(head + rest, [])) == list(range(53))
    assert loader.state_dict()["epoch"] == 1 and loader.state_dict()["position"] == 53

    resumed = loader_of()
    restore(Run(run_dir).load(framework="pt"), model, loader=resumed)
    assert batches(resumed) == rest
    assert batches(resumed) == after


# The example, killed ------------------------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESUMABLE_") or k == "RESUMABLE_BIN"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    return env


def _final(run: Path) -> Path:
    path = run / "checkpoints" / f"step-{STEPS:012d}"
    assert path.is_dir(), f"{run} has no checkpoint at step {STEPS}: {sorted(os.listdir(run / 'checkpoints'))}"
    return path


def assert_bit_identical(binary: str, reference: Path, other: Path) -> None:
    """`resumable diff` says every tensor is equal; state.json is the same bytes; epoch and metrics equal."""
    a, b = _final(reference), _final(other)
    diff = subprocess.run([binary, "diff", "--json", str(a), str(b)], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    report = json.loads(diff.stdout)
    assert report["identical"] is True
    assert all(t["status"] == "equal" for t in report["tensors"]) and len(report["tensors"]) >= 17
    assert all(f["status"] == "equal" for f in report["files"]), report["files"]  # state.json, by checksum
    assert [m["key"] for m in report["metadata"]] == ["run_id"]
    assert Path(a, "state.json").read_bytes() == Path(b, "state.json").read_bytes()
    ma, mb = (json.loads(Path(p, "manifest.json").read_text()) for p in (a, b))
    assert ma["epoch"] == mb["epoch"] and ma["metrics"] == mb["metrics"]
    assert set(ma["metrics"]) == {"train_loss", "val_loss", "val_accuracy"}


class _Progress:
    """Follows train.py's lines on the supervisor's standard error: the current attempt's pid and step."""

    ATTEMPT = re.compile(r"train\.py: attempt \d+ \(pid (\d+)\): at step (\d+)")
    STEP = re.compile(r"train\.py: step (\d+)/")

    def __init__(self, stream: Any) -> None:
        self.condition = threading.Condition()
        self.pid: int | None = None
        self.step = -1
        self.lines: list[str] = []
        self.finished = False
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self.condition:
                self.lines.append(line)
                if m := self.ATTEMPT.search(line):
                    self.pid, self.step = int(m.group(1)), int(m.group(2))
                elif m := self.STEP.search(line):
                    self.step = int(m.group(1))
                self.condition.notify_all()
        with self.condition:
            self.finished = True
            self.condition.notify_all()


def _is_train_py(pid: int) -> bool:
    try:
        return b"train.py" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_killed_anywhere_ends_bit_identical(binary: str, tmp_path: Path) -> None:
    """train.py under `resumable run`, SIGKILLed 10 times and stopped by SIGTERM once, ends as if uninterrupted.

    The uninterrupted reference runs alongside (the other core). The instants:
    11 seeded random steps spread over the run, each plus a random delay of up
    to 150 ms (a step takes a few ms, a save tens), so the kills land inside
    steps, saves and commits alike. One interruption, chosen at random, is a
    SIGTERM to the training process instead: it must save at the step boundary
    and exit 75, and the next attempt must start from exactly that step.
    """
    reference = tmp_path / "reference"
    uninterrupted = subprocess.Popen([sys.executable, str(TRAIN), *TRAIN_ARGS, "--run-dir", str(reference)],
                                     env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
    run = tmp_path / "killed"
    rng = random.Random(20261129)
    targets = sorted(rng.sample(range(2, STEPS - 5), KILLS + 1))
    term_at = rng.randrange(1, KILLS)  # which interruption is the SIGTERM
    supervisor = subprocess.Popen(
        [binary, "run", "--run-dir", str(run), "--max-restarts", "100", "--crash-loop", "0", "--backoff", "0",
         "--", sys.executable, str(TRAIN), *TRAIN_ARGS],
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress = _Progress(supervisor.stderr)
    interrupted: list[tuple[int, int, str, bool]] = []  # (pid, step last reported, signal, files of a save left)
    try:
        for number, target in enumerate(targets):
            done = {p for p, *_ in interrupted}
            with progress.condition:
                progress.condition.wait_for(
                    lambda: progress.finished or (progress.pid not in done and progress.step >= target), timeout=300)
                pid = progress.pid
                if progress.finished or pid is None or pid in done:
                    break
            time.sleep(rng.uniform(0.0, 0.15))
            if not _is_train_py(pid):
                break
            with progress.condition:
                step = progress.step
            if number == term_at:
                os.kill(pid, signal.SIGTERM)
                interrupted.append((pid, step, "TERM", False))
                continue
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
            incoming = run / ".incoming"
            mid_save = incoming.is_dir() and any(n.startswith(f"{pid}-") for n in os.listdir(incoming))
            interrupted.append((pid, step, "KILL", mid_save))
        assert supervisor.wait(timeout=600) == 0, "".join(progress.lines[-40:])
        finished = uninterrupted.communicate(timeout=600)[1]
        assert uninterrupted.returncode == 0, finished[-3000:]
    finally:
        for process in (supervisor, uninterrupted):
            if process.poll() is None:
                process.kill()
                process.wait()
    progress.thread.join(timeout=10)
    assert len(interrupted) == KILLS + 1, (interrupted, targets, "".join(progress.lines[-40:]))

    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    supervisor_events = [e for e in events if e.get("source") == "supervisor"]
    failures = [e for e in supervisor_events if e.get("event") == "fail"]
    assert len(failures) == KILLS and all(e.get("signal") == signal.SIGKILL for e in failures), failures
    preempts = [e for e in supervisor_events if e.get("event") == "preempt"]
    assert len(preempts) == 1 and preempts[0].get("exit_code") == 75, preempts
    stopped = [int(m.group(1)) for line in progress.lines if (m := re.search(r"stopped by signal 15 at step (\d+)",
                                                                               line))]
    starts = [int(m.group(2)) for line in progress.lines if (m := _Progress.ATTEMPT.search(line))]
    assert len(starts) == KILLS + 2 and starts[0] == 0
    assert len(stopped) == 1 and stopped[0] == starts[term_at + 1], (stopped, starts)  # resumed where it stopped
    print(f"\ninterrupted at steps {[(s, how) for _, s, how, _ in interrupted]} "
          f"({sum(m for *_, m in interrupted)} with a save's files left behind); attempts started at {starts}")
    assert_bit_identical(binary, reference, run)
