//! `sc-bench transfer`: fine-tune a trained model on another data set
//! (paper Sec. 4.6, Table 3: CIFAR-100 models fine-tuned on CIFAR-10, SVHN
//! and MNIST), optionally beside the same network trained from scratch.
//!
//! The source keeps its first-layer normalisation (its weights were learnt
//! for it); the target images are converted to the source's input (gray to
//! RGB, resized to its side: `convert:SPEC,channels=3,resize=S`, stored as
//! the run's `data`). The final layer is always new, drawn from the seed as
//! `init` draws one (`Seed(seed).derive("init-head")`, `Model::with_new_head`),
//! since the target's classes are not the source's even when they are as
//! many; the source with that head is written to `RUN/init.safetensors`
//! and is the run's `init`. The baseline trains all layers from the seed with the target's own
//! normalisation (the from-scratch recipe) and the same epochs, batches and
//! schedule.

use crate::args::DeviceArgs;
use crate::train::{data_spec, quoted, Bars, TrainFlags};
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::Args;
use sc_core::{Classifier, Seed};
use sc_data::convert::ConvertOptions;
use sc_data::DataSpec;
use sc_train::{EpochMetrics, InitInfo, Observer, RunDir, StepInfo, TrainConfig};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Fine-tune a trained run on another data set.
#[derive(Args)]
pub struct TransferArgs {
    /// The source training run: its newest complete checkpoint.
    #[arg(long)]
    from: PathBuf,
    /// The target data set (any --data SPEC); converted to the source's
    /// input when it differs.
    #[arg(long, value_parser = data_spec)]
    data: String,
    /// The run directory of the fine-tuning; --with-baseline trains into
    /// DIR/baseline.
    #[arg(long)]
    run: PathBuf,
    /// Train only the new final layer (default: all layers, as the paper).
    #[arg(long)]
    freeze_backbone: bool,
    /// Also train the same network from random initialisation with the
    /// same budget (all layers, the target's normalisation).
    #[arg(long)]
    with_baseline: bool,
    #[command(flatten)]
    train: TrainFlags,
    #[command(flatten)]
    device: DeviceArgs,
    /// {test_accuracy, epochs, source, baseline_from_scratch} on stdout.
    #[arg(long)]
    json: bool,
}

/// Forwards to the progress bars and keeps each epoch's test accuracy.
struct Recorder {
    bars: Bars,
    epochs: Vec<Option<f64>>,
}

impl Observer for Recorder {
    fn start(&mut self, config: &TrainConfig, steps_per_epoch: u64, resumed_at: u64) {
        self.bars.start(config, steps_per_epoch, resumed_at);
    }
    fn init(&mut self, init: &InitInfo) {
        self.bars.init(init);
    }
    fn step(&mut self, info: &StepInfo) {
        self.bars.step(info);
    }
    fn epoch(&mut self, m: &EpochMetrics) {
        if m.kind == "epoch" {
            self.epochs.push(m.test_accuracy);
        }
        self.bars.epoch(m);
    }
}

/// Trains `config` into `dir`; the final test accuracy and each epoch's.
fn train(
    config: &TrainConfig,
    dir: &Path,
    device: &candle_core::Device,
) -> Result<serde_json::Value> {
    let mut recorder = Recorder {
        bars: Bars::default(),
        epochs: Vec::new(),
    };
    let report = sc_train::train(config, dir, false, device, &mut recorder)?;
    Ok(json!({
        "test_accuracy": report.test_accuracy,
        "epochs": recorder.epochs.iter().enumerate().map(|(e, a)| json!({
            "epoch": e + 1,
            "test_accuracy": a,
        })).collect::<Vec<_>>(),
        "run": report.run,
        "seconds": report.seconds,
    }))
}

