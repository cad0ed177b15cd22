"""PyTorch: everything a training step depends on, saved without pickle and restored exactly.

    from resumable import Run
    from resumable.torch import ResumableSampler, capture, restore

    sampler = ResumableSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, generator=torch.Generator())
    run = Run("runs/demo")
    checkpoint = run.resume(framework="pt")
    if checkpoint is not None:
        restore(checkpoint, model, optimizer, scheduler, loader=loader)
    ...
    run.save(step, epoch=sampler.epoch, metrics={"loss": loss},
             **capture(model, optimizer, scheduler, loader=loader))

:func:`capture` returns ``{"tensors": …, "state": …}``: the model's state_dict
(parameters and persistent buffers, by their state_dict names) goes to
``model.safetensors``; the optimizer (hyperparameters of every parameter group
and every per-parameter tensor, stored by the parameter's name in the model),
the LR scheduler, the AMP GradScaler, the random generators (Python, NumPy's
global generator, torch's CPU generator and every CUDA device's) and the data
position go to ``state.json`` (tensors inside it to ``state.safetensors``).
:func:`restore` is the inverse; it checks the checkpoint against the objects
before it changes any of them.

The data position is exact when the loop's consumption is what is counted:
:class:`ResumableSampler` counts the indices it has handed out, which is what
the loop consumed for a ``DataLoader`` with ``num_workers=0``. A ``DataLoader``
with worker processes fetches batches ahead of the loop, so its sampler runs
ahead: use :class:`ResumableDataLoader`, which counts the batches the loop
received in the main process (:func:`capture` refuses a plain ``DataLoader``
with workers rather than record a position the loop never reached). A torchdata
``StatefulDataLoader`` (or anything with ``state_dict``/``load_state_dict``) is
saved through its own methods.
"""

from __future__ import annotations

import random
import sys
import warnings
from typing import Any, Iterator, Mapping, Sized, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, Sampler

from . import _state

__all__ = ["capture", "restore", "ResumableSampler", "ResumableDataLoader", "FORMAT_VERSION"]

#: The version of the layout :func:`capture` writes under ``state["resumable_torch"]``.
FORMAT_VERSION = 1

_MAX_LISTED = 8


# Models and names ----------------------------------------------------------------------------------

def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module whose state_dict names are the model's own: DDP/DataParallel and torch.compile wrappers removed."""
    while True:
        if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(getattr(model, "_orig_mod"), torch.nn.Module):
            model = model._orig_mod  # torch.compile's OptimizedModule
        else:
            return model


