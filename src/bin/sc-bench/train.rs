use crate::Out;
use anyhow::{Context, Result};
use candle_core::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sc_models::Arch;
use sc_train::{EpochMetrics, InitInfo, Observer, Regime, StepInfo, TrainConfig};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Train a classifier in one of the paper's four regimes.
#[derive(Args)]
pub struct TrainArgs {
    /// Data set (see `data info`; the same syntax as every command's
    /// `--data`); default shapes.
    #[arg(long, value_parser = data_spec)]
    data: Option<String>,
    #[command(flatten)]
    flags: TrainFlags,
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

/// The training options shared by `train`, `fairness --regime`,
/// `transfer` and `alpha-sweep`: each becomes a key of the run's
/// configuration.
#[derive(Args, Clone, Debug, Default)]
pub struct TrainFlags {
    /// small-cnn, resnet18 or resnet50.
    #[arg(long)]
    pub model: Option<Arch>,
    /// base, c, adv or adv-c.
    #[arg(long)]
    pub regime: Option<Regime>,
    /// Weight of the continuity term.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    #[arg(long)]
    pub epochs: Option<u64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// adam or sgd.
    #[arg(long)]
    pub optimizer: Option<String>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Any other option as KEY=VALUE (e.g. --set schedule=cosine --set pgd_steps=5).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `--data` checked as every command checks it, but kept as written: it is
/// stored in the run's config.toml and compared on `--resume`.
pub fn data_spec(value: &str) -> Result<String, String> {
    value
        .parse::<sc_data::DataSpec>()
        .map(|_| value.to_string())
        .map_err(|e| e.to_string())
}

/// `s` as a TOML string.
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl TrainFlags {
    /// Whether any flag was given.
    pub fn any_given(&self) -> bool {
        self.overrides().map(|o| !o.is_empty()).unwrap_or(true)
    }

    /// The flags as configuration overrides, `--set` last.
    pub fn overrides(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k.to_string(), v));
            }
        };
        push("model", self.model.map(|a| quoted(a.name())));
        push("regime", self.regime.map(|r| quoted(r.name())));
        push("alpha", self.alpha.map(|v| format!("{v:?}")));
        push("epochs", self.epochs.map(|v| v.to_string()));
        push("batch_size", self.batch_size.map(|v| v.to_string()));
        push("lr", self.lr.map(|v| format!("{v:?}")));
        push("optimizer", self.optimizer.as_deref().map(quoted));
        push("seed", self.seed.map(|v| v.to_string()));
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv:?}: expected KEY=VALUE"))?;
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(out)
    }
}

impl TrainArgs {
    fn overrides(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        if let Some(d) = &self.data {
            out.push(("data".to_string(), quoted(d)));
        }
        if let Some(i) = &self.init {
            out.push(("init".to_string(), quoted(i)));
        }
        out.extend(self.flags.overrides()?);
        Ok(out)
    }
}

/// A progress bar per epoch: images/s, loss terms, running accuracy
/// (`Bars::default()`: on stderr).
#[derive(Default)]
pub struct Bars {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// Steps taken by this process.
    steps: u64,
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
        self.steps += 1;
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

/// What [`train_run`] did.
pub struct Trained {
    /// The configuration the run was trained with.
    pub config: TrainConfig,
    /// The report of sc-train.
    pub report: sc_train::TrainReport,
    /// Optimisation steps taken by this call (0: the run was already finished).
    pub steps_now: u64,
}

/// The configuration of the run in `dir`: with `resume` and a stored
/// config.toml, that file (only `epochs` may change); else `config_file`
/// and `overrides` over the defaults.
fn resolve_config(
    config_file: Option<&Path>,
    overrides: &[(String, String)],
    dir: &Path,
    resume: bool,
) -> Result<TrainConfig> {
    let stored = dir.join("config.toml");
    Ok(if resume && stored.is_file() {
        TrainConfig::resolve_resumed(&stored, config_file, overrides)?
    } else {
        TrainConfig::resolve(config_file, overrides)?
    })
}

/// Trains (or, with `resume`, continues) the run in `dir` with the
/// configuration `config_file` and `overrides` resolve to, through
/// sc-train's own resume checks: a resumed run takes its stored
/// config.toml, where only `epochs` may change.
pub fn train_run(
    config_file: Option<&Path>,
    overrides: &[(String, String)],
    dir: &Path,
    resume: bool,
    device: &Device,
) -> Result<Trained> {
    let config = resolve_config(config_file, overrides, dir, resume)?;
    let mut bars = Bars::default();
    let report = sc_train::train(&config, dir, resume, device, &mut bars)?;
    Ok(Trained {
        config,
        report,
        steps_now: bars.steps,
    })
}

pub fn run(args: TrainArgs) -> Result<()> {
    if let Some(devices) = &args.devices {
        return launch(devices);
    }
    let out = Out::new(args.json);
    let device = args.device.open()?;
    let (config, report) = match (args.nccl_rank, args.nccl_world) {
        (Some(rank), Some(world)) => {
            let config = resolve_config(
                args.config.as_deref(),
                &args.overrides()?,
                &args.run,
                args.resume,
            )?;
            let report = train_on_nccl(&args, &config, &device, rank, world)?;
            (config, report)
        }
        _ => {
            let t = train_run(
                args.config.as_deref(),
                &args.overrides()?,
                &args.run,
                args.resume,
                &device,
            )?;
            (t.config, t.report)
        }
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
        "config": config,
        "meta": crate::meta::for_run(Some(config.seed), args.device.device, &args.run)?,
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
        quiet: rank > 0,
        ..Bars::default()
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
