"""Hostile and damaged input through the Python API: a clear error with the store's code, never a crash,
never a hang, nothing unpickled unsafely, nothing written through a symbolic link."""

from __future__ import annotations

import base64
import json
import os
import pickle
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from resumable import ResumableError, Run
from resumable import _safetensors


def committed(run_dir: Path) -> Path:
    run = Run(run_dir)
    saved = run.save(1, tensors={"w": np.arange(4, dtype=np.float32)}, state={"epoch": 1, "m": np.zeros(2)})
    assert saved is not None
    return Path(saved.path)


def header_file(path: Path, header: object, data: bytes = b"", length: int | None = None) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


@pytest.mark.parametrize("header,data,length,fragment", [
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, None, "outside"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, b"\0" * 16, None, "holds 16 bytes"),
    ({"w": {"dtype": "Q99", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 16, None, "unknown dtype"),
    ({"w": {"dtype": "U8", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, b"\0" * 4, None, "holds 4 bytes"),
    ({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, None, "invalid shape"),
    ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
      "b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4, None, "contiguous"),
    ({"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 9, None, "holds 9"),
    ({}, b"", 2**40, "more than"),
    ({}, b"", 10_000, "after the length"),
    ([1, 2], b"", None, "not a JSON object"),
])
def test_damaged_tensor_files_are_refused_with_code_65(tmp_path: Path, header: object, data: bytes,
                                                       length: int | None, fragment: str) -> None:
    path = tmp_path / "bad.safetensors"
    header_file(path, header, data, length)
    for framework in ("np", "pt"):
        with pytest.raises(ResumableError) as error:
            _safetensors.read_file(str(path), framework=framework)
        assert error.value.code == 65 and fragment in error.value.message and str(path) in error.value.message


def test_truncated_and_empty_files(tmp_path: Path) -> None:
    for content in (b"", b"\x10\x00", struct.pack("<Q", 8) + b"{}"):
        path = tmp_path / "t.safetensors"
        path.write_bytes(content)
        with pytest.raises(ResumableError) as error:
            _safetensors.read_file(str(path))
        assert error.value.code == 65


def test_a_corrupt_file_in_a_checkpoint_without_verification_is_still_caught(run_dir: Path) -> None:
    path = committed(run_dir)
    header_file(path / "model.safetensors", {"w": {"dtype": "F32", "shape": [99], "data_offsets": [0, 16]}},
                b"\0" * 16)
    with pytest.raises(ResumableError) as error:
        Run(run_dir).load(1)  # verified: the checksum catches it
    assert error.value.code == 65
    with pytest.raises(ResumableError) as error:
        Run(run_dir).load(1, verify=False)  # unverified: the reader's checks catch it
    assert error.value.code == 65


def test_missing_checkpoint_and_missing_run(tmp_path: Path) -> None:
    for ref in ("latest", "best", 3, "step-3"):
        with pytest.raises(ResumableError) as error:
            Run(tmp_path / "nothing").load(ref)
        assert error.value.code in (64, 66), (ref, error.value)
    committed(tmp_path / "run")
    with pytest.raises(ResumableError) as error:
        Run(tmp_path / "run").load(3)
    assert error.value.code == 66


def test_tensor_names_with_slashes_are_names_not_paths(run_dir: Path) -> None:
    names = {"../../escape": np.zeros(1), "a/b/c": np.ones(2), "/abs": np.full(1, 2.0)}
    Run(run_dir).save(1, tensors=names)
    loaded = Run(run_dir).load()
    assert set(loaded.tensors) == set(names)
    assert sorted(os.listdir(loaded.path)) == ["manifest.json", "model.safetensors"]
    assert not (run_dir.parent / "escape").exists()


def test_a_planted_pickle_is_never_unpickled(run_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps(Exploit())
    path = committed(run_dir)
    # A pickle planted in state.json and next to it, with a manifest that matches (so it verifies).
    state = {"epoch": 1, "m": {"__tensor__": "m"}, "evil": {"__pickle__": base64.b64encode(payload).decode()}}
    (path / "state.json").write_text(json.dumps(state))
    (path / "model.pt").write_bytes(payload)
    manifest = json.loads((path / "manifest.json").read_text())
    import hashlib
    for entry in manifest["files"]:
        if entry["name"] == "state.json":
            raw = (path / "state.json").read_bytes()
            entry["bytes"], entry["sha256"] = len(raw), hashlib.sha256(raw).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ResumableError) as error:
        Run(run_dir).load(1)
    assert error.value.code == 64 and "allow_pickle" in error.value.message
    with pytest.raises(ResumableError) as error:
        Run(run_dir).load(1, allow_pickle=True)  # allowed: loaded with weights_only, which refuses it
    assert error.value.code == 65 and "weights_only" in error.value.message
    assert not marker.exists()


def test_allowed_pickles_round_trip_through_weights_only(run_dir: Path) -> None:
    from collections import OrderedDict
    run = Run(run_dir)
    run.save(1, state={"od": OrderedDict(a=torch.ones(1))}, allow_pickle=True)
    assert list(run.load(allow_pickle=True).state["od"]) == ["a"]


def test_symlinks_and_fifos_in_a_checkpoint_are_refused_without_blocking(run_dir: Path, tmp_path: Path) -> None:
    path = committed(run_dir)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"epoch": 1}))
    (path / "state.json").unlink()
    (path / "state.json").symlink_to(outside)
    with pytest.raises(ResumableError) as error:
        Run(run_dir).load(1, verify=False)
    assert error.value.code == 65 and "symbolic link" in error.value.message
    (path / "state.json").unlink()
    os.mkfifo(path / "state.json")
    result: list[BaseException] = []
    reader = threading.Thread(target=lambda: _capture(result, lambda: Run(run_dir).load(1, verify=False)))
    reader.start()
    reader.join(30)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], ResumableError) and result[0].code == 65


def _capture(into: list[BaseException], call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except BaseException as error:  # noqa: BLE001 - the test inspects it
        into.append(error)


def test_the_incoming_directory_is_never_reached_through_a_symlink(run_dir: Path, tmp_path: Path) -> None:
    committed(run_dir)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.rmdir(run_dir / ".incoming")
    (run_dir / ".incoming").symlink_to(elsewhere)
    with pytest.raises(ResumableError) as error:
        Run(run_dir).save(2, tensors={"w": np.zeros(1)})
    assert error.value.code == 65 and ".incoming" in error.value.message
    assert os.listdir(elsewhere) == []


def test_damaged_state_json(run_dir: Path) -> None:
    path = committed(run_dir)
    for content in (b"{not json", json.dumps({"m": {"__tensor__": "missing"}}).encode(),
                    json.dumps({"x": {"__float__": "big"}}).encode(), b"[" * 100000):
        (path / "state.json").write_bytes(content)
        with pytest.raises(ResumableError) as error:
            Run(run_dir).load(1, verify=False)
        assert error.value.code == 65, content[:20]
