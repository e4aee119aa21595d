#!/usr/bin/env python3
"""Compares two study directories of `cargo xtask reproduce`: every stage
JSON field by field, ignoring what differs between runs by nature (wall
times, paths, the revision, the command line), and every checkpoint
(weights and optimiser state) by SHA-256. Same seeds and same code give no
difference; a speed change that claims bit-identical results must too.

Usage: python3 scripts/compare-studies.py runs/quick-before runs/quick-after
Exit status 1 when anything differs (or a file is missing on one side)."""
import json, sys, os, hashlib, glob
if len(sys.argv) != 3 or not all(os.path.isdir(d) for d in sys.argv[1:]):
    sys.exit("usage: compare-studies.py DIR_A DIR_B (two study directories)")
a, b = sys.argv[1], sys.argv[2]
SKIP = {"seconds", "elapsed", "elapsed_s", "timings", "git_revision", "command", "wall_s",
        "started", "finished", "created", "run", "path", "dir", "out", "argv", "meta", "time_s"}
diffs = []
def walk(x, y, p):
    if isinstance(x, dict) and isinstance(y, dict):
        for k in set(x) | set(y):
            if k in SKIP or "second" in k or k.endswith("_s") or "time" in k:
                continue
            if k not in x or k not in y:
                diffs.append(f"{p}/{k}: only in one"); continue
            walk(x[k], y[k], f"{p}/{k}")
    elif isinstance(x, list) and isinstance(y, list):
        if len(x) != len(y):
            diffs.append(f"{p}: length {len(x)} vs {len(y)}"); return
        for i, (u, v) in enumerate(zip(x, y)):
            walk(u, v, f"{p}[{i}]")
    elif isinstance(x, str) and isinstance(y, str):
        if x != y and not (a in x or b in x or "/tmp/" in x):
            diffs.append(f"{p}: {x[:60]!r} vs {y[:60]!r}")
    elif x != y:
        diffs.append(f"{p}: {x} vs {y}")
n = 0
for f in sorted(glob.glob(os.path.join(a, "*.json"))):
    g = os.path.join(b, os.path.basename(f))
    if os.path.basename(f) in ("timings.json",):
        continue
    if not os.path.exists(g):
        diffs.append(f"{os.path.basename(f)}: missing in {b}")
        continue
    n += 1
    walk(json.load(open(f)), json.load(open(g)), os.path.basename(f))
ck = 0
for f in sorted(glob.glob(os.path.join(a, "*", "checkpoints", "*.safetensors"))):
    g = os.path.join(b, os.path.relpath(f, a))
    ck += 1
    if not os.path.exists(g):
        diffs.append(f"checkpoint missing in {b}: {os.path.relpath(f, a)}")
    elif hashlib.sha256(open(f, "rb").read()).digest() != hashlib.sha256(open(g, "rb").read()).digest():
        diffs.append(f"checkpoint differs: {os.path.relpath(f, a)}")
print(f"{n} stage files, {ck} checkpoints compared; {len(diffs)} differences")
for d in diffs[:40]:
    print(" ", d)
sys.exit(1 if diffs else 0)
