use crate::Out;
use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sc_models::Arch;
use sc_train::{EpochMetrics, InitInfo, Observer, Regime, StepInfo, TrainConfig};
use serde_json::json;
use std::path::PathBuf;

/// Train a classifier in one of the paper's four regimes.
#[derive(Args)]
pub struct TrainArgs {
    /// Data set (see `data info`; the same syntax as every command's
    /// `--data`); default shapes.
    #[arg(long, value_parser = data_spec)]
    data: Option<String>,
    /// small-cnn, resnet18 or resnet50.
    #[arg(long)]
    model: Option<Arch>,
    /// base, c, adv or adv-c.
    #[arg(long)]
    regime: Option<Regime>,
    /// Weight of the continuity term.
    #[arg(long, allow_negative_numbers = true)]
    alpha: Option<f64>,
    #[arg(long)]
    epochs: Option<u64>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// adam or sgd.
    #[arg(long)]
    optimizer: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    /// Start from trained weights: a run directory (its last checkpoint) or a
    /// .safetensors file; another class count gets a new final layer.
    #[arg(long, value_name = "RUN_OR_WEIGHTS")]
    init: Option<String>,
    /// The run directory (config.toml, checkpoints/, metrics.jsonl).
    #[arg(long)]
    run: PathBuf,
    /// Continue the run in --run from its last complete checkpoint, with its
    /// config.toml; only --epochs may change.
    #[arg(long)]
    resume: bool,
    /// A TOML file of options; command-line flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Any other option as KEY=VALUE (e.g. --set schedule=cosine --set pgd_steps=5).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    device: crate::args::DeviceArgs,
    /// Data-parallel training on these GPUs (cuda:0,cuda:1,...): one
    /// process per GPU, each computing its share of every batch, gradients
    /// summed over NCCL; needs a build with --features nccl.
    #[arg(long, value_delimiter = ',', conflicts_with = "device")]
    devices: Option<Vec<crate::args::DeviceArg>>,
    /// Set by --devices for the process of each GPU.
    #[arg(long, hide = true, requires = "nccl_world")]
    nccl_rank: Option<usize>,
    /// Set by --devices for the process of each GPU.
    #[arg(long, hide = true, requires = "nccl_rank")]
    nccl_world: Option<usize>,
    /// {test_accuracy, epochs, seconds, run, ...} on stdout.
    #[arg(long)]
    json: bool,
}

/// `--data` checked as every command checks it, but kept as written: it is
/// stored in the run's config.toml and compared on `--resume`.
fn data_spec(value: &str) -> Result<String, String> {
    value
        .parse::<sc_data::DataSpec>()
        .map(|_| value.to_string())
        .map_err(|e| e.to_string())
}

impl TrainArgs {
    fn overrides(&self) -> Result<Vec<(String, String)>> {
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k.to_string(), v));
            }
        };
        push("data", self.data.as_deref().map(quoted));
        push("model", self.model.map(|a| quoted(a.name())));
        push("regime", self.regime.map(|r| quoted(r.name())));
        push("alpha", self.alpha.map(|v| format!("{v:?}")));
        push("epochs", self.epochs.map(|v| v.to_string()));
        push("batch_size", self.batch_size.map(|v| v.to_string()));
        push("lr", self.lr.map(|v| format!("{v:?}")));
        push("optimizer", self.optimizer.as_deref().map(quoted));
        push("seed", self.seed.map(|v| v.to_string()));
        push("init", self.init.as_deref().map(quoted));
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(out)
    }
}

/// A progress bar per epoch: images/s, loss terms, running accuracy.
struct Bars {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Observer for Bars {
    fn start(&mut self, config: &TrainConfig, steps_per_epoch: u64, resumed_at: u64) {
        if !self.quiet {
            eprintln!(
                "training {} ({}) on {} for {} epochs of {steps_per_epoch} steps{}",
                config.model,
                config.regime,
                config.data,
                config.epochs,
                if resumed_at > 0 {
                    format!(", resuming after step {resumed_at}")
                } else {
                    String::new()
                }
            );
        }
    }

    fn init(&mut self, init: &InitInfo) {
        if !self.quiet {
            eprintln!(
                "starting from {}{}",
                init.weights,
                match init.replaced_head {
                    Some((from, to)) => format!(
                        " with a new final layer drawn from the seed ({from} -> {to} classes)"
                    ),
                    None => String::new(),
                }
            );
        }
    }

