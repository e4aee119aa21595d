use crate::args::{DataArgs, DeviceArgs};
use crate::Out;
use anyhow::{bail, Context, Result};
use candle_core::D;
use clap::Args;
use sc_core::{Level, Seed};
use sc_perturb::PerturbationKind;
use sc_report::ImageGrid;
use serde_json::json;
use std::path::PathBuf;

/// Apply one perturbation to a data set: a before/after grid and, per image,
/// the mean absolute pixel change.
#[derive(Args)]
pub struct PerturbArgs {
    #[command(flatten)]
    data: DataArgs,
    /// brightness, contrast, saturation, hue, channel-translation, centre-shuffle or sliding-puzzle.
    #[arg(long)]
    kind: PerturbationKind,
    /// Strength 1-4: Table 1 of the paper for the photometric kinds; for the others
    /// fractions 1/32..1/4 (channel translation), areas 25..100% (centre shuffle), grids 2..16 (puzzle).
    #[arg(long)]
    level: Level,
    /// Use only the first N images of the split.
    #[arg(long)]
    limit: Option<usize>,
    /// The before/after PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Fixes the random choices of the randomised kinds.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Before/after pairs shown in the PNG.
    #[arg(long, default_value_t = 8)]
    show: usize,
    #[command(flatten)]
    device: DeviceArgs,
    /// {kind, level, params, mean_abs_change} on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: PerturbArgs) -> Result<()> {
    let out = Out::new(args.json);
    let (kind, level) = (args.kind, args.level);
    let perturbation = kind.at_level(level)?;
    let set = args.data.test_split(args.limit)?;
    let shape = set.image_shape();
    if let Some(reason) = kind.not_applicable(level, shape) {
        bail!(
            "--kind {kind} is not applicable to {}: {reason}",
            args.data.data
        );
    }
    let device = args.device.open()?;
    let mut rng = Seed(args.seed).stream("perturb");
    let mut changes: Vec<f32> = Vec::with_capacity(set.len());
    let mut grid = ImageGrid::new(8, (96 / shape[1].max(shape[2])).max(1) as u32);
    let per = shape.iter().product::<usize>();
    for batch in set.batches(256, sc_data::Order::Sequential, false, &device)? {
        let batch = batch?;
        let y = perturbation
            .apply(&batch.images, &mut rng)
            .with_context(|| format!("applying {kind} at level {level}"))?;
        let change = (&y - &batch.images)?
            .abs()?
            .flatten_from(1)?
            .mean(D::Minus1)?;
        changes.extend(change.to_vec1::<f32>()?);
        let shown = grid.len() / 2;
        if shown < args.show {
            let before: Vec<f32> = batch.images.flatten_all()?.to_vec1()?;
            let after: Vec<f32> = y.flatten_all()?.to_vec1()?;
            for (i, &index) in batch.indices.iter().enumerate().take(args.show - shown) {
                let label = set.classes()[set.labels()[index] as usize].as_str();
                grid.push_f32(&before[i * per..(i + 1) * per], shape, label)?;
                grid.push_f32(
                    &after[i * per..(i + 1) * per],
                    shape,
                    &format!("{kind} {level}"),
                )?;
            }
        }
    }
    grid.save_png(&args.out)?;
    let mean = changes.iter().map(|&c| f64::from(c)).sum::<f64>() / changes.len().max(1) as f64;
    let params: serde_json::Map<String, serde_json::Value> = perturbation
        .params()
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    out.say(format!(
        "{kind} level {level} {params:?} on {} images: mean absolute change {mean:.4}; wrote {}",
        changes.len(),
        args.out.display()
    ));
    out.json(&json!({
        "kind": kind.name(),
        "level": level.get(),
        "params": params,
        "mean_abs_change": changes,
    }))
}
