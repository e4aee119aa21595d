//! `sc-bench speed`: throughput of the project's workloads, keyed and
//! measured as `../shared/bench/torch_anchor.py` measures PyTorch's, so the
//! two JSON files pair row by row (`cargo xtask bench` prints them side by
//! side). Every workload runs the library code users run: `sc_train`'s
//! regime loss and Adam, `sc_attack::Pgd`, `sc_interpret::IntegratedGradients`,
//! `sc_models::conv`, `sc_attack::DeepFool` in a DCT band of `sc_probes::dct`,
//! `sc_interpret::Lime`, `sc_probes::embedding::tsne`. The last three have
//! no anchor workload: `bench/peers.py` runs their peers (a batched PyTorch
//! DeepFool, the `lime` package, scikit-learn's t-SNE) on the same inputs,
//! which the generators below define by formula so that both sides can
//! build them bit for bit.
//!
//! Every record also carries `peak_rss_mib`, the peak resident memory of
//! the process over the workload (warm-up included), measured as
//! `bench/anchor_rss.py` measures PyTorch's; `cargo xtask bench` runs each
//! workload in a process of its own so that one workload's memory does not
//! count against the next.

use crate::Out;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, D};
use clap::Args;
use sc_attack::{Attack, DeepFool, DeepFoolConfig, Norm, Pgd};
use sc_core::{Classifier, Seed};
use sc_interpret::{Attribution, IntegratedGradients, Lime};
use sc_loss::{ContinuityLoss, ContinuityTerm};
use sc_models::{conv, Arch, Model};
use sc_probes::dct::diagonal_bands;
use sc_probes::embedding::{tsne, TsneOptions};
use sc_train::{regime_loss, Hyper, Optimizer, OptimizerKind, Regime};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct SpeedArgs {
    /// Models to time, comma-separated: small-cnn, resnet18.
    #[arg(long, value_delimiter = ',', default_value = "small-cnn,resnet18")]
    models: Vec<Arch>,
    /// Workloads, as letters: a train step, b continuity step, c PGD-10,
    /// d IG-32, f GEMM and conv ceilings, g DeepFool margins in the lowest
    /// 8x8 DCT band (32 images, 10 classes), h LIME with 1000 samples
    /// (8 images, 10 classes), i exact t-SNE of 1000 points (g, h and i
    /// only when asked: `cargo xtask bench` asks for them).
    #[arg(long, default_value = "abcdf")]
    only: String,
    /// Batch size of a, b, c (IG uses 16 images, as the PyTorch anchor).
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Timed repetitions per workload (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Interpolated images per IG forward pass.
    #[arg(long, default_value_t = 128)]
    ig_chunk: usize,
    /// Number of classes of the models (the anchor uses CIFAR-100's).
    #[arg(long, default_value_t = 100)]
    classes: usize,
    /// Images of g (tests shrink it; the peers run 32).
    #[arg(long, default_value_t = 32, hide = true)]
    margin_images: usize,
    /// Writes g's model to this safetensors file, so that `bench/peers.py
    /// --weights` can run the PyTorch DeepFool on the same weights and
    /// `--compare` check the margins image by image.
    #[arg(long, hide = true)]
    margin_weights: Option<PathBuf>,
    /// Images of h.
    #[arg(long, default_value_t = 8, hide = true)]
    lime_images: usize,
    /// LIME samples per image of h (in its key: `h_lime1000`).
    #[arg(long, default_value_t = 1000, hide = true)]
    lime_samples: usize,
    /// Points of i (in its key: `i.tsne1000`).
    #[arg(long, default_value_t = 1000, hide = true)]
    tsne_points: usize,
    /// Write the results here (JSON, atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the results as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: crate::args::DeviceArgs,
}

/// One timed workload, in the anchor's format.
#[derive(Serialize)]
struct Timing {
    name: String,
    reps: usize,
    median_s: f64,
    min_s: f64,
    max_s: f64,
    times_s: Vec<f64>,
    loadavg_start: f64,
    loadavg_end: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    images: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    images_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gflops: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gflops_best: Option<f64>,
    /// Peak resident memory over the workload, warm-up included; `None`
    /// (null) without Linux's `/proc`.
    peak_rss_mib: Option<f64>,
    /// Workload-specific facts (g's margins, i's points), in the record so
    /// that the peers' can be checked against them.
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Resets the kernel's peak-RSS mark (`VmHWM`) to the current RSS: writing
/// 5 to `clear_refs` (Linux 4.0+). A failure leaves the mark at the
/// process's lifetime peak, which is still an upper bound.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` of a `/proc/<pid>/status` text, in MiB.
fn parse_vmhwm(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value / 1024.0),
        _ => None,
    }
}