    fn step(&mut self, info: &StepInfo) {
        if self.quiet {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(info.steps_per_epoch);
            bar.set_draw_target(ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "epoch {prefix} [{bar:25}] {pos}/{len} {msg} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix((info.epoch + 1).to_string());
            bar
        });
        bar.set_position(info.step);
        let adv = info
            .adv_accuracy
            .map(|a| format!(" adv acc {a:.3}"))
            .unwrap_or_default();
        bar.set_message(format!(
            "loss {:.4} ce {:.4} cont {:.4} clean acc {:.3}{adv} {:.0} img/s",
            info.loss, info.ce, info.continuity, info.accuracy, info.images_per_second
        ));
    }

    fn epoch(&mut self, m: &EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.quiet {
            return;
        }
        eprintln!(
            "epoch {}: loss {:.4} (ce {:.4}, continuity {:.4}), train acc {:.4} (clean){}, test acc {}, held-out DS {}, {:.0} s",
            m.epoch + 1,
            m.loss,
            m.ce,
            m.continuity,
            m.train_accuracy,
            m.train_adv_accuracy
                .map(|a| format!(", {a:.4} (PGD)"))
                .unwrap_or_default(),
            m.test_accuracy.map(|a| format!("{a:.4}")).unwrap_or_else(|| "-".into()),
            m.heldout_ds.map(|a| format!("{a:.3}")).unwrap_or_else(|| "-".into()),
            m.elapsed_seconds
        );
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    if let Some(devices) = &args.devices {
        return launch(devices);
    }
    let out = Out::new(args.json);
    let stored = args.run.join("config.toml");
    let config = if args.resume && stored.is_file() {
        TrainConfig::resolve_resumed(&stored, args.config.as_deref(), &args.overrides()?)?
    } else {
        TrainConfig::resolve(args.config.as_deref(), &args.overrides()?)?
    };
    let device = args.device.open()?;
    let report = match (args.nccl_rank, args.nccl_world) {
        (Some(rank), Some(world)) => train_on_nccl(&args, &config, &device, rank, world)?,
        _ => sc_train::train(
            &config,
            &args.run,
            args.resume,
            &device,
            &mut Bars {
                bar: None,
                quiet: false,
            },
        )?,
    };
    out.say(format!(
        "done: test accuracy {}, {} epochs, {:.1} s; run in {}",
        report
            .test_accuracy
            .map(|a| format!("{a:.4}"))
            .unwrap_or_else(|| "-".into()),
        report.epochs,
        report.seconds,
        report.run
    ));
    out.json(&json!({
        "test_accuracy": report.test_accuracy,
        "heldout_ds": report.heldout_ds,
        "train_accuracy": report.train_accuracy,
        "train_adv_accuracy": report.train_adv_accuracy,
        "init": report.init,
        "epochs": report.epochs,
        "global_steps": report.global_steps,
        "seconds": report.seconds,
        "run": report.run,
        "checkpoint": report.checkpoint,
        "regime": config.regime.name(),
        "model": config.model,
    }))
}

#[cfg(feature = "nccl")]
fn launch(devices: &[crate::args::DeviceArg]) -> Result<()> {
    crate::nccl::launch(devices)
}

#[cfg(not(feature = "nccl"))]
fn launch(_: &[crate::args::DeviceArg]) -> Result<()> {
    anyhow::bail!("--devices: this sc-bench was built without NCCL (rebuild with --features nccl)")
}

/// One process of `--devices`: rank 0 reports progress, the others train quietly.
#[cfg(feature = "nccl")]
fn train_on_nccl(
    args: &TrainArgs,
    config: &TrainConfig,
    device: &candle_core::Device,
    rank: usize,
    world: usize,
) -> Result<sc_train::TrainReport> {
    let nccl = crate::nccl::Nccl::join(rank, world, device)?;
    let mut bars = Bars {
        bar: None,
        quiet: rank > 0,
    };
    Ok(sc_train::train_data_parallel(
        config,
        &args.run,
        args.resume,
        device,
        &mut bars,
        &nccl,
    )?)
}

#[cfg(not(feature = "nccl"))]
fn train_on_nccl(
    _: &TrainArgs,
    _: &TrainConfig,
    _: &candle_core::Device,
    _: usize,
    _: usize,
) -> Result<sc_train::TrainReport> {
    anyhow::bail!(
        "--nccl-rank: this sc-bench was built without NCCL (rebuild with --features nccl)"
    )
}
