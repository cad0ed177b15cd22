#!/usr/bin/env python3
"""The stages of the example pipeline: a neural operator for 1-D Burgers, refined, distilled and evaluated.

    python stage.py operator            --out DIR
    python stage.py diff_residual       --out DIR --operator OP.npz
    python stage.py consistency_distill --out DIR --operator OP.npz --residual RES.npz
    python stage.py steady_prior        --out DIR --operator OP.npz
    python stage.py evaluate            --out DIR --operator OP.npz --residual RES.npz --student STUDENT.npz

Each training stage reads ``configs/NAME.json`` (``--config`` to change it),
trains with checkpoints every epoch in ``DIR`` (see common.py) and writes its
model to ``DIR/NAME.npz`` atomically. ``evaluate`` writes ``DIR/report.json``.
Exit codes: 0 done, 75 stopped by SIGTERM/SIGINT after saving, 78 numpy or the
``resumable`` package missing, 1 a missing input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import common
from common import Params, Stage, np

NOISE_SCALE = 0.02  # input noise of the residual and student training (drawn from the checkpointed generator)


def _pair(operator: Params, u0: np.ndarray) -> np.ndarray:
    """The residual model's input: the initial condition beside the operator's prediction."""
    return np.concatenate([u0, common.mlp(operator, u0)], axis=1)


def predict(models: dict[str, Params], u0: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's prediction of u(T) for the initial conditions ``u0``."""
    op = common.mlp(models["operator"], u0)
    out = {"operator": op}
    if "diff_residual" in models:
        out["operator+diff_residual"] = op + common.mlp(models["diff_residual"], _pair(models["operator"], u0))
    if "consistency_distill" in models:
        out["consistency_distill"] = common.mlp(models["consistency_distill"], u0)
    return out


def operator_stage(stage: Stage) -> None:
    """Trains the operator: u(x, 0) → u(x, T)."""
    u0, ut = common.training_data()
    cfg = stage.config

    def objective(p: Params, idx: np.ndarray, _rng: np.random.Generator) -> tuple[float, Params]:
        return common.mse_and_grads(p, u0[idx], ut[idx])

    params = common.init_mlp(common.GRID, int(cfg["hidden"]), common.GRID, int(cfg["seed"]))
    params = stage.train(params, objective, len(u0))
    common.save_arrays(stage.output("operator.npz"), params)


def diff_residual_stage(stage: Stage) -> None:
    """Trains a residual model on top of the frozen operator: what the operator still gets wrong."""
    u0, ut = common.training_data()
    operator = common.load_arrays(stage.upstream["operator"])
    x = _pair(operator, u0)
    target = ut - common.mlp(operator, u0)
    cfg = stage.config

    def objective(p: Params, idx: np.ndarray, rng: np.random.Generator) -> tuple[float, Params]:
        noisy = x[idx] + NOISE_SCALE * rng.standard_normal(x[idx].shape).astype(np.float32)
        return common.mse_and_grads(p, noisy, target[idx])

    params = common.init_mlp(2 * common.GRID, int(cfg["hidden"]), common.GRID, int(cfg["seed"]))
    params = stage.train(params, objective, len(u0))
    common.save_arrays(stage.output("diff_residual.npz"), params)


def consistency_distill_stage(stage: Stage) -> None:
    """Distils operator + residual into one smaller student, on noise-perturbed initial conditions."""
    u0, _ = common.training_data()
    teacher = {"operator": common.load_arrays(stage.upstream["operator"]),
               "diff_residual": common.load_arrays(stage.upstream["residual"])}
    cfg = stage.config

    def objective(p: Params, idx: np.ndarray, rng: np.random.Generator) -> tuple[float, Params]:
        noisy = u0[idx] + NOISE_SCALE * rng.standard_normal(u0[idx].shape).astype(np.float32)
        target = predict(teacher, noisy)["operator+diff_residual"]
        return common.mse_and_grads(p, noisy, target)

    params = common.init_mlp(common.GRID, int(cfg["hidden"]), common.GRID, int(cfg["seed"]))
    params = stage.train(params, objective, len(u0))
    common.save_arrays(stage.output("student.npz"), params)