/// `spec` converted to images of `[c, h, w]` when they differ: gray to RGB
/// and a square resize; anything else is an error naming both shapes.
fn converted(spec: DataSpec, from: [usize; 3], to: [usize; 3]) -> Result<DataSpec> {
    if from == to {
        return Ok(spec);
    }
    let cannot = || {
        anyhow::anyhow!(
            "--data {spec} has {from:?} images (channels, height, width) and the source model takes {to:?}: \
             only gray to RGB and a resize to a square are converted"
        )
    };
    let channels = match (from[0], to[0]) {
        (a, b) if a == b => None,
        (1, 3) => Some(3),
        _ => return Err(cannot()),
    };
    let resize = if from[1..] == to[1..] {
        None
    } else if to[1] == to[2] {
        Some(to[1])
    } else {
        return Err(cannot());
    };
    Ok(DataSpec::Convert(
        Box::new(spec),
        ConvertOptions { channels, resize },
    ))
}

pub fn run(args: TransferArgs) -> Result<()> {
    let out = Out::new(args.json);
    let device = args.device.open()?;
    let source_run = RunDir::new(&args.from);
    let stem = source_run.latest()?.with_context(|| {
        format!(
            "--from {}: no complete checkpoint (is it a training run?)",
            args.from.display()
        )
    })?;
    let (source, _) = sc_models::load_checkpoint(source_run.checkpoints(), &stem, &device)
        .with_context(|| format!("--from {}: loading checkpoint {stem}", args.from.display()))?;
    let arch = source.arch().with_context(|| {
        format!(
            "--from {}: its model {} is not one sc-bench trains (small-cnn, resnet18, resnet50)",
            args.from.display(),
            source.name()
        )
    })?;
    if let Some(asked) = args.train.model {
        if asked != arch {
            bail!(
                "--model {asked}, but --from {} holds a {arch}",
                args.from.display()
            );
        }
    }
    if RunDir::new(&args.run).latest()?.is_some() {
        bail!(
            "--run {}: it already holds a run; choose another directory",
            args.run.display()
        );
    }
    let spec: DataSpec = args.data.parse()?;
    let target = spec.load().with_context(|| format!("loading {spec}"))?;
    let train_set = target
        .train
        .as_ref()
        .with_context(|| format!("--data {spec}: it has no training split"))?;
    let spec = converted(spec, train_set.image_shape(), source.input_shape())?;
    let classes = train_set.num_classes();

    let mut overrides = vec![
        ("data".to_string(), quoted(&spec.to_string())),
        ("model".to_string(), quoted(arch.name())),
    ];
    overrides.extend(args.train.overrides()?);
    let scratch = TrainConfig::resolve(None, &overrides)?;
    let head_file = args.run.join("init.safetensors");
    std::fs::create_dir_all(&args.run)
        .with_context(|| format!("creating {}", args.run.display()))?;
    source
        .with_new_head(classes, Seed(scratch.seed).derive("init-head"))?
        .save(&head_file)?;
    let transfer = TrainConfig {
        init: Some(head_file.display().to_string()),
        freeze_backbone: args.freeze_backbone,
        ..scratch.clone()
    };
    out.say(format!(
        "transfer of {} ({arch}) to {spec}: {}, new {classes}-class head",
        args.from.display(),
        if args.freeze_backbone {
            "final layer only"
        } else {
            "all layers"
        }
    ));
    let fine_tuned = train(&transfer, &args.run, &device)?;
    let baseline = if args.with_baseline {
        out.say("baseline: the same network from random initialisation, same budget");
        Some(train(&scratch, &args.run.join("baseline"), &device)?)
    } else {
        None
    };
    let pct = |v: &serde_json::Value| {
        v["test_accuracy"]
            .as_f64()
            .map_or("-".into(), |a| format!("{a:.4}"))
    };
    out.say(format!(
        "done: transferred test accuracy {}{}",
        pct(&fine_tuned),
        baseline
            .as_ref()
            .map(|b| format!(", from scratch {}", pct(b)))
            .unwrap_or_default()
    ));
    out.json(&json!({
        "test_accuracy": fine_tuned["test_accuracy"],
        "epochs": fine_tuned["epochs"],
        "source": {
            "run": args.from.display().to_string(),
            "checkpoint": stem,
            "model": arch.name(),
            "classes": source.num_classes(),
        },
        "data": spec.to_string(),
        "freeze_backbone": args.freeze_backbone,
        "run": fine_tuned["run"],
        "baseline_from_scratch": baseline,
        "meta": crate::meta::for_run(None, args.device.device, &args.run)?,
    }))
}
