#!/usr/bin/env python3
"""The Python peers of Resumable's benchmark, one (method, phase) per process.

Same state (byte for byte: see StateContents in TrainingState.swift), same
protocol and same JSON result lines as `resumable-bench`:

  peers.py METHOD PHASE --dir DIR [--d-model N] [--no-adam] [--reps N]

METHOD: st-torch, st-numpy, torch, torch-mmap, np-save, np-savez
PHASE:  save, load-cold, load-warm, touch-cold, touch-warm
(torch-mmap shares torch's file; np-save loads with mmap_mode='r'.)
"""
import argparse, gc, json, os, shutil, sys, time

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)


def layout(d, adam):
    v, p, layers = 50257, 1024, 12
    w = [("wte", (v, d)), ("wpe", (p, d))]
    for i in range(layers):
        q = f"h.{i}."
        w += [(q + "ln_1.weight", (d,)), (q + "ln_1.bias", (d,)),
              (q + "attn.c_attn.weight", (d, 3 * d)), (q + "attn.c_attn.bias", (3 * d,)),
              (q + "attn.c_proj.weight", (d, d)), (q + "attn.c_proj.bias", (d,)),
              (q + "ln_2.weight", (d,)), (q + "ln_2.bias", (d,)),
              (q + "mlp.c_fc.weight", (d, 4 * d)), (q + "mlp.c_fc.bias", (4 * d,)),
              (q + "mlp.c_proj.weight", (4 * d, d)), (q + "mlp.c_proj.bias", (d,))]
    w += [("ln_f.weight", (d,)), ("ln_f.bias", (d,))]
    if not adam:
        return w
    a = [("model." + n, s) for n, s in w]
    a += [("adam.exp_avg." + n, s) for n, s in w]
    a += [("adam.exp_avg_sq." + n, s) for n, s in w]
    a.append(("adam.step", (2,)))
    return a