def _parameter_names(model: torch.nn.Module) -> dict[int, str]:
    """id(parameter) → its name in the model (the first name of a shared parameter)."""
    return {id(p): name for name, p in model.named_parameters()}


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _as_torch(value: Any) -> torch.Tensor:
    """A tensor of the checkpoint as a torch tensor that owns its memory (never the checkpoint's mapping)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return torch.from_numpy(np.array(value, copy=True))


def _owned(value: Any) -> Any:
    """``value`` with every tensor or array inside copied into memory of its own (as torch tensors)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return _as_torch(value)
    if isinstance(value, dict):
        return {k: _owned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_owned(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_owned(v) for v in value)
    return value


def _stored(value: torch.Tensor) -> torch.Tensor:
    """A tensor as the checkpoint stores it: detached, on the CPU, contiguous (a copy only when needed)."""
    t = value.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t if t.is_contiguous() else t.contiguous()


def _stored_tree(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _stored(value)
    if isinstance(value, dict):
        return {k: _stored_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stored_tree(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(_stored_tree(v) for v in value)
    return value


def _shape(t: torch.Tensor) -> list[int]:
    return [int(d) for d in t.shape]


# The optimizer --------------------------------------------------------------------------------------

def _optimizer_keys(optimizer: torch.optim.Optimizer, names: Mapping[int, str]) -> tuple[str, list[str],
                                                                                          list[str | None]]:
    """How the optimizer's parameters are keyed: ``("names", keys, names)`` or ``("indices", keys, names)``.

    Names are used when every parameter of the optimizer is a parameter of the
    model (and no parameter appears twice); otherwise positions ``"0"``, ``"1"``, …
    in the order ``Optimizer.state_dict`` numbers them (group by group).
    """
    flat = [p for group in optimizer.param_groups for p in group["params"]]
    found = [names.get(id(p)) for p in flat]
    if found and all(n is not None for n in found) and len(set(found)) == len(found):
        keys = [n for n in found if n is not None]
        return "names", keys, found
    return "indices", [str(i) for i in range(len(flat))], found


def _capture_optimizer(optimizer: torch.optim.Optimizer, names: Mapping[int, str]) -> dict[str, Any]:
    saved = optimizer.state_dict()
    keyed_by, keys, found = _optimizer_keys(optimizer, names)
    flat = [p for group in optimizer.param_groups for p in group["params"]]
    state = {}
    for index, value in saved["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(keys):
            raise TypeError(f"optimizer.state has a key {index!r} that is not a parameter's index "
                            f"(0 to {len(keys) - 1}); resumable.torch saves the state of standard optimizers")
        state[keys[index]] = _stored_tree(value)
    groups = []
    for group in saved["param_groups"]:
        hyper = {k: _stored_tree(v) for k, v in group.items() if k != "params"}
        hyper["params"] = [keys[i] for i in group["params"]]
        groups.append(hyper)
    return {
        "class": type(optimizer).__qualname__,
        "keyed_by": keyed_by,
        "state": state,
        "param_groups": groups,
        "param_names": found,
        "param_shapes": {k: _shape(p) for k, p in zip(keys, flat)},
    }


def _plan_optimizer(optimizer: torch.optim.Optimizer, saved: Any, names: Mapping[int, str]) -> dict[str, Any]:
    """The ``Optimizer.state_dict`` to load, built from what capture saved, after checking it fits."""
    if not isinstance(saved, dict) or not {"keyed_by", "state", "param_groups"} <= saved.keys():
        raise ValueError("the checkpoint's optimizer state is not in the layout resumable.torch.capture writes")
    if saved.get("class") not in (None, type(optimizer).__qualname__):
        raise ValueError(f"the checkpoint's optimizer state is from {saved['class']}, this optimizer is "
                         f"{type(optimizer).__qualname__}")
    flat = [p for group in optimizer.param_groups for p in group["params"]]
    found = _optimizer_keys(optimizer, names)[2]
    saved_groups = saved["param_groups"]
    if len(saved_groups) != len(optimizer.param_groups):
        raise ValueError(f"the checkpoint's optimizer has {len(saved_groups)} parameter group(s), this optimizer "
                         f"{len(optimizer.param_groups)}")
    if saved["keyed_by"] == "names":
        unnamed = [f"#{i}" for i, n in enumerate(found) if n is None]
        if unnamed:
            raise ValueError(f"the checkpoint stores the optimizer state by parameter name, but this optimizer's "
                             f"parameter(s) {_listed(unnamed)} (by position) are not parameters of the model")
        keys = [n for n in found if n is not None]
        start = 0
        for number, (group, saved_group) in enumerate(zip(optimizer.param_groups, saved_groups)):
            current = keys[start:start + len(group["params"])]
            start += len(group["params"])
            stored = list(saved_group.get("params", []))
            missing = [n for n in stored if n not in set(current)]
            extra = [n for n in current if n not in set(stored)]
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"in the checkpoint but not in this optimizer: {_listed(missing)}")
                if extra:
                    parts.append(f"in this optimizer but not in the checkpoint: {_listed(extra)}")
                raise ValueError(f"the optimizer's parameter group {number} does not match the checkpoint's: "
                                 + "; ".join(parts))
    elif saved["keyed_by"] == "indices":
        keys = [str(i) for i in range(len(flat))]
        for number, (group, saved_group) in enumerate(zip(optimizer.param_groups, saved_groups)):
            if len(saved_group.get("params", [])) != len(group["params"]):
                raise ValueError(f"the optimizer's parameter group {number} has {len(group['params'])} parameters, "
                                 f"the checkpoint's {len(saved_group.get('params', []))}")
        saved_names = list(saved.get("param_names") or [])
        differ = [f"#{i} ({a} in the checkpoint, {b} here)" for i, (a, b) in enumerate(zip(saved_names, found))
                  if a is not None and b is not None and a != b]
        if differ:
            raise ValueError(f"the optimizer's parameters are in another order than the checkpoint's: {_listed(differ)}")
    else:
        raise ValueError(f"the checkpoint's optimizer state is keyed by {saved['keyed_by']!r}, which this version "
                         "does not read")
    index_of = {k: i for i, k in enumerate(keys)}
    shapes = saved.get("param_shapes") or {}
    wrong = [f"{k} (checkpoint {shapes[k]}, here {_shape(flat[i])})" for k, i in index_of.items()
             if k in shapes and list(shapes[k]) != _shape(flat[i])]
    if wrong:
        raise ValueError(f"the optimizer's parameters have other shapes than the checkpoint's: {_listed(wrong)}")
    unknown = [k for k in saved["state"] if k not in index_of]
    if unknown:
        raise ValueError(f"the checkpoint's optimizer state names parameters this optimizer does not have: "
                         f"{_listed(unknown)}")
    groups = []
    start = 0
    for group, saved_group in zip(optimizer.param_groups, saved_groups):
        hyper = {k: _owned(v) for k, v in saved_group.items() if k != "params"}
        hyper["params"] = list(range(start, start + len(group["params"])))
        start += len(group["params"])
        groups.append(hyper)
    return {"state": {index_of[k]: _owned(v) for k, v in saved["state"].items()}, "param_groups": groups}


# Random generators ----------------------------------------------------------------------------------

def _capture_rng() -> dict[str, Any]:
    version, internal, gauss_next = random.getstate()
    legacy = np.random.get_state(legacy=True)
    if not isinstance(legacy, tuple):  # pragma: no cover - the global generator is always MT19937
        raise TypeError("NumPy's global generator is not an MT19937; its state cannot be saved")
    name, keys, position, has_gauss, cached_gaussian = legacy
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
        "numpy": {"bit_generator": name, "keys": [int(k) for k in keys], "pos": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
    return state


def _restore_rng(saved: Any) -> None:
    if "python" in saved:
        p = saved["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if "numpy" in saved:
        n = saved["numpy"]
        np.random.set_state((n["bit_generator"], np.array(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    if "torch" in saved:
        torch.set_rng_state(_as_torch(saved["torch"]).to(torch.uint8))
    cuda = saved.get("cuda") or []
    if cuda and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if count != len(cuda):
            warnings.warn(f"resumable.torch.restore: the checkpoint holds the random state of {len(cuda)} CUDA "
                          f"device(s), this machine has {count}: restored the first {min(count, len(cuda))}",
                          RuntimeWarning, stacklevel=3)
        for i, t in enumerate(cuda[:count]):
            torch.cuda.set_rng_state(_as_torch(t).to(torch.uint8), i)
    elif cuda:
        warnings.warn("resumable.torch.restore: the checkpoint holds CUDA random states but CUDA is not available "
                      "here; they are not restored", RuntimeWarning, stacklevel=3)


# The data position -----------------------------------------------------------------------------------

class ResumableSampler(Sampler[int]):
    """A sampler whose order is a function of (seed, epoch), and that resumes in the middle of an epoch.

    Each epoch's order is ``torch.randperm`` from a generator of its own seeded
    with ``seed + epoch`` (the global random generators are never touched), or
    ``0 … n-1`` without ``shuffle``; with ``num_replicas > 1`` each rank takes
    every ``num_replicas``-th index, padded (or, with ``drop_last``, cut) to
    divide evenly, exactly as ``torch.utils.data.DistributedSampler`` does
    with the same seed. ``drop_last`` matters only with several replicas.

    The position is the number of indices of the current epoch handed out so
    far: what the loop consumed when nothing fetches ahead (a ``DataLoader``
    with ``num_workers=0``, or iterating the sampler yourself). A ``DataLoader``
    with worker processes fetches ahead; use :class:`ResumableDataLoader`, which
    counts the batches the loop received instead.

    Epochs: :meth:`set_epoch` chooses one (keeping the position when it is the
    current epoch, so a restored sampler continues where it stopped). Without
    it, a new iteration after a finished one starts the next epoch by itself.
    An iteration started after a restore in the middle of an epoch yields only
    the rest of that epoch. ``len()`` is always a whole epoch's length.

    ``state_dict()`` is ``{"epoch", "position", …}`` (the length, seed and
    options, checked by ``load_state_dict``; the rank may differ, as all ranks
    are at the same position).
    """

    def __init__(self, data_source_or_len: Union[Sized, int], *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, num_replicas: int = 1, rank: int = 0) -> None:
        """Args:
            data_source_or_len: the dataset (anything with ``len()``) or its length.
            shuffle: a new random order every epoch; otherwise ``0 … n-1``.
            seed: the seed of the orders (epoch ``e`` uses ``seed + e``).
            drop_last: with several replicas, cut the tail instead of padding it.
            num_replicas: the number of processes sharing the data (1: all of it here).
            rank: this process's rank among them.
        """
        super().__init__()
        if isinstance(data_source_or_len, bool):
            raise TypeError("ResumableSampler needs a dataset or its length, not a bool")
        length = data_source_or_len if isinstance(data_source_or_len, int) else len(data_source_or_len)
        if length < 0:
            raise ValueError(f"ResumableSampler: the length must be ≥ 0, not {length}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"ResumableSampler: rank {rank} of {num_replicas} replicas is not valid")
        self._length = int(length)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        if self.drop_last and self._length % self.num_replicas:
            self._num_samples = self._length // self.num_replicas
        else:
            self._num_samples = -(-self._length // self.num_replicas)
        self._epoch = 0
        self._position = 0
        self._hold = False          # set_epoch was called: the next iteration is that epoch, even when finished
        self._pass = 0              # the current iteration; older iterators stop counting
        self._prepared = False      # a ResumableDataLoader began the pass before the DataLoader called iter()
        self._counted_by_loader = False

    @property
    def epoch(self) -> int:
        """The current epoch (the one being iterated, or the last one finished)."""
        return self._epoch

    @property
    def position(self) -> int:
        """How many indices of the current epoch have been consumed (``len(self)`` when it is finished)."""
        return self._position

    def __len__(self) -> int:
        """The number of indices in a whole epoch (for this rank)."""
        return self._num_samples

    def set_epoch(self, epoch: int) -> None:
        """Makes ``epoch`` the current epoch: from its start, or where it stopped if it already is the current one."""
        epoch = int(epoch)
        if epoch < 0:
            raise ValueError(f"ResumableSampler.set_epoch: the epoch must be ≥ 0, not {epoch}")
        if epoch != self._epoch:
            self._epoch = epoch
            self._position = 0
            self._pass += 1  # an iteration still running belongs to the old epoch: it no longer counts
        self._hold = True
        self._prepared = False

    def indices(self, epoch: int) -> list[int]:
        """The whole order of ``epoch`` for this rank (a pure function of the seed, the epoch and the options)."""
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + int(epoch))
            order = torch.randperm(self._length, generator=generator).tolist()
        else:
            order = list(range(self._length))
        total = self._num_samples * self.num_replicas
        if len(order) < total and order:
            order += (order * (-(-(total - len(order)) // len(order))))[:total - len(order)]
        order = order[:total]
        return order[self.rank:total:self.num_replicas]

    def _begin_pass(self) -> int:
        """Starts an iteration (once): a finished epoch is followed by the next unless set_epoch held it."""
        if not self._prepared:
            if self._position >= self._num_samples and self._num_samples > 0 and not self._hold:
                self._epoch += 1
                self._position = 0
            self._hold = False
            self._pass += 1
            self._prepared = True
        return self._pass

    def __iter__(self) -> Iterator[int]:
        """The rest of the current epoch's order (or the next epoch's, when the current one is finished)."""
        pass_id = self._begin_pass()
        self._prepared = False
        order = self.indices(self._epoch)
        return self._iterate(order, self._position, pass_id)

    def _iterate(self, order: list[int], start: int, pass_id: int) -> Iterator[int]:
        for i in range(start, len(order)):
            if pass_id == self._pass and not self._counted_by_loader:
                self._position = i + 1  # counted as it is handed out: what the consumer has
            yield order[i]

    def _consumed(self, pass_id: int, count: int) -> None:
        if pass_id == self._pass:
            self._position = min(self._num_samples, self._position + count)

    def _finished(self, pass_id: int) -> None:
        if pass_id == self._pass:
            self._position = self._num_samples

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "position", "length", "num_samples", "seed", "shuffle", "drop_last", "num_replicas", "rank"}``."""
        return {"epoch": self._epoch, "position": self._position, "length": self._length,
                "num_samples": self._num_samples, "seed": self.seed, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "num_replicas": self.num_replicas, "rank": self.rank}

    def _check_state(self, state: Any) -> None:
        """Raises what :meth:`load_state_dict` would, without changing the sampler."""
        probe = ResumableSampler(self._length, shuffle=self.shuffle, seed=self.seed, drop_last=self.drop_last,
                                 num_replicas=self.num_replicas, rank=self.rank)
        if not isinstance(state, Mapping):
            raise ValueError("the checkpoint's data position is not a ResumableSampler state")
        probe.load_state_dict(state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continues from ``state`` (a :meth:`state_dict`): the same epoch, after what was consumed.

        Raises:
            ValueError: when the length, seed or options differ (the order would not be the same).
        """
        for key in ("epoch", "position"):
            if not isinstance(state.get(key), int) or state[key] < 0:
                raise ValueError(f"ResumableSampler.load_state_dict: {key} is missing or not an integer ≥ 0")
        differ = [f"{key} ({state[key]!r} in the checkpoint, {value!r} here)"
                  for key, value in (("length", self._length), ("seed", self.seed), ("shuffle", self.shuffle),
                                     ("drop_last", self.drop_last), ("num_replicas", self.num_replicas))
                  if key in state and state[key] != value]
        if differ:
            raise ValueError("ResumableSampler.load_state_dict: the checkpoint's sampler differs from this one, so "
                             f"the order would differ: {_listed(differ)}")
        if state["position"] > self._num_samples:
            raise ValueError(f"ResumableSampler.load_state_dict: position {state['position']} is beyond the "
                             f"{self._num_samples} indices of an epoch")
        self._epoch = int(state["epoch"])
        self._position = int(state["position"])
        self._hold = False
        self._prepared = False
        self._pass += 1


class _CountingIterator:
    """A DataLoader iterator that tells the sampler of each batch the loop received."""

    def __init__(self, inner: Iterator[Any], sampler: ResumableSampler, pass_id: int, batch_size: int) -> None:
        self._inner = inner
        self._sampler = sampler
        self._pass_id = pass_id
        self._batch_size = batch_size

    def __iter__(self) -> "_CountingIterator":
        return self

    def __next__(self) -> Any:
        try:
            batch = next(self._inner)
        except StopIteration:
            self._sampler._finished(self._pass_id)
            raise
        self._sampler._consumed(self._pass_id, self._batch_size)
        return batch

    def __len__(self) -> int:
        return len(self._inner)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over a :class:`ResumableSampler` whose position is what the loop received.

    Worker processes fetch ``prefetch_factor × num_workers`` batches ahead of
    the loop, so a sampler's own count runs ahead of what was trained on. This
    loader counts the batches its iterator returned in the main process (batch
    ``k`` of an iteration is indices ``k·batch_size …`` of the sampler's order,
    the DataLoader keeping order with ``in_order=True``), so the position it
    saves is exact with any ``num_workers``, ``persistent_workers`` or
    ``pin_memory``.

    It takes the arguments of ``DataLoader``, except ``batch_sampler`` (the
    batches are the automatic ``BatchSampler`` of ``batch_size``), plus ``seed``:
    without ``sampler`` it makes ``ResumableSampler(dataset, shuffle=shuffle,
    seed=seed)``. Without ``generator`` it uses one of its own, seeded from
    (seed, epoch, position) at each iteration, so starting an iteration never
    draws from the global torch generator (a plain ``DataLoader`` draws its
    workers' base seed from it, which a resumed run would do one more time).

    Randomness inside workers (augmentation in ``Dataset.__getitem__``) is seeded
    per iteration by torch; a run resumed in the middle of an epoch gives the
    workers other batches than the uninterrupted run did, so it is exact only
    when that randomness is derived from the sample index and epoch.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 sampler: ResumableSampler | None = None, *, seed: int = 0, **kwargs: Any) -> None:
        """Args:
            dataset: a map-style dataset.
            batch_size: examples per batch.
            shuffle: with no ``sampler``: the sampler made here shuffles.
            sampler: a :class:`ResumableSampler` (default: one made for ``dataset``).
            seed: with no ``sampler``: its seed; also seeds the loader's own generator.
            **kwargs: the other arguments of ``torch.utils.data.DataLoader``.
        """
        if isinstance(dataset, IterableDataset):
            raise TypeError("ResumableDataLoader needs a map-style dataset; an IterableDataset has no sampler "
                            "(make the dataset itself stateful, or use torchdata's StatefulDataLoader)")
        if kwargs.get("batch_sampler") is not None:
            raise TypeError("ResumableDataLoader makes its batches from batch_size; a batch_sampler is not supported")
        if batch_size is None or batch_size < 1:
            raise ValueError("ResumableDataLoader needs a batch_size ≥ 1")
        if kwargs.get("in_order", True) is not True:
            raise ValueError("ResumableDataLoader needs in_order=True: its count of batches maps to positions only "
                             "when batches arrive in order")
        if sampler is None:
            sampler = ResumableSampler(dataset, shuffle=shuffle, seed=seed)
        elif shuffle:
            raise ValueError("ResumableDataLoader: pass shuffle to the ResumableSampler, not with a sampler")
        elif not isinstance(sampler, ResumableSampler):
            raise TypeError(f"ResumableDataLoader needs a ResumableSampler, not a {type(sampler).__name__}")
        self._own_generator = kwargs.get("generator") is None
        if self._own_generator:
            kwargs["generator"] = torch.Generator()
        self._seed = int(seed)
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        sampler._counted_by_loader = True

    @property
    def resumable_sampler(self) -> ResumableSampler:
        """The sampler whose position this loader keeps."""
        sampler = self.sampler
        assert isinstance(sampler, ResumableSampler)
        return sampler

    def __iter__(self) -> Any:
        """The DataLoader's iterator, counting the batches it returns."""
        sampler = self.resumable_sampler
        pass_id = sampler._begin_pass()
        if self._own_generator and self.generator is not None:
            self.generator.manual_seed(
                (self._seed * 1_000_003 + sampler.epoch * 10_007 + sampler.position) % (2**63))
        inner = super().__iter__()
        assert self.batch_size is not None
        return _CountingIterator(inner, sampler, pass_id, self.batch_size)

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state: the epoch and the examples the loop has received in it."""
        return self.resumable_sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continues from ``state``: the next iteration yields the rest of that epoch."""
        self.resumable_sampler.load_state_dict(state)


_warned_generators: set[int] = set()


def _resumable_sampler_of(loader: DataLoader) -> ResumableSampler | None:
    for candidate in (loader.sampler, getattr(loader.batch_sampler, "sampler", None)):
        if isinstance(candidate, ResumableSampler):
            return candidate
    return None


def _torchdata_loader(loader: Any) -> bool:
    module = sys.modules.get("torchdata.stateful_dataloader")
    cls = getattr(module, "StatefulDataLoader", None) if module is not None else None
    return cls is not None and isinstance(loader, cls)


def _data_handler(loader: Any, doing: str) -> tuple[str, Any]:
    """(kind, object whose state_dict/load_state_dict hold the position) for what was passed as ``loader``."""
    if isinstance(loader, ResumableDataLoader):
        return "resumable_loader", loader
    if isinstance(loader, ResumableSampler):
        return "sampler", loader
    if _torchdata_loader(loader):
        return "torchdata", loader
    if isinstance(loader, DataLoader):
        sampler = _resumable_sampler_of(loader)
        if sampler is None:
            raise TypeError(
                f"resumable.torch.{doing}: the DataLoader's sampler is a {type(loader.sampler).__name__}, whose "
                "position cannot be saved: give it sampler=ResumableSampler(dataset, shuffle=…, seed=…), or use "
                "ResumableDataLoader")
        if loader.num_workers > 0:
            raise ValueError(
                f"resumable.torch.{doing}: this DataLoader has num_workers={loader.num_workers}, so its sampler "
                "runs ahead of the loop by up to prefetch_factor × num_workers batches and its position is not "
                "what the loop consumed: use ResumableDataLoader (same arguments), which counts the batches the "
                "loop received, or num_workers=0")
        if sampler._counted_by_loader:
            raise ValueError(f"resumable.torch.{doing}: this sampler's position is counted by a "
                             "ResumableDataLoader; pass that loader")
        if loader.generator is None and id(loader) not in _warned_generators:
            _warned_generators.add(id(loader))
            warnings.warn(
                "resumable.torch: a DataLoader without generator= draws from the global torch generator each "
                "time an iteration starts, and a resumed run starts one more iteration than an uninterrupted one, "
                "so the random numbers after a resume differ (dropout, augmentation): pass "
                "generator=torch.Generator() to the DataLoader, or use ResumableDataLoader", RuntimeWarning,
                stacklevel=3)
        return "sampler", sampler
    if callable(getattr(loader, "state_dict", None)) and callable(getattr(loader, "load_state_dict", None)):
        return "stateful", loader
    raise TypeError(f"resumable.torch.{doing}: cannot save the position of a {type(loader).__name__}: pass a "
                    "DataLoader over a ResumableSampler, a ResumableDataLoader, a ResumableSampler, or an object "
                    "with state_dict() and load_state_dict()")


# capture / restore -----------------------------------------------------------------------------------

def capture(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
            scaler: Any = None, loader: Any = None) -> dict[str, Any]:
    """Everything the next training step depends on, as ``Run.save`` takes it: ``{"tensors", "state"}``.

    ``run.save(step, epoch=…, metrics=…, **capture(model, optimizer, scheduler, scaler, loader))``

    - ``tensors``: ``model.state_dict()`` (parameters and persistent buffers) by
      name, for ``model.safetensors`` (wrappers such as DDP and ``torch.compile``
      are looked through, so the names are the model's own);
    - ``state["optimizer"]``: every parameter group's hyperparameters and every
      per-parameter value (Adam's ``step``, ``exp_avg``, ``exp_avg_sq``),
      stored by the parameter's name in the model (``optimizer.state.fc1.weight.exp_avg``)
      when all the optimizer's parameters are the model's, by position
      otherwise; the names and shapes are recorded for :func:`restore` to check;
    - ``state["scheduler"]``, ``state["scaler"]``: their ``state_dict()``;
    - ``state["rng"]``: Python's ``random``, NumPy's global ``np.random``, torch's
      CPU generator and, when CUDA is available, every CUDA device's;
    - ``state["data"]``: the data position (see :class:`ResumableSampler`).

    The tensors are the live ones (no copy on the CPU): save before the next
    step changes them (``Run.save(background=True)`` copies them first).

    Raises:
        TypeError: naming the key of a value that JSON cannot hold and that is
            not a tensor (a scheduler's lambdas are stored as ``None`` by torch
            and are fine); or for a loader whose position cannot be saved.
        ValueError: for a ``DataLoader`` with workers (see :class:`ResumableDataLoader`).
    """
    module = _unwrap(model)
    tensors: dict[str, torch.Tensor] = {}
    extra: dict[str, Any] = {}
    for name, value in module.state_dict().items():
        if isinstance(value, torch.Tensor):
            tensors[name] = _stored(value)
        else:
            extra[name] = value  # a module's get_extra_state()
    state: dict[str, Any] = {"resumable_torch": FORMAT_VERSION}
    if extra:
        state["model_extra"] = extra
    if optimizer is not None:
        state["optimizer"] = _capture_optimizer(optimizer, _parameter_names(module))
    if scheduler is not None:
        state["scheduler"] = _stored_tree(scheduler.state_dict())
    if scaler is not None:
        state["scaler"] = _stored_tree(scaler.state_dict())
    state["rng"] = _capture_rng()
    if loader is not None:
        kind, handler = _data_handler(loader, "capture")
        state["data"] = {"kind": kind, "state": _stored_tree(handler.state_dict())}
    _state.encode(state)  # raises now, naming the key, for anything a checkpoint cannot hold
    return {"tensors": tensors, "state": state}


def _check_model(module: torch.nn.Module, tensors: Mapping[str, Any], strict: bool) -> list[str]:
    """Raises for a checkpoint that does not fit the model; returns the warnings of a non-strict restore."""
    current = module.state_dict()
    expected = {k for k, v in current.items() if isinstance(v, torch.Tensor)}
    missing = sorted(expected - tensors.keys())
    unexpected = sorted(set(tensors) - expected)
    wrong_shape = [f"{k} (checkpoint {list(tensors[k].shape)}, model {_shape(current[k])})"
                   for k in sorted(expected & tensors.keys())
                   if list(tensors[k].shape) != _shape(current[k])]
    problems = []
    if missing and strict:
        problems.append(f"missing from the checkpoint: {_listed(missing)}")
    if unexpected and strict:
        problems.append(f"in the checkpoint but not in the model: {_listed(unexpected)}")
    if wrong_shape:
        problems.append(f"shapes differ: {_listed(wrong_shape)}")
    if problems:
        raise ValueError("resumable.torch.restore: the checkpoint does not match the model: " + "; ".join(problems)
                         + (" (strict=False accepts missing and extra tensors, never other shapes)" if strict else ""))
    notes = []
    if missing:
        notes.append(f"left as they are (not in the checkpoint): {_listed(missing)}")
    if unexpected:
        notes.append(f"ignored (not in the model): {_listed(unexpected)}")
    return notes


def restore(checkpoint: Any, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
            scheduler: Any = None, scaler: Any = None, loader: Any = None, *, strict: bool = True) -> None:
    """Puts back what :func:`capture` saved, from a ``Checkpoint`` (``run.resume(framework="pt")``/``run.load``).

    The tensors are copied into the model's existing parameters and buffers (on
    the model's device, in its dtype); the optimizer's state is rebuilt through
    ``Optimizer.load_state_dict`` (so its tensors take each parameter's device
    and dtype, Adam's ``step`` stays a float32 tensor as torch keeps it) and
    owns its memory (nothing stays mapped from the checkpoint's files); the
    scheduler, the scaler, the data position and the random generators are
    restored. Everything is checked before anything is changed.

    Pass the objects you want restored; what the checkpoint holds and is not
    passed is ignored. ``strict=False`` accepts model tensors missing from the
    checkpoint or not in the model (warning about them) and a checkpoint that
    lacks the optimizer, scheduler, scaler or data position asked for; shapes
    must always match.

    Raises:
        ValueError: the checkpoint does not fit: a missing or extra parameter, a
            shape, an optimizer parameter that is not in the checkpoint, another
            sampler (the message names them).
    """
    state = checkpoint.state
    if not isinstance(state, dict) or state.get("resumable_torch") is None:
        raise ValueError(f"resumable.torch.restore: {getattr(checkpoint, 'path', 'the checkpoint')} was not saved "
                         "with resumable.torch.capture (its state has no 'resumable_torch' key)")
    if state["resumable_torch"] != FORMAT_VERSION:
        raise ValueError(f"resumable.torch.restore: the checkpoint's layout is version {state['resumable_torch']}, "
                         f"this version reads {FORMAT_VERSION}")
    module = _unwrap(model)
    tensors = dict(checkpoint.tensors or {})
    notes = _check_model(module, tensors, strict)

    def wanted(key: str, what: str) -> bool:
        if key in state:
            return True
        if strict:
            raise ValueError(f"resumable.torch.restore: the checkpoint holds no {what} state (it was captured "
                             f"without one); pass strict=False to keep this {what} as it is")
        notes.append(f"the {what} is left as it is (not in the checkpoint)")
        return False

    optimizer_plan = None
    if optimizer is not None and wanted("optimizer", "optimizer"):
        try:
            optimizer_plan = _plan_optimizer(optimizer, state["optimizer"], _parameter_names(module))
        except ValueError as error:
            raise ValueError(f"resumable.torch.restore: {error}") from None
    use_scheduler = scheduler is not None and wanted("scheduler", "scheduler")
    use_scaler = scaler is not None and wanted("scaler", "scaler")
    data_handler = None
    if loader is not None and wanted("data", "data position"):
        kind, data_handler = _data_handler(loader, "restore")
        saved_kind = state["data"].get("kind")
        compatible = {kind, saved_kind} <= {"sampler", "resumable_loader"} or kind == saved_kind
        if not compatible:
            raise ValueError(f"resumable.torch.restore: the checkpoint's data position is of a {saved_kind}, "
                             f"the loader passed is a {kind}")
        sampler = (data_handler.resumable_sampler if isinstance(data_handler, ResumableDataLoader)
                   else data_handler if isinstance(data_handler, ResumableSampler) else None)
        if sampler is not None:
            try:
                sampler._check_state(state["data"].get("state"))
            except ValueError as error:
                raise ValueError(f"resumable.torch.restore: {error}") from None

    model_state = {k: v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}
    model_state.update(state.get("model_extra") or {})
    with torch.no_grad():
        module.load_state_dict(model_state, strict=strict)  # copies into the existing parameters and buffers
    if optimizer is not None and optimizer_plan is not None:
        optimizer.load_state_dict(optimizer_plan)
    if use_scheduler:
        scheduler.load_state_dict(_owned(state["scheduler"]))
    if use_scaler:
        scaler.load_state_dict(_owned(state["scaler"]))
    if data_handler is not None:
        data_handler.load_state_dict(_owned(state["data"]["state"]))
    if "rng" in state:
        _restore_rng(state["rng"])
    if notes:
        warnings.warn("resumable.torch.restore (strict=False): " + "; ".join(notes), RuntimeWarning, stacklevel=2)
