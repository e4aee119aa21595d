use crate::args::{DataArgs, DeviceArgs};
use crate::model::ModelArgs;
use crate::Out;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use sc_attack::robustness::{evaluate_ensemble, evaluate_with, Ensemble, EvalOptions};
use sc_attack::{
    Apgd, ApgdConfig, ApgdLoss, Attack, DeepFool, DeepFoolConfig, Fgsm, Norm, Pgd, PgdConfig,
    RobustnessReport, SanityOptions, ThreatModel, APGD_T_TARGETS,
};
use sc_core::{Fraction, Seed};
use serde_json::json;

/// The attacks `eval` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AttackKind {
    /// One signed-gradient step (Goodfellow et al. 2015).
    Fgsm,
    /// Linf PGD (Madry et al. 2018); the paper's evaluation.
    Pgd,
    /// L2 PGD.
    PgdL2,
    /// APGD on the cross-entropy (Croce & Hein 2020).
    ApgdCe,
    /// APGD on the targeted DLR loss (Croce & Hein 2020).
    ApgdT,
    /// PGD, then APGD-CE, then APGD-T on the images still standing: the
    /// per-image worst case (AutoAttack's protocol).
    Auto,
    /// L2 DeepFool (minimal perturbation, no radius).
    Deepfool,
}

impl AttackKind {
    fn name(self) -> &'static str {
        match self {
            AttackKind::Fgsm => "fgsm",
            AttackKind::Pgd => "pgd",
            AttackKind::PgdL2 => "pgd-l2",
            AttackKind::ApgdCe => "apgd-ce",
            AttackKind::ApgdT => "apgd-t",
            AttackKind::Auto => "auto",
            AttackKind::Deepfool => "deepfool",
        }
    }
}

/// Clean and robust accuracy, with the sanity checks of Carlini et al. 2019.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The data set whose test split (or only split) is evaluated.
    #[command(flatten)]
    data: DataArgs,
    /// The attack; `auto` gives the worst case over PGD, APGD-CE and APGD-T,
    /// any other an upper bound on robust accuracy.
    #[arg(long, value_enum, default_value_t = AttackKind::Pgd)]
    attack: AttackKind,
    /// Radius in pixel units, e.g. 8/255 (default: 8/255 for Linf, 0.5 for
    /// L2). Not for deepfool.
    #[arg(long)]
    eps: Option<Fraction>,
    /// PGD step size (default: eps/4); pgd, pgd-l2 and auto (its PGD) only.
    #[arg(long)]
    step_size: Option<Fraction>,
    /// Iterations (default: 10 for PGD and auto's PGD, 100 for APGD, 50 for
    /// DeepFool). Not for fgsm.
    #[arg(long)]
    steps: Option<usize>,
    /// Random restarts, the per-sample worst case kept (default 1); pgd,
    /// pgd-l2, apgd-ce, apgd-t and auto (its PGD).
    #[arg(long)]
    restarts: Option<usize>,
    /// APGD-T's target classes (default 9, at most classes - 1); apgd-t and auto.
    #[arg(long)]
    targets: Option<usize>,
    /// Use only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    /// Images the sanity checks run on, the first ones (default 200).
    #[arg(long)]
    sanity_samples: Option<usize>,
    /// Iterations of each APGD run: auto's APGD-CE and APGD-T, and the
    /// apgd-no-weaker check (default 100, as AutoAttack).
    #[arg(long)]
    apgd_steps: Option<usize>,
    /// Skip the sanity checks.
    #[arg(long)]
    no_sanity: bool,
    /// Exit non-zero when a sanity check fails.
    #[arg(long)]
    strict: bool,
    /// Images per batch of the model and the attacks.
    #[arg(long, default_value_t = 128, value_parser = crate::args::batch_size)]
    batch_size: usize,
    /// Seed of every random choice (random starts).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    device: DeviceArgs,
    /// {clean_accuracy, robust_accuracy, upper_bound, attacks, sanity, ...} on stdout.
    #[arg(long)]
    json: bool,
}

