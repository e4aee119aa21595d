//! `sc-bench speed`: throughput of the project's workloads, keyed and
//! measured as `../shared/bench/torch_anchor.py` measures PyTorch's, so the
//! two JSON files pair row by row (`cargo xtask bench` prints them side by
//! side). Every workload runs the library code users run: `sc_train`'s
//! regime loss and Adam, `sc_attack::Pgd`, `sc_interpret::IntegratedGradients`,
//! `sc_models::conv`.

use crate::Out;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::Args;
use sc_attack::{Attack, Pgd};
use sc_core::Seed;
use sc_interpret::{Attribution, IntegratedGradients};
use sc_loss::{ContinuityLoss, ContinuityTerm};
use sc_models::{conv, Arch, Model};
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
    /// d IG-32, f GEMM and conv ceilings.
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
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `warmup` untimed runs, then `reps` timed ones; each ends when `dev` has
/// finished the work (a GPU queues it and returns at once).
fn time(
    out: &Out,
    dev: &Device,
    name: &str,
    reps: usize,
    warmup: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Timing> {
    let load0 = loadavg();
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
    };
    out.say(format!(
        "  {name}: median {:9.1} ms  min {:9.1} ms  max {:9.1} ms  (n={reps}, load {:.2}->{:.2})",
        t.median_s * 1e3,
        t.min_s * 1e3,
        t.max_s * 1e3,
        t.loadavg_start,
        t.loadavg_end
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
        bail!("--only is empty: expected letters of abcdf");
    }
    if let Some(bad) = args.only.chars().find(|c| !"abcdf".contains(*c)) {
        bail!("--only: unknown workload {bad:?}: expected letters of abcdf");
    }
    for a in &args.models {
        key(*a)?;
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
    let model = || {
        Model::new(
            arch,
            args.classes,
            [3, 32, 32],
            None,
            seed.derive("init"),
            DType::F32,
            dev,
        )
    };
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
