#!/usr/bin/env python3
"""The peers of `sc-bench speed`'s workloads g, h and i, which the PyTorch
anchor (../shared/bench/torch_anchor.py) does not have, timed as the anchor
times its own (its `bench()`) and written in its JSON format, so that
`cargo xtask bench` pairs them with semcon's row by row:

  g. `<model>.g_margin_dct8`: subspace DeepFool margins (Ortiz-Jimenez et al.
     2020) in band 0 of the disjoint 8x8 diagonal DCT bands (frequencies 0..8
     on both axes, every channel: 192 dimensions), all 10 classes as
     candidates, 50 steps, overshoot 0.02, labels = the model's predictions,
     one batch of 32 uniform-random images, an image leaving the batch once
     it flips. A batched PyTorch implementation of exactly the algorithm of
     semcon's crates/attack/src/deepfool.rs (see deepfool_subspace). Its cost
     is its number of steps, which the model sets: `cargo xtask bench` runs
     it on semcon's weights (--weights) and checks the margins (--compare).
     Unit: images/s.
  h. `<model>.h_lime1000`: the `lime` package's LimeImageExplainer with 1000
     samples on 8 smooth pattern images, SLIC (scikit-image) with 16
     segments, compactness 10, sigma 0, 10 iterations, mean fill
     (hide_color=None), kernel width 0.25, ridge alpha 1 on all superpixels
     (feature_selection='none'), 256 images per forward pass, target = the
     model's prediction. Unit: images/s.
  i. `i.tsne1000`: scikit-learn's TSNE, method='exact' as semcon's, of 1000
     points in 10 clusters in 10-d: perplexity 30, 1000 iterations (early
     stopping switched off), exaggeration 12 for 250, learning rate 'auto'
     (max(n/12/4, 50)), random initialisation N(0, 1e-4^2). Unit: seconds.
     `i.tsne1000_bh` times method='barnes_hut' (scikit-learn's default, angle
     0.5) with the same settings, for context: semcon has no Barnes-Hut.

Models are the anchor's (ResNet18Cifar, SmallCNN; imported from it, not
copied) with 10 classes, random init, eval mode. Inputs are defined by
formula (an integer LCG, closed-form patterns) exactly as in
src/bin/sc-bench/speed.rs, so both sides see the same numbers. Every record
carries `peak_rss_mib` (bench/anchor_rss.py's measure).

Check that the PyTorch DeepFool is semcon's:
  python bench/peers.py --self-test      # closed-form margins of linear models
  sc-bench speed --models resnet18 --only g --reps 1 --out s.json \
      --margin-weights w.safetensors
  python bench/peers.py --models resnet18 --only g --reps 1 \
      --weights w.safetensors --compare s.json   # same margins, image by image
"""
import argparse
import json
import math
import os
import platform
import re
import struct
import sys

# lime's sampling loop draws a progress bar on stderr otherwise.
os.environ.setdefault("TQDM_DISABLE", "1")
# No __pycache__ beside the scripts or the read-only anchor.
sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchor_rss  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ANCHOR = os.path.join(ROOT, "..", "shared", "bench", "torch_anchor.py")

CLASSES = 10  # speed.rs's PEER_CLASSES
MARGIN_IMAGES_SEED = 1  # speed.rs's MARGIN_IMAGES_SEED
TSNE_POINTS_SEED = 3  # speed.rs's TSNE_POINTS_SEED
LIME_SEED = 7  # speed.rs: Lime::new(samples, Seed(7)) (the masks differ anyway)
NUDGE = 1e-4  # deepfool.rs's NUDGE
F32_PROJECTION_NOISE = 100 * float(np.finfo(np.float32).eps)  # deepfool.rs's projection_noise(F32)
LETTERS = "ghi"

# ----------------------------------------------------------------------------- inputs