/// The peak RSS since the last [`reset_peak_rss`], in MiB.
fn peak_rss_mib() -> Option<f64> {
    parse_vmhwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// `warmup` untimed runs, then `reps` timed ones; each ends when `dev` has
/// finished the work (a GPU queues it and returns at once). The peak RSS
/// covers both (host memory only).
fn time(
    out: &Out,
    dev: &Device,
    name: &str,
    reps: usize,
    warmup: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Timing> {
    let load0 = loadavg();
    reset_peak_rss();
    for _ in 0..warmup {
        f().with_context(|| format!("{name} (warm-up)"))?;
    }
    dev.synchronize()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f().with_context(|| name.to_string())?;
        dev.synchronize()?;
        times.push(t.elapsed().as_secs_f64());
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if reps % 2 == 1 {
        sorted[reps / 2]
    } else {
        0.5 * (sorted[reps / 2 - 1] + sorted[reps / 2])
    };
    let t = Timing {
        name: name.to_string(),
        reps,
        median_s: median,
        min_s: sorted[0],
        max_s: sorted[reps - 1],
        times_s: times,
        loadavg_start: load0,
        loadavg_end: loadavg(),
        images: None,
        images_per_s: None,
        gflops: None,
        gflops_best: None,
        peak_rss_mib: peak_rss_mib(),
        extra: serde_json::Map::new(),
    };
    out.say(format!(
        "  {name}: median {:9.1} ms  min {:9.1} ms  max {:9.1} ms  (n={reps}, load {:.2}->{:.2}, peak RSS {})",
        t.median_s * 1e3,
        t.min_s * 1e3,
        t.max_s * 1e3,
        t.loadavg_start,
        t.loadavg_end,
        t.peak_rss_mib.map_or("?".to_string(), |m| format!("{m:.0} MiB"))
    ));
    Ok(t)
}

fn with_images(mut t: Timing, images: usize) -> Timing {
    t.images = Some(images);
    t.images_per_s = Some(images as f64 / t.median_s);
    t
}

fn with_flops(mut t: Timing, flops: f64) -> Timing {
    t.gflops = Some(flops / t.median_s / 1e9);
    t.gflops_best = Some(flops / t.min_s / 1e9);
    t
}

/// The anchor's key for a model.
fn key(arch: Arch) -> Result<&'static str> {
    match arch {
        Arch::SmallCnn => Ok("small"),
        Arch::ResNet18 => Ok("resnet18"),
        other => bail!("--models: {other} has no PyTorch anchor workload (small-cnn, resnet18)"),
    }
}

/// The largest `--batch`: eight times the anchor's 128, and about what a
/// ResNet18 training step's activations leave of this machine's memory.
const MAX_BATCH: usize = 1024;

/// The most `--reps`: a thousand repetitions already give the median to
/// well below the machine's noise.
const MAX_REPS: usize = 1000;

/// The workload letters `--only` takes.
const LETTERS: &str = "abcdfghi";

/// The most `--lime-samples`: a hundred times `lime`'s default already
/// takes minutes per image.
const MAX_LIME_SAMPLES: usize = 100_000;

/// The fewest `--tsne-points`: the default perplexity, 30, must stay below
/// `n - 1`.
const MIN_TSNE_POINTS: usize = 32;

/// The most `--tsne-points`: exact t-SNE keeps three `n x n` f64 matrices
/// (2.4 GB at 10,000 points).
const MAX_TSNE_POINTS: usize = 10_000;

/// Classes of the models of g and h: DeepFool takes one backward pass per
/// candidate class, LIME regresses one class, so the peers' 10 keep the
/// workloads about their method rather than the head's size.
const PEER_CLASSES: usize = 10;

/// Rejects arguments that cannot be honoured before any work starts.
fn check(args: &SpeedArgs) -> Result<()> {
    if !(1..=MAX_REPS).contains(&args.reps) {
        bail!("--reps {}: expected 1 to {MAX_REPS}", args.reps);
    }
    if !(2..=MAX_BATCH).contains(&args.batch) {
        bail!(
            "--batch {}: expected 2 to {MAX_BATCH} (training needs batch statistics)",
            args.batch
        );
    }
    if args.classes < 2 {
        bail!("--classes {}: a classifier needs at least 2", args.classes);
    }
    if args.ig_chunk == 0 {
        bail!("--ig-chunk 0: expected at least 1 interpolated image per pass");
    }
    if args.only.is_empty() {
        bail!("--only is empty: expected letters of {LETTERS}");
    }
    if let Some(bad) = args.only.chars().find(|c| !LETTERS.contains(*c)) {
        bail!("--only: unknown workload {bad:?}: expected letters of {LETTERS}");
    }
    for (flag, value, max) in [
        ("--margin-images", args.margin_images, MAX_BATCH),
        ("--lime-images", args.lime_images, MAX_BATCH),
        ("--lime-samples", args.lime_samples, MAX_LIME_SAMPLES),
    ] {
        if !(1..=max).contains(&value) {
            bail!("{flag} {value}: expected 1 to {max}");
        }
    }
    if !(MIN_TSNE_POINTS..=MAX_TSNE_POINTS).contains(&args.tsne_points) {
        bail!(
            "--tsne-points {}: expected {MIN_TSNE_POINTS} to {MAX_TSNE_POINTS} (perplexity 30 needs more than 31 points; exact t-SNE holds n^2 affinities)",
            args.tsne_points
        );
    }
    for a in &args.models {
        key(*a)?;
    }
    if args.margin_weights.is_some() && args.models.len() != 1 {
        bail!("--margin-weights: give one model in --models (each would overwrite the file)");
    }
    Ok(())
}

pub fn run(args: SpeedArgs) -> Result<()> {
    let out = Out::new(args.json);
    check(&args)?;
    let archs = args.models.clone();
    let dev = args.device.open()?;
    let mut results = BTreeMap::new();
    let started = Instant::now();
    if args.only.contains('f') {
        ceilings(&out, &args, &dev, &mut results)?;
    }
    if args.only.contains('i') {
        tsne_workload(&out, &args, &dev, &mut results)?;
    }
    for arch in archs {
        model_suite(&out, &args, arch, &dev, &mut results)?;
    }
    let info = serde_json::json!({
        "semcon": env!("CARGO_PKG_VERSION"),
        "device": args.device.device.to_string(),
        "threads": candle_core::utils::get_num_threads(),
        "avx512": cfg!(target_feature = "avx512f") || std::arch::is_x86_feature_detected!("avx512f"),
        "argv": std::env::args().collect::<Vec<_>>(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    let report = serde_json::json!({ "info": info, "results": results });
    if let Some(path) = &args.out {
        sc_core::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        out.say(format!("wrote {}", path.display()));
    }
    out.json(&report)
}

fn model_suite(
    out: &Out,
    args: &SpeedArgs,
    arch: Arch,
    dev: &Device,
    results: &mut BTreeMap<String, Timing>,
) -> Result<()> {
    let tag = key(arch)?;
    let b = args.batch;
    let seed = Seed(1);
    let x = Tensor::rand(0f32, 1f32, (b, 3, 32, 32), dev)?;
    let y = Tensor::from_vec(
        (0..b as u32)
            .map(|i| (i * 37) % args.classes as u32)
            .collect(),
        b,
        dev,
    )?;
    // The anchor's perturbed batch: x + 8/255 * N(0, 1), clamped.
    let xp = (&x + Tensor::randn(0f32, 8.0 / 255.0, x.dims(), dev)?)?.clamp(0f32, 1f32)?;
    let model_with = |classes: usize| {
        Model::new(
            arch,
            classes,
            [3, 32, 32],
            None,
            seed.derive("init"),
            DType::F32,
            dev,
        )
    };
    let model = || model_with(args.classes);
    let letters = &args.only;
    if letters.contains('a') || letters.contains('b') {
        for (letter, regime, label, suffix) in [
            ('a', Regime::Base, "train step", "a_train"),
            (
                'b',
                Regime::C,
                "semantic-continuity step (fwd 2B)",
                "b_sc_train",
            ),
        ] {
            if !letters.contains(letter) {
                continue;
            }
            let m = model()?;
            let mut opt = Optimizer::new(OptimizerKind::Adam, m.trainable_vars(), Hyper::default());
            let loss_fn = ContinuityLoss::new(1.0, ContinuityTerm::Ds)?;
            let pert = (regime == Regime::C).then_some(&xp);
            let t = time(
                out,
                dev,
                &format!("{tag} {letter}. {label} (B={b})"),
                args.reps,
                2,
                || {
                    let loss = regime_loss(&m, regime, &loss_fn, &x, &y, pert)?;
                    let grads = loss.total.backward()?;
                    opt.step(&grads, 1e-3, 1.0)?;
                    Ok(())
                },
            )?;
            results.insert(format!("{tag}.{suffix}"), with_images(t, b));
        }
    }
    if letters.contains('c') {
        let m = model()?;
        let pgd = Pgd::paper_cifar();
        let mut rng = seed.stream("pgd");
        let t = time(
            out,
            dev,
            &format!("{tag} c. PGD-10 Linf (B={b})"),
            args.reps,
            1,
            || {
                pgd.perturb(&m, &x, &y, &mut rng)?;
                Ok(())
            },
        )?;
        results.insert(format!("{tag}.c_pgd10"), with_images(t, b));
    }
    if letters.contains('d') {
        let m = model()?;
        let bi = 16.min(b);
        let (xi, yi) = (x.narrow(0, 0, bi)?, y.narrow(0, 0, bi)?);
        let ig = IntegratedGradients::new(32)?.with_chunk(args.ig_chunk)?;
        let t = time(
            out,
            dev,
            &format!("{tag} d. IG-32 (B={bi}, chunk {})", args.ig_chunk),
            args.reps,
            1,
            || {
                ig.attribute(&m, &xi, &yi)?;
                Ok(())
            },
        )?;
        results.insert(format!("{tag}.d_ig32"), with_images(t, bi));
    }
    if letters.contains('g') {
        let m = model_with(PEER_CLASSES)?;
        if let Some(path) = &args.margin_weights {
            m.save(path)
                .with_context(|| format!("--margin-weights {}", path.display()))?;
        }
        let n = args.margin_images;
        let x = uniform_images(n, MARGIN_IMAGES_SEED, dev)?;
        // Each image's distance to its own decision boundary.
        let y = m.logits(&x)?.argmax(D::Minus1)?;
        let shape = [3, 32, 32];
        // Band 0 of the disjoint 8x8 diagonal bands: vertical and horizontal
        // frequencies 0..8 on every channel, 192 dimensions.
        let band = diagonal_bands(shape, 8, 8)?[0];
        let attack = DeepFool::new(DeepFoolConfig {
            subspace: Some(band.basis(shape, dev)?),
            ..DeepFoolConfig::new(Norm::L2)
        })?;
        let mut found = None;
        let mut t = time(
            out,
            dev,
            &format!("{tag} g. DeepFool margins, DCT band 0 of 8x8 (B={n}, 10 classes)"),
            args.reps,
            1,
            || {
                found = Some(attack.margins(&m, &x, &y)?);
                Ok(())
            },
        )?;
        let found = found.context("g ran no repetition")?;
        let mut flipped = found.flipped_margins();
        flipped.sort_by(f32::total_cmp);
        t.extra
            .insert("margins".into(), serde_json::json!(found.margins));
        t.extra.insert("flipped".into(), flipped.len().into());
        t.extra.insert(
            "median_margin_flipped".into(),
            serde_json::json!(median_of(&flipped)),
        );
        results.insert(format!("{tag}.g_margin_dct8"), with_images(t, n));
    }
    if letters.contains('h') {
        let m = model_with(PEER_CLASSES)?;
        let n = args.lime_images;
        let x = lime_images(n, dev)?;
        let target = m.logits(&x)?.argmax(D::Minus1)?;
        let lime = Lime::new(args.lime_samples, Seed(7))?;
        let t = time(
            out,
            dev,
            &format!(
                "{tag} h. LIME, {} samples (B={n}, 10 classes)",
                args.lime_samples
            ),
            args.reps,
            1,
            || {
                lime.attribute(&m, &x, &target)?;
                Ok(())
            },
        )?;
        results.insert(
            format!("{tag}.h_lime{}", args.lime_samples),
            with_images(t, n),
        );
    }
    Ok(())
}

/// The median of sorted values (`None` when there are none).
fn median_of(sorted: &[f32]) -> Option<f32> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(0.5 * (sorted[n / 2 - 1] + sorted[n / 2])),
    }
}

/// The seed of g's images (`bench/peers.py` uses the same).
const MARGIN_IMAGES_SEED: u64 = 1;

/// The seed of i's points (`bench/peers.py` uses the same).
const TSNE_POINTS_SEED: u64 = 3;

/// `n` numbers in `[0, 1)` from a 64-bit LCG (Knuth's MMIX constants), the
/// top 53 bits of each state: integer arithmetic, so `bench/peers.py`
/// draws exactly the same numbers in Python.
fn lcg_uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// `n` images `[n, 3, 32, 32]` of independent uniform pixels ([`lcg_uniform`]).
fn uniform_images(n: usize, seed: u64, dev: &Device) -> Result<Tensor> {
    let v: Vec<f32> = lcg_uniform(seed, n * 3 * 32 * 32)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    Ok(Tensor::from_vec(v, (n, 3, 32, 32), dev)?)
}

/// h's images: smooth patterns (so that SLIC's superpixels are regions,
/// not noise), `x[k, c, i, j] = 0.5 + 0.4 sin(0.3 (i+1)(c+1)) cos(0.2 (j+1) + k)`
/// for image `k`, channel `c`, row `i`, column `j` (as `bench/peers.py`).
fn lime_images(n: usize, dev: &Device) -> Result<Tensor> {
    let mut v = Vec::with_capacity(n * 3 * 32 * 32);
    for k in 0..n {
        for c in 0..3 {
            for i in 0..32 {
                for j in 0..32 {
                    let (c, i, j, k) = (c as f64, i as f64, j as f64, k as f64);
                    let x = 0.5
                        + 0.4 * (0.3 * (i + 1.0) * (c + 1.0)).sin() * (0.2 * (j + 1.0) + k).cos();
                    v.push(x as f32);
                }
            }
        }
    }
    Ok(Tensor::from_vec(v, (n, 3, 32, 32), dev)?)
}

/// i's points: `n` 10-d "logit vectors" in 10 clusters, point `p` in
/// cluster `p % 10` at `4 e_{p % 10}` plus, per coordinate, the sum of four
/// [`lcg_uniform`] numbers minus 2 (Irwin-Hall: near-Gaussian, variance
/// 1/3, and exact in any language).
fn tsne_points(n: usize) -> Vec<f64> {
    let u = lcg_uniform(TSNE_POINTS_SEED, n * 10 * 4);
    (0..n * 10)
        .map(|q| {
            let (p, d) = (q / 10, q % 10);
            let centre = if d == p % 10 { 4.0 } else { 0.0 };
            centre + u[4 * q..4 * q + 4].iter().sum::<f64>() - 2.0
        })
        .collect()
}

/// i: `sc_probes`' exact t-SNE with its defaults (perplexity 30, 1000
/// steps, exaggeration 12 for 250, learning rate `max(n / 48, 50)`), in
/// seconds; no warm-up (it holds no lazily built state, and one run
/// takes seconds).
fn tsne_workload(
    out: &Out,
    args: &SpeedArgs,
    dev: &Device,
    results: &mut BTreeMap<String, Timing>,
) -> Result<()> {
    let n = args.tsne_points;
    let x = tsne_points(n);
    let opts = TsneOptions::default();
    let mut t = time(
        out,
        dev,
        &format!("i. t-SNE exact ({n} x 10)"),
        args.reps,
        0,
        || {
            tsne(&x, 10, &opts)?;
            Ok(())
        },
    )?;
    t.extra.insert("points".into(), n.into());
    results.insert(format!("i.tsne{n}"), t);
    Ok(())
}

/// GEMM 2048^3 (candle's matmul) and the models' conv forward, input
/// gradient and weight gradient on ResNet18's 3x3 shapes, in GFLOP/s: our
/// CPU kernels on the CPU, candle's (the ops of its conv2d backward) on a GPU.
fn ceilings(
    out: &Out,
    args: &SpeedArgs,
    dev: &Device,
    results: &mut BTreeMap<String, Timing>,
) -> Result<()> {
    let reps = args.reps.max(10);
    let n = 2048;
    let a = Tensor::randn(0f32, 1.0, (n, n), dev)?;
    let c = Tensor::randn(0f32, 1.0, (n, n), dev)?;
    let t = time(out, dev, "f. matmul 2048^3", reps, 3, || {
        a.matmul(&c)?;
        Ok(())
    })?;
    results.insert(
        "f.matmul2048".into(),
        with_flops(t, 2.0 * (n as f64).powi(3)),
    );
    let b = args.batch;
    for (label, cin, cout, hw) in [
        ("conv 64->64 3x3 @32x32", 64, 64, 32),
        ("conv 128->128 3x3 @16x16", 128, 128, 16),
        ("conv 256->256 3x3 @8x8", 256, 256, 8),
    ] {
        let x = Tensor::rand(0f32, 1f32, (b, cin, hw, hw), dev)?;
        let w = (Tensor::randn(0f32, 1.0, (cout, cin, 3, 3), dev)? * 0.05)?;
        let flops = 2.0 * (b * cout * hw * hw * cin * 9) as f64;
        let cpu = conv::cpu_kernels_apply(dev.location(), DType::F32);
        let t = time(
            out,
            dev,
            &format!("f. {label} fwd (B={b})"),
            reps,
            3,
            || {
                if cpu {
                    conv::conv2d(&x, &w, None, 1, 1)?;
                } else {
                    x.conv2d(&w, 1, 1, 1, 1)?;
                }
                Ok(())
            },
        )?;
        results.insert(format!("f.{label}"), with_flops(t, flops));
        let dout = Tensor::randn(0f32, 1.0, (b, cout, hw, hw), dev)?;
        let t = time(
            out,
            dev,
            &format!("f. {label} input grad (B={b})"),
            reps,
            3,
            || {
                if cpu {
                    conv::conv2d_input_grad(&dout, &w, x.dims4()?, 1, 1)?;
                } else {
                    // candle's conv2d backward for the input.
                    dout.conv_transpose2d(&w, 1, 0, 1, 1)?;
                }
                Ok(())
            },
        )?;
        results.insert(format!("f.{label} input-grad"), with_flops(t, flops));
        let t = time(
            out,
            dev,
            &format!("f. {label} weight grad (B={b})"),
            reps,
            3,
            || {
                if cpu {
                    conv::conv2d_weight_grad(&x, &dout, (3, 3), 1, 1)?;
                } else {
                    // candle's conv2d backward for the kernel.
                    x.transpose(0, 1)?
                        .conv2d(&dout.transpose(0, 1)?, 1, 1, 1, 1)?
                        .transpose(0, 1)?;
                }
                Ok(())
            },
        )?;
        results.insert(format!("f.{label} weight-grad"), with_flops(t, flops));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmhwm_is_read_in_mib() {
        let status = "Name:\tsc-bench\nVmPeak:\t 2048 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_vmhwm(status), Some(5.0));
        assert_eq!(parse_vmhwm("VmRSS:\t 1024 kB\n"), None);
        assert_eq!(parse_vmhwm("VmHWM:\t 1024 MB\n"), None, "unknown unit");
        assert_eq!(parse_vmhwm("VmHWM:\t lots kB\n"), None);
        // This process: the mark after a reset is at least what is resident now.
        reset_peak_rss();
        let _held = vec![1u8; 64 << 20];
        if let Some(peak) = peak_rss_mib() {
            assert!(peak > 1.0, "{peak}");
        }
    }

    /// The generators `bench/peers.py` reproduces: their first values
    /// written out (its `--self-test` asserts the same numbers).
    #[test]
    fn the_shared_inputs_are_fixed_numbers() {
        assert_eq!(
            lcg_uniform(1, 3),
            [0.42320917087271326, 0.5094074428837206, 0.6483593939634306]
        );
        assert_eq!(
            tsne_points(1)[..2],
            [3.5186243116931317, -0.01320927718277698]
        );
        let p = tsne_points(20);
        assert_eq!(p.len(), 200);
        // Point 3 sits in cluster 3: its 4th coordinate is the largest.
        let row = &p[30..40];
        let top = (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        assert_eq!(top, 3);
    }
}