/// Rejects flags that the chosen attack or mode would ignore.
fn check_flags(args: &EvalArgs) -> Result<()> {
    use AttackKind::*;
    let a = args.attack;
    let given: [(&str, bool, &[AttackKind], &str); 5] = [
        (
            "--eps",
            args.eps.is_some(),
            &[Fgsm, Pgd, PgdL2, ApgdCe, ApgdT, Auto],
            "it finds the minimal perturbation and has no radius",
        ),
        (
            "--step-size",
            args.step_size.is_some(),
            &[Pgd, PgdL2, Auto],
            "it has no step-size parameter",
        ),
        (
            "--steps",
            args.steps.is_some(),
            &[Pgd, PgdL2, ApgdCe, ApgdT, Auto, Deepfool],
            "it takes exactly one step",
        ),
        (
            "--restarts",
            args.restarts.is_some(),
            &[Pgd, PgdL2, ApgdCe, ApgdT, Auto],
            "it has no random start",
        ),
        (
            "--targets",
            args.targets.is_some(),
            &[ApgdT, Auto],
            "it has no target classes",
        ),
    ];
    for (flag, is_given, applies, why) in given {
        if is_given && !applies.contains(&a) {
            bail!("{flag} does not apply to --attack {}: {why}", a.name());
        }
    }
    if args.no_sanity {
        for (flag, is_given) in [
            ("--sanity-samples", args.sanity_samples.is_some()),
            ("--strict", args.strict),
        ] {
            if is_given {
                bail!("{flag} does not apply with --no-sanity");
            }
        }
        if args.apgd_steps.is_some() && a != Auto {
            bail!(
                "--apgd-steps does not apply to --attack {} with --no-sanity (it sets auto's APGD \
                 and the apgd-no-weaker check)",
                a.name()
            );
        }
    }
    for (flag, v) in [
        ("--steps", args.steps),
        ("--restarts", args.restarts),
        ("--targets", args.targets),
        ("--sanity-samples", args.sanity_samples),
        ("--apgd-steps", args.apgd_steps),
    ] {
        if v == Some(0) {
            bail!("{flag} 0: expected at least 1");
        }
    }
    if let Some(e) = args.eps {
        if !(e.0 >= 0.0 && e.0.is_finite()) {
            bail!("--eps {e}: expected a radius >= 0");
        }
    }
    Ok(())
}

/// What `eval` runs: one attack, or the ensemble.
enum Evaluation {
    Single(Box<dyn Attack>),
    Ensemble(Ensemble),
}

fn pgd(args: &EvalArgs, norm: Norm, eps: f64) -> Result<Pgd> {
    let mut config = PgdConfig::new(
        ThreatModel::new(norm, eps)?,
        args.step_size.map(|s| s.0).unwrap_or(eps / 4.0),
        args.steps.unwrap_or(10),
    );
    config.restarts = args.restarts.unwrap_or(1);
    Ok(Pgd::new(config)?)
}

fn build(args: &EvalArgs) -> Result<Evaluation> {
    let linf_eps = args.eps.map(|e| e.0).unwrap_or(8.0 / 255.0);
    let targets = args.targets.unwrap_or(APGD_T_TARGETS);
    let apgd = |loss| -> Result<Box<dyn Attack>> {
        Ok(Box::new(Apgd::new(ApgdConfig {
            steps: args.steps.unwrap_or(100),
            restarts: args.restarts.unwrap_or(1),
            loss,
            ..ApgdConfig::new(ThreatModel::linf(linf_eps)?)
        })?))
    };
    Ok(match args.attack {
        AttackKind::Fgsm => Evaluation::Single(Box::new(Fgsm::new(linf_eps)?)),
        AttackKind::Pgd => Evaluation::Single(Box::new(pgd(args, Norm::Linf, linf_eps)?)),
        AttackKind::PgdL2 => {
            let eps = args.eps.map(|e| e.0).unwrap_or(0.5);
            Evaluation::Single(Box::new(pgd(args, Norm::L2, eps)?))
        }
        AttackKind::ApgdCe => Evaluation::Single(apgd(ApgdLoss::Ce)?),
        AttackKind::ApgdT => Evaluation::Single(apgd(ApgdLoss::DlrTargeted { targets })?),
        AttackKind::Auto => Evaluation::Ensemble(Ensemble::auto(
            pgd(args, Norm::Linf, linf_eps)?,
            args.apgd_steps.unwrap_or(100),
            targets,
        )?),
        AttackKind::Deepfool => {
            let mut config = DeepFoolConfig::new(Norm::L2);
            config.steps = args.steps.unwrap_or(50);
            Evaluation::Single(Box::new(DeepFool::new(config)?))
        }
    })
}

