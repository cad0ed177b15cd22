"""A binary that cannot be executed is named as such, not blamed on the checkpoint's files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from resumable import ResumableError, Run
from resumable._binary import run_cli


def test_a_binary_being_written_is_reported_as_not_runnable(tmp_path):
    binary = tmp_path / "resumable"
    with open(binary, "w") as being_written:  # open for writing: exec fails with ETXTBSY
        being_written.write("#!/bin/sh\nexit 0\n")
        being_written.flush()
        os.chmod(binary, 0o755)
        with pytest.raises(ResumableError) as failed:
            run_cli(str(binary), ["ls", str(tmp_path / "run")])
        assert failed.value.code == 74 and "cannot run" in failed.value.message
        assert "`resumable ls`" in failed.value.message
        run = Run(tmp_path / "run", binary=str(binary))
        with pytest.raises(ResumableError) as failed:
            run.save(1, tensors={"w": np.zeros(2, np.float32)})
        assert "cannot run" in failed.value.message and "checkpoint files" not in failed.value.message
