"""Run.progress against the real `resumable` binary."""

from __future__ import annotations

import json
import subprocess

import pytest

from resumable import ResumableError, Run, find_binary


def test_progress_writes_the_report_and_status_shows_it(tmp_path):
    run_dir = tmp_path / "run"
    run = Run(run_dir)
    run.progress(epoch=3, of=8, step=120, loss=0.25, samples=4096)
    report = json.loads((run_dir / "progress.json").read_text())
    assert report["epoch"] == 3 and report["of"] == 8 and report["step"] == 120
    assert report["counters"] == {"loss": 0.25, "samples": 4096}
    run.save(1, state={"step": 1})
    status = subprocess.run([find_binary(None), "status", str(run_dir)], capture_output=True, text=True, check=True)
    assert "epoch 3 of 8 (37 %)" in status.stdout
    run.progress(epoch=4, of=8)
    assert json.loads((run_dir / "progress.json").read_text())["epoch"] == 4
    run.close()


@pytest.mark.parametrize("kwargs", [dict(epoch=-1, of=2), dict(epoch=1, of=0), dict(epoch=3, of=2),
                                    dict(epoch=1, of=2, loss="low")])
def test_bad_progress_is_a_usage_error(tmp_path, kwargs):
    run = Run(tmp_path / "run")
    with pytest.raises(ResumableError) as caught:
        run.progress(**kwargs)
    assert caught.value.code == 64
    assert not (tmp_path / "run" / "progress.json").exists()