pub fn run(args: EvalArgs) -> Result<()> {
    let out = Out::new(args.json);
    check_flags(&args)?;
    let evaluation = build(&args)?;
    let device = args.device.open()?;
    let set = args.data.test_split(args.limit)?;
    let model = args
        .model
        .load_for(&device, &set, &args.data.spec()?.to_string())?;
    let batch = set.gather(&(0..set.len()).collect::<Vec<_>>(), &device)?;
    let options = EvalOptions {
        batch_size: args.batch_size,
        sanity: if args.no_sanity {
            SanityOptions::none()
        } else {
            SanityOptions {
                max_samples: Some(args.sanity_samples.unwrap_or(200)),
                apgd_steps: args.apgd_steps.unwrap_or(100),
                apgd_targets: args.targets.unwrap_or(APGD_T_TARGETS),
                ..SanityOptions::default()
            }
        },
    };
    let (x, y, seed) = (&batch.images, &batch.labels, Seed(args.seed));
    let report = match &evaluation {
        Evaluation::Single(a) => evaluate_with(&model, x, y, a.as_ref(), seed, &options)?,
        Evaluation::Ensemble(e) => evaluate_ensemble(&model, x, y, e, seed, &options)?,
    };
    say(&out, &report);
    let mut json = to_json(&report, args.seed);
    json["meta"] = crate::meta::for_model(Some(args.seed), args.device.device, &args.model)?;
    out.json(&json)?;
    let failed = report.failed_checks();
    if args.strict && !failed.is_empty() {
        bail!("--strict: sanity checks failed: {}", failed.join(", "));
    }
    Ok(())
}

fn values(v: &[(String, f64)]) -> String {
    v.iter()
        .map(|(k, v)| format!("{k}={v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn say(out: &Out, r: &RobustnessReport) {
    out.say(format!(
        "{} on {} images: clean accuracy {:.4}",
        r.model, r.n, r.clean_accuracy
    ));
    let names: Vec<&str> = r.stages.iter().map(|s| s.name.as_str()).collect();
    if r.upper_bound {
        out.say(format!(
            "{} accuracy {:.4}: an upper bound on robust accuracy (a stronger attack may lower \
             it; --attack auto gives the worst case)",
            r.attack, r.robust_accuracy
        ));
    } else {
        out.say(format!(
            "robust accuracy {:.4}: the per-image worst case over {}",
            r.robust_accuracy,
            names.join(", ")
        ));
    }
    if r.stages.len() > 1 {
        for s in &r.stages {
            out.say(format!(
                "  after {}: accuracy {:.4} ({} attacked, {} broken, {:.1} s)",
                s.name, s.accuracy, s.attacked, s.broken, s.seconds
            ));
        }
    }
    if !r.sanity.is_empty() {
        out.say(format!("sanity checks on {} images:", r.sanity_samples));
    }
    for c in &r.sanity {
        out.say(format!(
            "  [{}] {}: {} ({})",
            if c.passed { "pass" } else { "FLAG" },
            c.name,
            c.detail,
            values(&c.values)
        ));
    }
}

fn to_json(r: &RobustnessReport, seed: u64) -> serde_json::Value {
    let map = |v: &[(String, f64)]| -> serde_json::Map<String, serde_json::Value> {
        v.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
    };
    json!({
        "clean_accuracy": r.clean_accuracy,
        "robust_accuracy": r.robust_accuracy,
        // The same number under its earlier name, for existing readers.
        "adv_accuracy": r.robust_accuracy,
        "upper_bound": r.upper_bound,
        "n": r.n,
        "attack": {
            "name": r.attack,
            "threat": r.threat,
            "params": map(&r.params),
        },
        "attacks": r.stages.iter().map(|s| json!({
            "name": s.name,
            "accuracy": s.accuracy,
            "attacked": s.attacked,
            "broken": s.broken,
            "seconds": s.seconds,
            "params": map(&s.params),
        })).collect::<Vec<_>>(),
        "sanity_samples": r.sanity_samples,
        "sanity": r.sanity.iter().map(|c| json!({
            "name": c.name,
            "passed": c.passed,
            "detail": c.detail,
            "values": map(&c.values),
        })).collect::<Vec<_>>(),
        "sanity_passed": r.sanity_passed(),
        "model": r.model,
        "seed": seed,
    })
}
