use crate::model::{device, ModelArgs};
use crate::Out;
use anyhow::{Context, Result};
use clap::Args;
use sc_core::Seed;
use sc_perturb::PerturbationKind;
use sc_probes::continuity::{perturbation_sweep, SweepOptions};

/// DS and accuracy of a model under every perturbation kind and level
/// (paper Fig. 3 and Sec. 4.3).
#[derive(Args)]
pub struct SweepArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Data set whose test split (or only split) is perturbed.
    #[arg(long)]
    data: String,
    /// photometric, semantic, all, or a comma-separated list of kinds.
    #[arg(long, default_value = "photometric")]
    kinds: String,
    /// Use only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: SweepArgs) -> Result<()> {
    let out = Out::new(args.json);
    let kinds: Vec<PerturbationKind> = match args.kinds.as_str() {
        "photometric" => PerturbationKind::PHOTOMETRIC.to_vec(),
        "semantic" => PerturbationKind::ALL
            .into_iter()
            .filter(|k| !k.is_photometric())
            .collect(),
        "all" => PerturbationKind::ALL.to_vec(),
        list => list
            .split(',')
            .map(|k| k.trim().parse::<PerturbationKind>())
            .collect::<Result<_, _>>()
            .context("--kinds")?,
    };
    let device = device(&args.device)?;
    let set = crate::model::evaluation_set(&args.data, args.limit)?;
    let [_, h, w] = set.image_shape();
    let model = args.model.load(&device, [h, w])?;
    let opts = SweepOptions {
        kinds,
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
    out.json(&serde_json::to_value(&report)?)
}
