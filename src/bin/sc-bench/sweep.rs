use crate::args::{batch_size, DataArgs, DeviceArgs};
use crate::model::ModelArgs;
use crate::Out;
use anyhow::Result;
use clap::Args;
use sc_core::Seed;
use sc_perturb::PerturbationKind;
use sc_probes::continuity::{perturbation_sweep, SweepOptions};
use std::str::FromStr;

/// DS and accuracy of a model under every perturbation kind and level
/// (paper Fig. 3 and Sec. 4.3).
#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    model: ModelArgs,
    // The data set whose test split (or only split) is perturbed.
    #[command(flatten)]
    data: DataArgs,
    /// photometric, semantic, all, or a comma-separated list of kinds.
    #[arg(long, default_value = "photometric")]
    kinds: Kinds,
    /// Use only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256, value_parser = batch_size)]
    batch_size: usize,
    #[command(flatten)]
    device: DeviceArgs,
    #[arg(long)]
    json: bool,
}

/// The `--kinds` of a sweep: a named group (the paper's photometric kinds
/// of Table 1, the semantic-destroying ones of Sec. 4.3, or all) or a list.
#[derive(Clone, Debug)]
struct Kinds(Vec<PerturbationKind>);

impl FromStr for Kinds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Kinds(match s {
            "photometric" => PerturbationKind::PHOTOMETRIC.to_vec(),
            "semantic" => PerturbationKind::ALL
                .into_iter()
                .filter(|k| !k.is_photometric())
                .collect(),
            "all" => PerturbationKind::ALL.to_vec(),
            list => {
                let mut kinds = Vec::new();
                for name in list.split(',') {
                    let kind: PerturbationKind = name
                        .trim()
                        .parse()
                        .map_err(|e| format!("{e} (or photometric, semantic, all)"))?;
                    if kinds.contains(&kind) {
                        return Err(format!("{kind} is listed twice"));
                    }
                    kinds.push(kind);
                }
                kinds
            }
        }))
    }
}

pub fn run(args: SweepArgs) -> Result<()> {
    let out = Out::new(args.json);
    let device = args.device.open()?;
    let set = args.data.test_split(args.limit)?;
    let model = args
        .model
        .load_for(&device, &set, &args.data.data.to_string())?;
    let opts = SweepOptions {
        kinds: args.kinds.0,
        batch_size: args.batch_size,
        seed: Seed(args.seed),
        ..SweepOptions::default()
    };
    let report = perturbation_sweep(&model, &set, &opts, &device)?;
    out.say(format!(
        "{} on {} images: clean accuracy {:.4}",
        report.model, report.images, report.clean_accuracy
    ));
    for e in &report.entries {
        out.say(format!(
            "  {:>20} level {}: DS {:.4} ± {:.4}, accuracy {:.4}",
            e.kind, e.level, e.mean_ds, e.ds_ci95, e.accuracy
        ));
    }
    for n in &report.not_applicable {
        out.say(format!(
            "  {:>20} level {}: not applicable ({})",
            n.kind, n.level, n.reason
        ));
    }
    let mut json = serde_json::to_value(&report)?;
    json["meta"] = crate::meta::for_model(Some(args.seed), args.device.device, &args.model)?;
    out.json(&json)
}