def steady_prior_stage(stage: Stage) -> None:
    """Optional: a small model of where the operator drives a state when applied over and over."""
    u0, _ = common.training_data()
    operator = common.load_arrays(stage.upstream["operator"])
    target = u0
    for _ in range(int(stage.config.get("rollout", 4))):
        target = common.mlp(operator, target)
    cfg = stage.config

    def objective(p: Params, idx: np.ndarray, _rng: np.random.Generator) -> tuple[float, Params]:
        return common.mse_and_grads(p, u0[idx], target[idx])

    params = common.init_mlp(common.GRID, int(cfg["hidden"]), common.GRID, int(cfg["seed"]))
    params = stage.train(params, objective, len(u0))
    common.save_arrays(stage.output("steady_prior.npz"), params)


def evaluate_stage(stage: Stage) -> None:
    """Writes report.json: each model's error on held-out initial conditions (no training, no checkpoints)."""
    stage.record_start(0)
    u0, ut = common.test_data(int(stage.config.get("test_samples", 64)))
    models = {"operator": common.load_arrays(stage.upstream["operator"]),
              "diff_residual": common.load_arrays(stage.upstream["residual"]),
              "consistency_distill": common.load_arrays(stage.upstream["student"])}
    metrics = {}
    reference = float(np.sqrt(np.mean(ut.astype(np.float64) ** 2)))
    for name, prediction in sorted(predict(models, u0).items()):
        error = prediction.astype(np.float64) - ut
        mse = float(np.mean(error ** 2))
        metrics[name] = {"mse": mse, "relative_l2": float(np.sqrt(mse)) / reference}
    report = {
        "pipeline": "burgers-example",
        "test_samples": int(len(u0)),
        "metrics": metrics,
        "inputs": {label: {"file": os.path.basename(path), "sha256": common.file_sha256(path)}
                   for label, path in sorted(stage.upstream.items())},
        "config": stage.config,
    }
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    common.write_atomically(stage.output("report.json"), lambda f: f.write(text.encode()))
    for name, m in sorted(metrics.items()):
        common.log(stage.name, f"{name:24} mse {m['mse']:.6f}  relative L2 {m['relative_l2']:.4f}")


STAGES = {
    "operator": (operator_stage, []),
    "diff_residual": (diff_residual_stage, ["operator"]),
    "consistency_distill": (consistency_distill_stage, ["operator", "residual"]),
    "steady_prior": (steady_prior_stage, ["operator"]),
    "evaluate": (evaluate_stage, ["operator", "residual", "student"]),
}


def main(argv: list[str] | None = None) -> None:
    """Parses the command line and runs one stage; exits with the stage's code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--out", default=os.environ.get("RESUMABLE_RUN_DIR", ""),
                        help="the stage's directory (default: $RESUMABLE_RUN_DIR)")
    parser.add_argument("--config", help="the configuration (default: configs/STAGE.json)")
    for name in ("operator", "residual", "student"):
        parser.add_argument(f"--{name}", help=f"the {name} model (.npz) of an upstream stage")
    args = parser.parse_args(argv)
    run, upstream_names = STAGES[args.stage]
    if not args.out:
        parser.error("no stage directory: pass --out (the pipeline passes {stage_dir}) or set RESUMABLE_RUN_DIR")
    upstream = {}
    for name in upstream_names:
        path = getattr(args, name)
        if not path:
            parser.error(f"stage {args.stage} needs --{name}")
        upstream[name] = path
    config = common.load_config(args.config or f"configs/{args.stage}.json")
    stage = Stage(args.stage, args.out, config, upstream)
    run(stage)
    stage.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
