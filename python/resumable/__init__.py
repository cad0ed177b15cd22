"""Resumable for Python: atomic, verified checkpoints and exact resume, on top of the ``resumable`` command.

    from resumable import Run

    run = Run("runs/demo")                     # or Run() under `resumable run`
    checkpoint = run.resume()                  # the latest good checkpoint, or None
    ...
    run.save(step, tensors={"w": w}, state={"epoch": epoch}, metrics={"loss": loss})

Integrations: ``resumable.torch`` (model, optimizer, scheduler, scaler, random
generators and data position, no pickle), ``resumable.lightning`` (a
CheckpointIO plugin and automatic resume) and ``resumable.keras`` (a checkpoint
callback). See python/README.md.
"""

from ._binary import find_binary
from .errors import ResumableError
from .run import Checkpoint, Reference, Run, SavedCheckpoint

__version__ = "0.1.0"

__all__ = ["Run", "Checkpoint", "SavedCheckpoint", "Reference", "ResumableError", "find_binary", "__version__"]