def lcg_uniform(seed, n):
    """speed.rs's lcg_uniform: a 64-bit LCG (Knuth's MMIX constants), the top
    53 bits of each state over 2^53, in [0, 1)."""
    a, c, mask = 6364136223846793005, 1442695040888963407, (1 << 64) - 1
    out = np.empty(n, dtype=np.float64)
    state = seed
    for k in range(n):
        state = (state * a + c) & mask
        out[k] = (state >> 11) / 9007199254740992.0
    return out


def uniform_images(n, seed):
    """speed.rs's uniform_images: [n, 3, 32, 32] float32."""
    return torch.from_numpy(lcg_uniform(seed, n * 3 * 32 * 32).astype(np.float32).reshape(n, 3, 32, 32))


def lime_images(n):
    """speed.rs's lime_images: x[k,c,i,j] = 0.5 + 0.4 sin(0.3(i+1)(c+1)) cos(0.2(j+1) + k)."""
    k, c, i, j = np.meshgrid(np.arange(n), np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    x = 0.5 + 0.4 * np.sin(0.3 * (i + 1.0) * (c + 1.0)) * np.cos(0.2 * (j + 1.0) + k)
    return torch.from_numpy(x.astype(np.float32))


def tsne_points(n):
    """speed.rs's tsne_points: point p at 4 e_{p % 10} plus, per coordinate,
    the sum of four LCG numbers minus 2, summed left to right as Rust does."""
    u = lcg_uniform(TSNE_POINTS_SEED, n * 10 * 4)
    x = np.empty(n * 10, dtype=np.float64)
    for q in range(n * 10):
        p, d = divmod(q, 10)
        centre = 4.0 if d == p % 10 else 0.0
        s = 0.0
        for v in u[4 * q:4 * q + 4]:
            s += float(v)
        x[q] = centre + s - 2.0
    return x.reshape(n, 10)


# ----------------------------------------------------------------------------- DCT bands


def dct_matrix(n):
    """crates/probes/src/dct.rs's dct_matrix: the orthonormal DCT-II, row k = frequency k."""
    k = np.arange(n, dtype=np.float64)[:, None]
    i = np.arange(n, dtype=np.float64)[None, :]
    scale = np.where(k == 0, math.sqrt(1.0 / n), math.sqrt(2.0 / n))
    return scale * np.cos(math.pi * (2 * i + 1) * k / (2.0 * n))


def block_basis(shape, rows, cols):
    """dct.rs's block_basis: [len(rows) len(cols) C, C H W] float32 (built in
    float64), one basis image per row, channel-major, then u, then v."""
    c, h, w = shape
    ch, cw = dct_matrix(h), dct_matrix(w)
    out = np.zeros((len(rows) * len(cols) * c, c * h * w), dtype=np.float32)
    r = 0
    for channel in range(c):
        for u in rows:
            for v in cols:
                out[r, channel * h * w:(channel + 1) * h * w] = np.outer(ch[u], cw[v]).ravel()
                r += 1
    return torch.from_numpy(out)


def band_basis(shape, index, size, step):
    """Band `index` of dct.rs's diagonal_bands(shape, size, step)."""
    start = index * step
    if start + size > min(shape[1], shape[2]):
        raise ValueError(f"band {index} of size {size}, step {step} does not fit {shape}")
    return block_basis(shape, range(start, start + size), range(start, start + size))


# ----------------------------------------------------------------------------- DeepFool


def deepfool_subspace(model, x, y, basis, steps=50, overshoot=0.02, candidates=None):
    """crates/attack/src/deepfool.rs's DeepFool::margins with a subspace, L2,
    per-candidate gradients: the same steps, in the same order, batched.

    Per step, for the images still standing: one forward pass at
    x + (1 + overshoot) r (NOT clipped: in a subspace the margin is a
    distance in input space), then one backward pass per candidate k (the m
    classes other than the label with the highest clean logits, all of them
    by default) of sum(f_k - f_y); each gradient projected by P = B^T B; a
    candidate whose projected gradient is at most 100 eps(f32) of its full
    gradient's norm is no direction (rounding noise); the nearest candidate
    by |f_k - f_y| / ||P g_k|| gives the step r += (dist + 1e-4) / ||P g_k||
    P g_k. An image leaves the batch once its prediction differs from y;
    after `steps` steps the rest are censored (margin None).

    Returns (margins: list of float or None, flipped: list of bool, steps taken).
    """
    n = x.shape[0]
    d = x[0].numel()
    bt = basis.t().contiguous()

    def project(g):
        return ((g.reshape(g.shape[0], d) @ bt) @ basis).reshape(g.shape)

    def norms(t):
        return t.double().flatten(1).norm(dim=1)

    with torch.no_grad():
        clean = model(x).double()
    classes = clean.shape[1]
    m = max(min(candidates or classes, classes) - 1, 0)
    # Rust: the classes but the label, stably sorted by clean logit, descending.
    masked = clean.clone()
    masked[torch.arange(n), y] = -math.inf
    others = torch.sort(masked, dim=1, descending=True, stable=True).indices[:, :m]

    flipped = torch.zeros(n, dtype=torch.bool)
    r_tot = torch.zeros_like(x)
    step = 0
    while True:
        idx = (~flipped).nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        x_a, r_a = x[idx], r_tot[idx]
        cur = x_a + r_a * (1.0 + overshoot)
        var = cur.detach().requires_grad_(True)
        logits = model(var)
        pred = logits.argmax(1)
        flipped[idx] = pred != y[idx]
        standing = ~flipped[idx]
        if step == steps or m == 0 or not bool(standing.any()):
            break
        step += 1
        f_label = logits.gather(1, y[idx][:, None])
        gaps, grads, floors = [], [], []
        for j in range(m):
            gap = (logits.gather(1, others[idx, j][:, None]) - f_label).squeeze(1)
            (g,) = torch.autograd.grad(gap.sum(), var, retain_graph=j < m - 1)
            gaps.append(gap.detach().double())
            floors.append(norms(g) * F32_PROJECTION_NOISE)
            grads.append(project(g))
        gaps, floors = torch.stack(gaps), torch.stack(floors)
        dual = torch.stack([norms(g) for g in grads])
        valid = (dual > floors) & torch.isfinite(dual)
        dist = torch.where(valid, gaps.abs() / dual, torch.full_like(dual, math.inf))
        nearest = dist.argmin(0)  # the first of equal minima, as Rust's min_by
        best = dist.gather(0, nearest[None]).squeeze(0)
        steps_now = standing & valid.gather(0, nearest[None]).squeeze(0)
        coef = torch.where(
            steps_now, (best + NUDGE) / dual.gather(0, nearest[None]).squeeze(0), torch.zeros_like(best)
        )
        r_new = r_a
        for j, g in enumerate(grads):
            cj = torch.where(nearest == j, coef, torch.zeros_like(coef))
            if bool((cj != 0).any()):
                r_new = r_new + g * cj.to(g.dtype).view(-1, *([1] * (g.dim() - 1)))
        r_tot[idx] = r_new
    cur = x + r_tot * (1.0 + overshoot)
    lengths = norms(cur - x)
    margins = [float(np.float32(v)) if f else None for v, f in zip(lengths.tolist(), flipped.tolist())]
    return margins, flipped.tolist(), step


def median_or_none(values):
    values = sorted(values)
    if not values:
        return None
    k = len(values)
    return values[k // 2] if k % 2 else 0.5 * (values[k // 2 - 1] + values[k // 2])


# ----------------------------------------------------------------------------- semcon's weights


def read_safetensors(path):
    """The tensors of a safetensors file (little-endian floats), without the
    safetensors package: 8-byte header length, JSON header, raw data."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + length])
    except (OSError, struct.error, ValueError) as e:
        raise SystemExit(f"error: --weights {path}: not a safetensors file ({e})")
    base = 8 + length
    dtypes = {"F32": "<f4", "F64": "<f8", "F16": "<f2"}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] not in dtypes:
            raise SystemExit(f"error: --weights {path}: {name} is {meta['dtype']}, expected F32, F64 or F16")
        start, end = meta["data_offsets"]
        a = np.frombuffer(data[base + start:base + end], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"])
        out[name] = torch.from_numpy(a.astype(np.float32))
    return out


def anchor_name(name, tag):
    """semcon's parameter name (torchvision style) as the anchor's module names it."""
    if tag == "resnet18":
        mt = re.fullmatch(r"layer(\d)\.(\d)\.(.*)", name)
        if mt:
            stage, block, rest = int(mt.group(1)), int(mt.group(2)), mt.group(3)
            rest = rest.replace("downsample.", "shortcut.")
            return f"layers.{2 * (stage - 1) + block}.{rest}"
        return name
    mt = re.fullmatch(r"(conv|bn)(\d)\.(.*)", name)
    if mt:
        n = int(mt.group(2))
        return f"features.{4 * (n - 1) + (0 if mt.group(1) == 'conv' else 1)}.{mt.group(3)}"
    return name


def load_semcon_weights(model, path, tag):
    state = {anchor_name(k, tag): v for k, v in read_safetensors(path).items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1].strip()
        raise SystemExit(f"error: --weights {path}: not a {tag} of {CLASSES} classes ({first})")
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(
            f"error: --weights {path}: not a {tag} of {CLASSES} classes "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


# ----------------------------------------------------------------------------- workloads


def make_model(anchor, tag, weights=None):
    torch.manual_seed(2)
    model = {"small": anchor.SmallCNN, "resnet18": anchor.ResNet18Cifar}[tag](num_classes=CLASSES)
    if weights:
        load_semcon_weights(model, weights, tag)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def with_images(record, n):
    record["images"] = n
    record["images_per_s"] = n / record["median_s"]
    return record


def run_g(anchor, bench, tag, args, results):
    model = make_model(anchor, tag, args.weights)
    n = args.margin_images
    x = uniform_images(n, MARGIN_IMAGES_SEED)
    with torch.no_grad():
        y = model(x).argmax(1)
    basis = band_basis((3, 32, 32), 0, 8, 8)
    found = {}

    def run():
        found["margins"], found["flipped"], found["steps"] = deepfool_subspace(model, x, y, basis)

    r = bench(f"{tag} g. DeepFool margins, DCT band 0 of 8x8 (B={n}, 10 classes)", run, args.reps, warmup=1)
    flipped = [v for v in found["margins"] if v is not None]
    r["margins"] = found["margins"]
    r["flipped"] = len(flipped)
    r["median_margin_flipped"] = median_or_none(flipped)
    r["steps"] = found["steps"]
    r["weights"] = args.weights or "PyTorch's init (torch.manual_seed(2))"
    results[f"{tag}.g_margin_dct8"] = with_images(r, n)


def run_h(anchor, bench, tag, args, results):
    from lime.lime_image import LimeImageExplainer
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    model = make_model(anchor, tag)
    n, samples = args.lime_images, args.lime_samples
    x = lime_images(n)
    with torch.no_grad():
        targets = model(x).argmax(1).tolist()
    images = [x[k].permute(1, 2, 0).contiguous().numpy() for k in range(n)]  # HWC, float32

    def classifier_fn(batch):
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).permute(0, 3, 1, 2)
            return torch.softmax(model(t.contiguous()).double(), dim=1).numpy()

    # semcon's Slic: 16 segments, compactness 10, 10 iterations, no smoothing,
    # CIELAB, fragments under half a segment merged; start_label=0 because
    # lime indexes superpixels from 0 (scikit-image's default is 1).
    segmenter = SegmentationAlgorithm(
        "slic", n_segments=16, compactness=10.0, max_num_iter=10, sigma=0, start_label=0
    )

    def run():
        explainer = LimeImageExplainer(kernel_width=0.25, feature_selection="none", random_state=LIME_SEED)
        for image, target in zip(images, targets):
            explainer.explain_instance(
                image, classifier_fn, labels=(target,), hide_color=None, top_labels=None,
                num_samples=samples, batch_size=256, segmentation_fn=segmenter, random_seed=LIME_SEED,
            )

    r = bench(f"{tag} h. LIME, {samples} samples (B={n}, 10 classes)", run, args.reps, warmup=1)
    results[f"{tag}.h_lime{samples}"] = with_images(r, n)


def run_i(bench, args, results):
    from sklearn.manifold import TSNE

    n = args.tsne_points
    x = tsne_points(n)
    iterations = {}
    for method, key in [("exact", f"i.tsne{n}"), ("barnes_hut", f"i.tsne{n}_bh")]:
        def run():
            t = TSNE(
                n_components=2, perplexity=30.0, early_exaggeration=12.0, learning_rate="auto",
                max_iter=1000, n_iter_without_progress=1000, min_grad_norm=0.0,
                init="random", method=method, angle=0.5, random_state=0,
            )
            t.fit_transform(x)
            iterations[method] = t.n_iter_

        r = bench(f"i. t-SNE {method} ({n} x 10, scikit-learn)", run, args.reps, warmup=0)
        r["points"] = n
        r["iterations"] = int(iterations[method]) + 1  # n_iter_ is the last iteration's index
        results[key] = r


# ----------------------------------------------------------------------------- checks


def compare(results, path):
    """Margins image by image against semcon's record of the same key:
    the same images flip, and flipped margins agree to 1e-3 relative."""
    with open(path) as f:
        theirs = json.load(f)["results"]
    bad = []
    for key, r in results.items():
        if ".g_margin" not in key:
            continue
        if key not in theirs or "margins" not in theirs[key]:
            raise SystemExit(f"error: --compare {path}: no margins for {key}")
        ours, semcon = r["margins"], theirs[key]["margins"]
        if len(ours) != len(semcon):
            raise SystemExit(f"error: --compare {path}: {len(semcon)} images, we ran {len(ours)}")
        worst = 0.0
        for i, (a, b) in enumerate(zip(ours, semcon)):
            if (a is None) != (b is None):
                bad.append(f"{key} image {i}: PyTorch {a}, semcon {b}")
            elif a is not None:
                rel = abs(a - b) / max(abs(b), 1e-12)
                worst = max(worst, rel)
                if rel > 1e-3:
                    bad.append(f"{key} image {i}: PyTorch {a:.6g}, semcon {b:.6g} ({rel:.2e} relative)")
        r["max_rel_diff_vs_semcon"] = worst
        print(f"{key}: {len(ours)} margins against semcon's, largest relative difference {worst:.2e}; "
              f"medians (flipped) PyTorch {r['median_margin_flipped']}, "
              f"semcon {theirs[key].get('median_margin_flipped')}")
    if bad:
        raise SystemExit("error: margins differ from semcon's:\n  " + "\n  ".join(bad))


def self_test():
    """Inputs equal to speed.rs's, the DCT basis, and DeepFool's margins on
    linear models, where the first step is exact: the margin is
    (1 + overshoot)(min_k |f_y - f_k| / ||P (w_y - w_k)|| + 1e-4)."""
    assert lcg_uniform(1, 3).tolist() == [0.42320917087271326, 0.5094074428837206, 0.6483593939634306]
    assert tsne_points(1)[0, :2].tolist() == [3.5186243116931317, -0.01320927718277698]

    shape = (3, 8, 8)
    b = band_basis(shape, 0, 4, 4).double()
    assert b.shape == (48, 192)
    assert (b @ b.t() - torch.eye(48, dtype=torch.float64)).abs().max() < 1e-6
    # Row 5: channel 0, (u, v) = (1, 1); pixel (2, 3) of that channel.
    # s_1 = sqrt(2/8) on each axis.
    want = 0.25 * math.cos(5 * math.pi / 16) * math.cos(7 * math.pi / 16)
    assert abs(float(b[5, 2 * 8 + 3]) - want) < 1e-7

    torch.manual_seed(0)
    d, classes, overshoot = 192, 10, 0.02
    basis = band_basis(shape, 0, 4, 4)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(d, classes))
    for p in lin.parameters():
        p.requires_grad_(False)
    x = torch.rand(6, *shape)
    y = lin(x).argmax(1)
    margins, flipped, steps = deepfool_subspace(lin, x, y, basis, overshoot=overshoot)
    w, bias = lin[1].weight.double(), lin[1].bias.double()
    pd = basis.double().t() @ basis.double()
    f = x.double().flatten(1) @ w.t() + bias
    for i in range(x.shape[0]):
        yi = int(y[i])
        dist = min(
            abs(float(f[i, yi] - f[i, k])) / float(((w[yi] - w[k]) @ pd).norm())
            for k in range(classes) if k != yi
        )
        expect = (1 + overshoot) * (dist + NUDGE)
        assert flipped[i] and abs(margins[i] - expect) <= 1e-4 * expect, (i, margins[i], expect)
    assert steps == 1, steps

    # Weight differences orthogonal to the band: no direction, censored.
    blind = nn.Sequential(nn.Flatten(), nn.Linear(d, classes))
    for p in blind.parameters():
        p.requires_grad_(False)
    wb = blind[1].weight
    wb -= (wb @ basis.t()) @ basis
    margins, flipped, _ = deepfool_subspace(blind, x, blind(x).argmax(1), basis, steps=3)
    assert margins == [None] * 6 and not any(flipped), margins
    print("self-test passed: inputs, DCT basis, closed-form linear margins, censoring")


# ----------------------------------------------------------------------------- main


def positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected at least 1")
    return v


def main():
    p = anchor_rss.OneLineParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=positive, default=2)
    p.add_argument("--reps", type=positive, default=5)
    p.add_argument("--only", default=LETTERS, help="letters of ghi")
    p.add_argument("--models", default="small,resnet18", help="g and h run per model: small, resnet18")
    p.add_argument("--json", default=None, help="write the results here (atomically)")
    p.add_argument("--anchor", default=DEFAULT_ANCHOR, help="the PyTorch anchor, for its models and bench()")
    p.add_argument("--weights", default=None, help="g's model from `sc-bench speed --margin-weights`")
    p.add_argument("--compare", default=None, help="semcon's speed JSON: check g's margins against it")
    p.add_argument("--self-test", action="store_true", help="check the inputs and DeepFool, then exit")
    p.add_argument("--margin-images", type=positive, default=32, help=argparse.SUPPRESS)
    p.add_argument("--lime-images", type=positive, default=8, help=argparse.SUPPRESS)
    p.add_argument("--lime-samples", type=positive, default=1000, help=argparse.SUPPRESS)
    p.add_argument("--tsne-points", type=positive, default=1000, help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.only or any(ch not in LETTERS for ch in args.only):
        p.error(f"--only {args.only!r}: expected letters of {LETTERS}")
    tags = [t for t in args.models.split(",") if t]
    if not tags or any(t not in ("small", "resnet18") for t in tags):
        p.error(f"--models {args.models!r}: expected small and/or resnet18")
    if args.tsne_points < 32:
        p.error(f"--tsne-points {args.tsne_points}: perplexity 30 needs at least 32 points")
    if args.weights and len(tags) != 1:
        p.error("--weights: give one model in --models")

    torch.set_num_threads(args.threads)
    if args.self_test:
        self_test()
        return
    anchor = anchor_rss.load_anchor(args.anchor)
    bench = anchor.bench  # wrapped by anchor_rss: records carry peak_rss_mib

    from importlib import metadata
    from threadpoolctl import threadpool_limits

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    info = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit-learn": version("scikit-learn"),
        "lime": version("lime"),
        "scikit-image": version("scikit-image"),
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "argv": sys.argv,
    }
    print(json.dumps(info, indent=1), flush=True)
    results = {}
    # scikit-learn's and numpy's native thread pools get --threads too.
    with threadpool_limits(limits=args.threads):
        if "i" in args.only:
            run_i(bench, args, results)
        for tag in tags:
            if "g" in args.only:
                run_g(anchor, bench, tag, args, results)
            if "h" in args.only:
                run_h(anchor, bench, tag, args, results)
    if args.compare:
        compare(results, args.compare)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
