"""The data and the feature representations of the example ablation (Examples/sweep).

A fixed-seed synthetic dataset stands in for a network's layer activations:
600 samples (400 to train, 200 to test) of 3 classes, each sample with 8
layers of 48 activations. Layers 0–3 are the "visual" layers; the class shows
in them through the spread, the frequency content and the rank order of the
activations, and (more weakly) in layers 4–7 through their mean.

Nine representations make the ablation's matrix; a tenth, ``wavelet``, is
there for the README's "grow the matrix" step. A representation turns each
layer's 48 activations into a few numbers; the features of every layer are
computed at once (an array of shape ``(samples, layers, features)``) and
shared by both layer sets of a representation. Run as a program (``python features.py --rep R --out F``) it
writes that array to ``F`` as ``.npy``: what ``experiment.py`` asks
``resumable cache run`` for, so the two units of a representation compute it
once.

Everything is float64, elementwise or a fixed-order reduction, with one BLAS
thread: the same bytes on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sys
from typing import Callable

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

EXIT_STOPPED = 75  # stopped by a signal: run again
EXIT_CONFIG = 78   # the environment is wrong: a restart would not help

try:
    import numpy as np
except ImportError as _error:
    print(f"features: needs numpy: run scripts/setup-python.sh and set PYTHON=$PWD/.venv/bin/python "
          f"(or pip install numpy) [{_error}]", file=sys.stderr, flush=True)
    sys.exit(EXIT_CONFIG)

SAMPLES = 600
TRAIN = 400
LAYERS = 8
WIDTH = 48
CLASSES = 3
DATA_SEED = 2026
#: The layers of each layer set.
LAYER_SETS: dict[str, tuple[int, ...]] = {"all_layers": tuple(range(LAYERS)), "visual_only": (0, 1, 2, 3)}


def dataset() -> tuple[np.ndarray, np.ndarray]:
    """The synthetic activations and labels: ``(x, y)``, x float64 ``(SAMPLES, LAYERS, WIDTH)``, y int64 ``(SAMPLES,)``.

    In the visual layers a class scales the noise (spread), adds a sine of a
    class-dependent frequency and sorts part of the activations (rank order);
    in the other layers it shifts the mean a little. Deterministic for
    ``DATA_SEED``.
    """
    g = np.random.default_rng(DATA_SEED)
    y = g.integers(0, CLASSES, SAMPLES)
    x = g.standard_normal((SAMPLES, LAYERS, WIDTH))
    position = np.arange(WIDTH) * (2 * np.pi / WIDTH)
    phase = g.uniform(0, 2 * np.pi, (SAMPLES, LAYERS, 1))
    frequency = (2 + 3 * y)[:, None, None]
    amplitude = np.array([0.9, 0.7, 0.6, 0.5])[None, :, None]
    spread = (0.8 + 0.25 * y)[:, None, None]
    visual = x[:, :4] * spread + amplitude * np.sin(frequency * position + phase[:, :4])
    ordered = np.sort(visual[:, :, :12], axis=2)
    visual[:, :, :12] = np.where((y == 2)[:, None, None], ordered, visual[:, :, :12])
    x[:, :4] = visual
    x[:, 4:] += 0.15 * (y[:, None, None] - 1)
    return x, y.astype(np.int64)


# Representations: (samples, width) → (samples, features), one layer at a time -----------------------

def _simple_stats(a: np.ndarray, _layer: int) -> np.ndarray:
    return np.stack([a.mean(1), a.std(1)], 1)


def _rank_based(a: np.ndarray, _layer: int) -> np.ndarray:
    ranks = np.argsort(np.argsort(a, axis=1, kind="stable"), axis=1, kind="stable")
    return ranks[:, :12:2] / (WIDTH - 1)


def _stats(a: np.ndarray, _layer: int) -> np.ndarray:
    mean, std = a.mean(1, keepdims=True), a.std(1, keepdims=True)
    z = (a - mean) / std
    return np.concatenate([mean, std, a.min(1, keepdims=True), a.max(1, keepdims=True),
                           (z ** 3).mean(1, keepdims=True), (z ** 4).mean(1, keepdims=True)], 1)


def _spectral(a: np.ndarray, _layer: int) -> np.ndarray:
    return np.abs(np.fft.rfft(a, axis=1))[:, 1:13] / np.sqrt(WIDTH)


def _pca(a: np.ndarray, _layer: int) -> np.ndarray:
    train = a[:TRAIN]
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    components = vt[:8] * np.where(vt[:8].sum(1, keepdims=True) < 0, -1.0, 1.0)  # a fixed sign per component
    return (a - mean) @ components.T


def _random_proj(a: np.ndarray, layer: int) -> np.ndarray:
    projection = np.random.default_rng([DATA_SEED, 1, layer]).standard_normal((WIDTH, 8)) / np.sqrt(WIDTH)
    return a @ projection


def _histogram(a: np.ndarray, _layer: int) -> np.ndarray:
    edges = np.linspace(-3.0, 3.0, 9)
    bins = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, 7)
    return np.stack([(bins == b).mean(1) for b in range(8)], 1)


def _quantile(a: np.ndarray, _layer: int) -> np.ndarray:
    return np.quantile(a, np.linspace(0.1, 0.9, 9), axis=1).T


def _fourier(a: np.ndarray, layer: int) -> np.ndarray:
    g = np.random.default_rng([DATA_SEED, 2, layer])
    w, b = g.standard_normal((WIDTH, 8)) * 0.2, g.uniform(0, 2 * np.pi, 8)
    return np.sqrt(2 / 8) * np.cos(a @ w + b)


def _wavelet(a: np.ndarray, _layer: int) -> np.ndarray:
    """Haar wavelet: the energy of the detail coefficients at each of 4 levels, the approximation's mean and energy."""
    out, approximation = [], a
    for _ in range(4):
        even, odd = approximation[:, 0::2], approximation[:, 1::2]
        out.append((((even - odd) / np.sqrt(2)) ** 2).mean(1))
        approximation = (even + odd) / np.sqrt(2)
    return np.stack([*out, approximation.mean(1), (approximation ** 2).mean(1)], 1)


