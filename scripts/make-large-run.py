#!/usr/bin/env python3
"""Writes a run with many small committed checkpoints, for measuring `resumable ls`.

Usage: scripts/make-large-run.py RUN_DIR [COUNT=10000]

Each checkpoint holds a tiny model.safetensors and a state.json, with a
manifest in the documented format (sha256 per file, crc32c per tensor), so the run
verifies. Files are not fsynced: this is test data, not a durable commit.
Needs only the Python standard library.
"""
import hashlib
import json
import os
import struct
import sys
import time


def crc32c(data):
    """CRC-32C (Castagnoli), as in the manifest's tensor_crc32c."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def safetensors_bytes(values):
    raw = struct.pack("<%df" % len(values), *values)
    header = json.dumps({"w": {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, len(raw)]}}).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + raw, "%08x" % crc32c(raw)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    run = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    checkpoints = os.path.join(run, "checkpoints")
    os.makedirs(checkpoints, exist_ok=False)
    run_id = "bench" + str(int(time.time()))[-7:]
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump({"id": run_id, "name": os.path.basename(os.path.abspath(run)),
                   "created_at": "2026-01-01T00:00:00.000Z", "config_fingerprint": "", "config": {},
                   "trackers": {}, "monitor": {"metric": "loss", "mode": "min"}}, f, indent=2, sort_keys=True)
    for i in range(1, count + 1):
        step = i * 10
        directory = os.path.join(checkpoints, "step-%012d" % step)
        os.mkdir(directory)
        model, tensor_sha = safetensors_bytes([float(i), float(step), 0.5])
        state = json.dumps({"step": step, "rng": [i, i + 1]}, sort_keys=True).encode()
        files = []
        for name, data, extra in (("model.safetensors", model, {"tensor_crc32c": {"w": tensor_sha}}), ("state.json", state, {})):
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
            record = {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            record.update(extra)
            files.append(record)
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1767225600 + i * 60)) + ".000Z"
        manifest = {"format": "resumable.checkpoint", "version": 1, "step": step, "epoch": i // 100,
                    "created_at": created, "run_id": run_id, "config_fingerprint": "",
                    "metrics": {"loss": 1.0 / i + (i % 7) * 1e-3, "accuracy": 1.0 - 1.0 / (i + 1)},
                    "tags": ["pinned"] if i % 1000 == 0 else [], "metadata": {}, "files": files}
        with open(os.path.join(directory, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
