//! `sc-bench fairness`: how much a model relies on the background colour of
//! a Colorful set (paper Sec. 4.7, Table 4).

use crate::args::{DataArgs, DeviceArgs, SelectionArgs};
use crate::model::ModelArgs;
use crate::train::{quoted, Bars, TrainFlags};
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::Args;
use sc_data::colorful::swap_backgrounds;
use sc_train::TrainConfig;
use serde_json::json;
use std::path::PathBuf;

/// Accuracy per background colour, its gap and the counterfactual flip rate.
#[derive(Args)]
pub struct FairnessArgs {
    /// A Colorful set: colorful-mnist:DIR, colorful-shapes[:...] or
    /// colorful:SPEC, with ,p=P,a=COLOUR,b=COLOUR; its test split is measured.
    #[command(flatten)]
    data: DataArgs,
    /// Which test images are measured (default all).
    #[command(flatten)]
    selection: SelectionArgs,
    /// A trained run; with --regime, the new run directory trained first
    /// on --data's training split.
    #[arg(long)]
    run: PathBuf,
    #[command(flatten)]
    train: TrainFlags,
    /// Images per batch of the evaluation.
    #[arg(long, default_value_t = 256, value_parser = crate::args::batch_size)]
    eval_batch_size: usize,
    #[command(flatten)]
    device: DeviceArgs,
    /// {accuracy, group_accuracy, gap, flip_rate, counterfactual_accuracy, p} on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(args: FairnessArgs) -> Result<()> {
    let out = Out::new(args.json);
    let spec = args.data.spec()?;
    let options = *spec.colorful().with_context(|| {
        format!(
            "--data {spec}: not a Colorful set (expected colorful-mnist:DIR, colorful-shapes or colorful:SPEC)"
        )
    })?;
    let device = args.device.open()?;
    if args.train.regime.is_some() {
        let mut overrides = vec![("data".to_string(), quoted(&spec.to_string()))];
        overrides.extend(args.train.overrides()?);
        let config = TrainConfig::resolve(None, &overrides)?;
        sc_train::train(&config, &args.run, false, &device, &mut Bars::default())?;
    } else if args.train.any_given() {
        bail!(
            "training flags (--model, --epochs, --set, ...) need --regime; without it --run must be a trained run"
        );
    }
    let (set, _) = args.data.test_selection(&args.selection)?;
    let model = ModelArgs {
        model: None,
        weights: None,
        run: Some(args.run.clone()),
    }
    .load_for(&device, &set, &spec.to_string())?;
    let counterfactual = swap_backgrounds(&set, &options)?;
    let r = sc_fairness::evaluate(&model, &set, &counterfactual, args.eval_batch_size, &device)?;
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
    out.say(format!(
        "{} on {} test images of {spec}: accuracy {:.4}, flip rate {:.4}, counterfactual accuracy {:.4}, gap {}",
        sc_core::Classifier::name(&model),
        r.n,
        r.accuracy,
        r.flip_rate,
        r.counterfactual_accuracy,
        fmt(r.gap)
    ));
    for g in &r.groups {
        out.say(format!(
            "  {}: {} images, accuracy {}",
            g.group,
            g.n,
            fmt(g.accuracy)
        ));
    }
    let groups: serde_json::Map<String, serde_json::Value> = r
        .groups
        .iter()
        .map(|g| (g.group.clone(), json!(g.accuracy)))
        .collect();
    out.json(&json!({
        "accuracy": r.accuracy,
        "group_accuracy": groups,
        "gap": r.gap,
        "flip_rate": r.flip_rate,
        "counterfactual_accuracy": r.counterfactual_accuracy,
        "p": options.p,
        "meta": crate::meta::for_run(None, args.device.device, &args.run)?,
    }))
}