#: Every representation; sweep.yaml's matrix lists nine of them (README: "grow the matrix" adds ``wavelet``).
REPRESENTATIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "simple_stats": _simple_stats, "rank_based": _rank_based, "stats": _stats, "spectral": _spectral,
    "pca": _pca, "random_proj": _random_proj, "histogram": _histogram, "quantile": _quantile, "fourier": _fourier,
    "wavelet": _wavelet,
}


def features(representation: str) -> np.ndarray:
    """The features of every layer by ``representation``: float64 ``(SAMPLES, LAYERS, F)``."""
    x, _ = dataset()
    compute = REPRESENTATIONS[representation]
    return np.stack([np.asarray(compute(x[:, layer], layer), np.float64) for layer in range(LAYERS)], 1)


def code_version() -> str:
    """The first 16 hex digits of this file's SHA-256: part of the cache key, so an edit here recomputes."""
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def cache_key(representation: str) -> str:
    """The result-cache key of a representation's features."""
    return f"visual-ablation features rep={representation} samples={SAMPLES} seed={DATA_SEED} code={code_version()}"


def main(argv: list[str] | None = None) -> int:
    """``python features.py --rep R --out F``: writes the features of ``R`` to ``F`` (``.npy``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rep", required=True, choices=sorted(REPRESENTATIONS))
    parser.add_argument("--out", required=True, help="the .npy file to write")
    args = parser.parse_args(argv)
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: sys.exit(EXIT_STOPPED))
    array = features(args.rep)
    with open(args.out, "wb") as f:  # `resumable cache run` stores it (atomically) once this exits 0
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
