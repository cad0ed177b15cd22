"""A Lightning training job for test_lightning.py: digits, an MLP with dropout, Adam, StepLR,
ModelCheckpoint (top-2 by val_loss, last.ckpt), EarlyStopping, a W&B logger (offline), and
Resumable's plugin and AutoResume. Run again with the same command after a kill, it resumes.

    python lightning_job.py --run RUN --wandb-dir DIR [--max-epochs N] [--step-sleep S]

Prints one JSON line at the end: {"global_step", "epoch", "wandb_id", "early_stopping", "best_model_score",
"best_model_path"}.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import lightning.pytorch as pl  # noqa: E402
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402

from resumable.lightning import AutoResume, ResumableCheckpointIO  # noqa: E402


def digits() -> tuple[TensorDataset, TensorDataset]:
    with gzip.open(ROOT / "Examples" / "Digits" / "digits.csv.gz", "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.float32)
    order = np.random.RandomState(0).permutation(len(rows))
    x = torch.from_numpy(rows[order, :64] / 16.0)
    y = torch.from_numpy(rows[order, 64].astype(np.int64))
    return TensorDataset(x[:1400], y[:1400]), TensorDataset(x[1400:], y[1400:])


class Classifier(pl.LightningModule):
    def __init__(self, hidden: int = 48, lr: float = 0.01, step_sleep: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, 10))

    def training_step(self, batch, batch_idx):
        if self.hparams.step_sleep:
            time.sleep(self.hparams.step_sleep)
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.cross_entropy(self.net(x), y), prog_bar=False)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 2, gamma=0.6)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True)
    parser.add_argument("--wandb-dir", required=True)
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--step-sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    pl.seed_everything(1234, workers=True, verbose=False)
    train, val = digits()
    io = ResumableCheckpointIO(args.run, keep_last=3)
    resume = AutoResume(io)  # before the logger's run exists: it continues the recorded W&B run
    wandb_logger = WandbLogger(project="resumable-lightning-test", save_dir=args.wandb_dir)
    checkpoint = ModelCheckpoint(monitor="val_loss", save_top_k=2, save_last=True)
    stopping = EarlyStopping(monitor="val_loss", patience=3, min_delta=0.02)
    trainer = pl.Trainer(max_epochs=args.max_epochs, accelerator="cpu", devices=1, deterministic=True,
                         logger=wandb_logger, callbacks=[stopping, checkpoint, resume], plugins=[io],
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=10)
    model = Classifier(step_sleep=args.step_sleep)
    trainer.fit(model, DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=128))
    print(json.dumps({
        "global_step": trainer.global_step, "epoch": trainer.current_epoch,
        "wandb_id": wandb_logger.experiment.id,
        "early_stopping": {"wait_count": stopping.wait_count, "stopped_epoch": stopping.stopped_epoch,
                           "best_score": float(stopping.best_score)},
        "best_model_score": float(checkpoint.best_model_score),
        "best_model_path": os.path.basename(checkpoint.best_model_path),
    }), flush=True)


if __name__ == "__main__":
    main()