def tensor(t, shape):
    """Tensor t's contents, as StateContents.fill makes them."""
    n = int(np.prod(shape))
    seed = np.uint64(((t + 1) * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        z = np.arange(1, (n + 1) // 2 + 1, dtype=np.uint64)
        z *= GAMMA
        z += seed
        z ^= z >> np.uint64(30); z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27); z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    u = z.view(np.uint32)[:n]
    f = (u >> np.uint32(8)).astype(np.float32)
    f *= np.float32(2.0 ** -23)
    f -= np.float32(1)
    return f.reshape(shape)


def state(d, adam):
    return {name: tensor(i, shape) for i, (name, shape) in enumerate(layout(d, adam))}


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def drop_caches(files):
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        return "drop_caches"
    except OSError:
        for p in files:
            fd = os.open(p, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        return "fadvise"


def clear(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
    os.sync()


def touch(arrays):
    s = 0
    for a in arrays:
        b = np.asarray(a).reshape(-1).view(np.uint8)
        s += int(b[::4096].sum())
    return s


# ---- the methods: (output path, save(state, path) -> files, load(path) -> {name: array-like}) ----

def out_path(method, directory):
    base = {"torch-mmap": "torch", "np-save": "np-save"}.get(method, method)
    ext = {"st-torch": ".safetensors", "st-numpy": ".safetensors", "torch": ".pt", "np-savez": ".npz"}.get(base, "")
    return os.path.join(directory, "peer-" + base + ext)


def save(method, st, path):
    if method == "st-torch":
        import torch
        from safetensors.torch import save_file
        save_file({k: torch.from_numpy(v) for k, v in st.items()}, path)
        files = [path]
    elif method == "st-numpy":
        from safetensors.numpy import save_file
        save_file(st, path)
        files = [path]
    elif method == "torch":
        import torch
        torch.save({k: torch.from_numpy(v) for k, v in st.items()}, path)
        files = [path]
    elif method == "np-save":
        os.mkdir(path)
        files = []
        for i, (k, v) in enumerate(st.items()):
            f = os.path.join(path, f"{i:04d}.npy")
            np.save(f, v)
            files.append(f)
    elif method == "np-savez":
        np.savez(path, **st)
        files = [path]
    else:
        raise SystemExit(f"unknown method {method}")
    for f in files:
        fsync_path(f)
    fsync_path(os.path.dirname(path) if method != "np-save" else path)
    if method == "np-save":
        fsync_path(os.path.dirname(path))


def load(method, path, names):
    if method == "st-torch":
        from safetensors.torch import load_file
        return load_file(path)
    if method == "st-numpy":
        from safetensors.numpy import load_file
        return load_file(path)
    if method == "torch":
        import torch
        return torch.load(path, weights_only=True)
    if method == "torch-mmap":
        import torch
        return torch.load(path, weights_only=True, mmap=True)
    if method == "np-save":
        return {k: np.load(os.path.join(path, f"{i:04d}.npy"), mmap_mode="r") for i, k in enumerate(names)}
    if method == "np-savez":
        with np.load(path) as z:
            return {k: z[k] for k in names}
    raise SystemExit(f"unknown method {method}")


def as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def files_of(method, path):
    if os.path.isdir(path):
        return [os.path.join(path, f) for f in sorted(os.listdir(path))]
    return [path]


def emit(method, phase, label, nbytes, seconds, peak, note=None):
    s = sorted(seconds)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    o = {"method": method, "phase": phase, "state": label, "bytes": nbytes, "seconds": seconds,
         "median_s": med, "gbps": nbytes / med / 1e9, "peak_extra_mib": peak / 1048576}
    if note:
        o["note"] = note
    print(json.dumps(o, sort_keys=True), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("method")
    ap.add_argument("phase")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--d-model", type=int, default=768)
    ap.add_argument("--no-adam", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    adam = not a.no_adam
    lay = layout(a.d_model, adam)
    names = [n for n, _ in lay]
    nbytes = sum(int(np.prod(s)) * 4 for _, s in lay)
    label = f"d{a.d_model}{'+adam' if adam else ''}"
    path = out_path(a.method, a.dir)
    if a.method.startswith("torch") or a.method == "st-torch":
        import torch  # imported before any timing: importing torch costs ~0.5 GiB and seconds
        torch.set_num_threads(2)
    seconds, peak = [], 0

    if a.phase == "save":
        st = state(a.d_model, adam)
        clear(path)
        save(a.method, st, path)  # warm-up
        got = load(a.method, path, names)
        for i, (n, s) in enumerate(lay):
            if not np.array_equal(as_numpy(got[n]), st[n]):
                raise SystemExit(f"{a.method}: tensor {n} does not round-trip")
        del got
        gc.collect()
        for _ in range(a.reps):
            clear(path)
            before = status("VmRSS")
            reset_peak()
            t0 = time.perf_counter()
            save(a.method, st, path)
            seconds.append(time.perf_counter() - t0)
            peak = max(peak, status("VmHWM") - before)
        emit(a.method, "save", label, nbytes, seconds, peak)
        return

    what, temp = a.phase.split("-")
    # Warm-up: load and check every tensor against the state (one at a time).
    got = load(a.method, path, names)
    for i, (n, s) in enumerate(lay):
        if not np.array_equal(as_numpy(got[n]), tensor(i, s)):
            raise SystemExit(f"{a.method}: tensor {n} of {path} does not hold the state")
    del got
    gc.collect()
    files = files_of(a.method, path)
    note = "warm"
    for _ in range(a.reps):
        if temp == "cold":
            note = "cold (" + drop_caches(files) + ")"
        before = status("VmRSS")
        reset_peak()
        t0 = time.perf_counter()
        got = load(a.method, path, names)
        if what == "touch":
            touch(as_numpy(got[n]) for n in names)
        seconds.append(time.perf_counter() - t0)
        peak = max(peak, status("VmHWM") - before)
        del got
        gc.collect()
    emit(a.method, a.phase, label, nbytes, seconds, peak, note)


if __name__ == "__main__":
    main()
