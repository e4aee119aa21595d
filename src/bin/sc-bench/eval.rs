use crate::model::{device, ModelArgs};
use crate::Out;
use anyhow::{bail, Result};
use clap::Args;
use sc_attack::robustness::{evaluate_with, EvalOptions};
use sc_attack::{
    ApgdCe, ApgdConfig, Attack, DeepFool, DeepFoolConfig, Fgsm, Norm, Pgd, PgdConfig,
    SanityOptions, ThreatModel,
};
use sc_core::{Fraction, Seed};
use serde_json::json;

/// Clean and adversarial accuracy, with the sanity checks of Carlini et al. 2019.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Data set whose test split (or only split) is evaluated.
    #[arg(long)]
    data: String,
    /// fgsm, pgd, pgd-l2, apgd-ce or deepfool.
    #[arg(long, default_value = "pgd")]
    attack: String,
    /// Radius in pixel units, e.g. 8/255 (default: 8/255 for Linf, 0.5 for L2).
    #[arg(long)]
    eps: Option<Fraction>,
    /// PGD step size (default: eps/4).
    #[arg(long)]
    step_size: Option<Fraction>,
    /// Iterations (default: 10 for PGD, 100 for APGD-CE, 50 for DeepFool).
    #[arg(long)]
    steps: Option<usize>,
    /// Random restarts; the per-sample worst case is kept.
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// Use only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    /// Images the sanity checks run on (the first ones).
    #[arg(long, default_value_t = 200)]
    sanity_samples: usize,
    /// Iterations of the APGD-CE comparison in the sanity checks.
    #[arg(long, default_value_t = 100)]
    apgd_steps: usize,
    /// Skip the sanity checks.
    #[arg(long)]
    no_sanity: bool,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// {clean_accuracy, adv_accuracy, attack, sanity, n} on stdout.
    #[arg(long)]
    json: bool,
}

fn build_attack(args: &EvalArgs) -> Result<Box<dyn Attack>> {
    let linf_eps = args.eps.map(|e| e.0).unwrap_or(8.0 / 255.0);
    if let Some(e) = args.eps {
        if e.0 < 0.0 {
            bail!("--eps {e}: expected a radius >= 0");
        }
    }
    if args.steps == Some(0) {
        bail!("--steps 0: expected at least 1");
    }
    Ok(match args.attack.as_str() {
        "fgsm" => Box::new(Fgsm::new(linf_eps)?),
        "pgd" | "pgd-l2" => {
            let (norm, eps) = if args.attack == "pgd" {
                (Norm::Linf, linf_eps)
            } else {
                (Norm::L2, args.eps.map(|e| e.0).unwrap_or(0.5))
            };
            let mut config = PgdConfig::new(
                ThreatModel::new(norm, eps)?,
                args.step_size.map(|s| s.0).unwrap_or(eps / 4.0),
                args.steps.unwrap_or(10),
            );
            config.restarts = args.restarts;
            Box::new(Pgd::new(config)?)
        }
        "apgd-ce" => {
            let mut config = ApgdConfig::new(ThreatModel::new(Norm::Linf, linf_eps)?);
            config.steps = args.steps.unwrap_or(100);
            config.restarts = args.restarts;
            Box::new(ApgdCe::new(config)?)
        }
        "deepfool" => {
            let mut config = DeepFoolConfig::new(Norm::L2);
            config.steps = args.steps.unwrap_or(50);
            Box::new(DeepFool::new(config)?)
        }
        other => bail!("--attack {other:?}: expected fgsm, pgd, pgd-l2, apgd-ce or deepfool"),
    })
}

pub fn run(args: EvalArgs) -> Result<()> {
    let out = Out::new(args.json);
    let attack = build_attack(&args)?;
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let device = device(&args.device)?;
    let set = crate::model::evaluation_set(&args.data, args.limit)?;
    let [_, h, w] = set.image_shape();
    let model = args.model.load(&device, [h, w])?;
    let batch = set.gather(&(0..set.len()).collect::<Vec<_>>(), &device)?;
    let options = EvalOptions {
        batch_size: args.batch_size,
        sanity: if args.no_sanity {
            SanityOptions::none()
        } else {
            SanityOptions {
                max_samples: Some(args.sanity_samples.max(1)),
                apgd_steps: args.apgd_steps,
                ..SanityOptions::default()
            }
        },
    };
    let report = evaluate_with(
        &model,
        &batch.images,
        &batch.labels,
        attack.as_ref(),
        Seed(args.seed),
        &options,
    )?;
    out.say(format!(
        "{} on {} images: clean accuracy {:.4}, {} accuracy {:.4}",
        report.model, report.n, report.clean_accuracy, report.attack, report.adv_accuracy
    ));
    for c in &report.sanity {
        out.say(format!(
            "  [{}] {}: {}",
            if c.passed { "pass" } else { "FLAG" },
            c.name,
            c.detail
        ));
    }
    let params: serde_json::Map<String, serde_json::Value> = report
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    out.json(&json!({
        "clean_accuracy": report.clean_accuracy,
        "adv_accuracy": report.adv_accuracy,
        "n": report.n,
        "attack": {
            "name": report.attack,
            "threat": report.threat,
            "params": params,
        },
        "sanity": report.sanity.iter().map(|c| json!({
            "name": c.name,
            "passed": c.passed,
            "detail": c.detail,
            "values": c.values.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "sanity_passed": report.sanity_passed(),
        "model": report.model,
        "seed": args.seed,
    }))
}
