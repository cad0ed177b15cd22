#!/usr/bin/env python3
"""Prints compare.sh's table from its JSON lines, and as the last line the
ratios against the targets of docs/PERFORMANCE.md. Standard library only.

  report.py results.jsonl
"""
import json, platform, statistics, sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)   # (method, phase) -> pooled seconds
    extra = defaultdict(list)  # (method, phase) -> peak MiB
    size = {}
    notes = {}
    state = "?"
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            k = (r["method"], r["phase"])
            runs[k] += r["seconds"]
            size[k] = r["bytes"]
            if r.get("peak_extra_mib") is not None:
                extra[k].append(r["peak_extra_mib"])
            if r.get("note"):
                notes[k] = r["note"]
            if r["phase"] == "save" and r["method"] == "resumable":
                state = r["state"]

    def med(m, p):
        s = runs.get((m, p))
        return statistics.median(s) if s else None

    def gbps(m, p):
        t = med(m, p)
        return size[(m, p)] / t / 1e9 if t else None

    def peak(m, p):
        v = extra.get((m, p))
        return max(v) if v else None

    def f(x, fmt="{:.2f}"):
        return "—" if x is None else fmt.format(x)

    payload = size.get(("resumable", "save"), 0)
    print()
    print(f"state {state}: {payload / 1e9:.2f} GB payload; medians over pooled runs; GB/s = payload / s / 1e9")
    print(f"machine: {platform.machine()}, {platform.release()}, {cpu_count()} cores; cold = {notes.get(('resumable-mmap', 'touch-cold'), '?')}")
    print()
    cols = ["save GB/s", "n", "open ms cold/warm", "load cold", "touch cold", "touch warm", "save +MiB", "load +MiB"]
    rows = [
        ("resumable (mmap, checksums on)", "resumable", "resumable-mmap", None),
        ("resumable (copy into arrays)", None, "resumable-copy", None),
        ("resumable, checksums off", "resumable-nohash", None, None),
        ("safetensors.torch save_file/load_file", "st-torch", "st-torch", None),
        ("safetensors.numpy save_file/load_file", "st-numpy", "st-numpy", None),
        ("torch.save / torch.load(weights_only)", "torch", "torch", None),
        ("torch.save / torch.load(mmap=True)", None, "torch-mmap", None),
        ("np.savez / np.load", "np-savez", "np-savez", None),
        ("np.save per tensor / np.load(mmap_mode='r')", "np-save", "np-save", None),
    ]
    w = max(len(r[0]) for r in rows) + 2
    print("| " + "method".ljust(w) + " | " + " | ".join(cols) + " |")
    print("|" + "-" * (w + 2) + "|" + "|".join("-" * (len(c) + 2) for c in cols) + "|")
    for label, sm, lm, _ in rows:
        n = len(runs.get((sm, "save"), [])) if sm else 0
        opens = "—"
        if lm == "resumable-mmap":
            opens = f"{f(ms(med('resumable', 'open-cold')), '{:.1f}')}/{f(ms(med('resumable', 'open-warm')), '{:.1f}')}"
        load_cold = gbps(lm, "load-cold") if lm else None
        cells = [
            f(gbps(sm, "save")) if sm else "—", str(n) if sm else "—", opens,
            "lazy" if lm in ("resumable-mmap", "torch-mmap", "np-save") else f(load_cold),
            f(gbps(lm, "touch-cold")) if lm else "—", f(gbps(lm, "touch-warm")) if lm else "—",
            f(peak(sm, "save"), "{:.0f}") if sm else "—",
            f(peak(lm, "touch-warm"), "{:.0f}") if lm else "—",
        ]
        print("| " + label.ljust(w) + " | " + " | ".join(c.rjust(len(h)) for c, h in zip(cells, cols)) + " |")
    print()
    dd = gbps("dd conv=fsync", "limit")
    print("limits (same run): "
          f"dd bs=16M conv=fsync {f(dd)} GB/s (n={len(runs.get(('dd conv=fsync', 'limit'), []))}, "
          f"range {f(rng('dd conv=fsync', runs, size, min))}–{f(rng('dd conv=fsync', runs, size, max))}); "
          f"dd bs=16M oflag=direct conv=fsync {f(gbps('dd oflag=direct', 'limit'))} GB/s "
          f"(n={len(runs.get(('dd oflag=direct', 'limit'), []))}); "
          f"memcpy {f(gbps('memcpy', 'limit'))} GB/s (all cores into memory idle 2.5 s: {f(gbps('memcpy-idle', 'limit'))}); SHA-256 one core {f(gbps('sha256', 'limit'))} GB/s")
    a_block, a_sync = med("resumable-async", "async-block"), med("resumable-async", "sync-save")
    a_first = med("resumable-async", "async-first-block")
    a_prepared = med("resumable-async", "async-first-block-prepared")
    a_bg = med("resumable-async", "async-background")
    a_worst = med("resumable-async", "async-block-worst")
    a_copy = med("resumable-async", "async-block-copy")
    a_slow = med("resumable-async", "async-step-slowdown")
    a_step = med("resumable-async", "train-step")
    print(f"asynchronous save (state in a TensorArena, copy-on-write): training blocked {f(ms(a_block), '{:.1f}')} ms "
          f"(save call {f(ms(med('resumable-async', 'async-call')), '{:.1f}')} ms + write pauses "
          f"{f(ms(med('resumable-async', 'async-pauses')), '{:.1f}')} ms) vs a synchronous save {f(ms(a_sync), '{:.0f}')} ms; "
          f"worst case (optimizer rewrites the state as save returns) {f(ms(a_worst), '{:.1f}')} ms; "
          f"first save {f(ms(a_first), '{:.1f}')} ms, after prepareBuffers {f(ms(a_prepared), '{:.1f}')} ms; "
          f"state not in an arena (copied before save returns) {f(ms(a_copy), '{:.0f}')} ms; "
          f"one-token training step {f(ms(a_step), '{:.0f}')} ms, steps slowed by {f(ms(a_slow), '{:.0f}')} ms in all while "
          f"the save runs in the background ({f(ms(a_bg), '{:.0f}')} ms to commit); "
          f"snapshot buffers +{f(peak('resumable-async', 'async-block'), '{:.0f}')} MiB")
    listing = {p.rsplit("-", 1)[0]: med(m, p) for (m, p) in runs if m == "resumable-lib"}
    cli = {p.rsplit("-", 1)[0]: med(m, p) for (m, p) in runs if m == "resumable-cli"}
    count = next((p.rsplit("-", 1)[1] for (m, p) in runs if m == "resumable-lib"), "?")
    print(f"run with {count} checkpoints: library " + ", ".join(f"{k} {v:.3f} s" for k, v in sorted(listing.items()))
          + ("; CLI " + ", ".join(f"{k} {v:.3f} s" for k, v in sorted(cli.items())) if cli else "; CLI not measured"))
    resume = med("digits", "resume-overhead")
    if resume is not None:
        print(f"resume (digits example): process start to first resumed step {f(ms(med('digits', 'resume-total')), '{:.0f}')} ms, "
              f"of which reading the state {f(ms(med('digits', 'resume-read')), '{:.0f}')} ms; overhead {f(ms(resume), '{:.0f}')} ms")
    print()

    save = gbps("resumable", "save")
    peer_saves = [gbps(m, "save") for m in ("st-torch", "st-numpy", "torch", "np-savez", "np-save") if gbps(m, "save")]
    peer_touch = [gbps(m, "touch-warm") for m in ("st-torch", "st-numpy", "torch", "torch-mmap", "np-savez", "np-save") if gbps(m, "touch-warm")]
    ours_touch = max([x for x in (gbps("resumable-mmap", "touch-warm"), gbps("resumable-copy", "touch-warm")) if x] or [0]) or None
    t_on, t_off = med("resumable", "save"), med("resumable-nohash", "save")
    ratios = [
        ("save/dd", save / dd if save and dd else None, "{:.2f}"),
        ("save/dd_direct", save / gbps("dd oflag=direct", "limit") if save and gbps("dd oflag=direct", "limit") else None, "{:.2f}"),
        ("save/best_peer", save / max(peer_saves) if save and peer_saves else None, "{:.2f}"),
        ("checksum_cost", (t_on - t_off) / t_on if t_on and t_off else None, "{:.2f}"),
        ("open_ms", ms(med("resumable", "open-warm")), "{:.1f}"),
        ("open_cold_ms", ms(med("resumable", "open-cold")), "{:.1f}"),
        ("warm_touch/best_peer", ours_touch / max(peer_touch) if ours_touch and peer_touch else None, "{:.2f}"),
        ("save_peak_mib", peak("resumable", "save"), "{:.0f}"),
        ("async_block/sync", a_block / a_sync if a_block and a_sync else None, "{:.3f}"),
        ("async_worst/sync", a_worst / a_sync if a_worst and a_sync else None, "{:.3f}"),
        ("async_slowdown/sync", a_slow / a_sync if a_slow and a_sync else None, "{:.2f}"),
        ("ls10k_s", cli.get("ls", listing.get("ls")), "{:.3f}"),
        ("latest10k_s", cli.get("latest", listing.get("latest")), "{:.3f}"),
        ("status10k_s", cli.get("status", listing.get("status")), "{:.3f}"),
        ("resume_overhead_ms", ms(resume), "{:.0f}"),
    ]
    print("ratios: " + " ".join(f"{k}={f(v, fmt)}" for k, v, fmt in ratios))


def ms(x):
    return None if x is None else x * 1000


def rng(method, runs, size, pick):
    """The slowest (pick=min) or fastest (pick=max) run's GB/s."""
    s = runs.get((method, "limit"))
    if not s:
        return None
    return size[(method, "limit")] / (max(s) if pick is min else min(s)) / 1e9


def cpu_count():
    import os
    return os.cpu_count()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results.jsonl")
