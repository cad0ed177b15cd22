"""A 0-d tensor (a scalar: Keras' optimizer iterations) keeps its shape [] through write_file and read_file."""

from __future__ import annotations

import json
import struct

import numpy as np

from resumable import _safetensors


def test_zero_dimensional_arrays_keep_their_shape(tmp_path):
    path = tmp_path / "scalars.safetensors"
    _safetensors.write_file(path, {"iterations": np.int64(7), "lr": np.array(0.5, dtype=np.float32),
                                   "w": np.ones((2, 3), dtype=np.float32)[:, ::2]})
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    assert header["iterations"]["shape"] == [] and header["lr"]["shape"] == [] and header["w"]["shape"] == [2, 2]
    read = _safetensors.read_file(path, framework="np")
    assert read["iterations"].shape == () and int(read["iterations"]) == 7
    assert read["lr"].shape == () and float(read["lr"]) == 0.5
    assert read["w"].shape == (2, 2)
