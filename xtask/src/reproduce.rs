//! `cargo xtask reproduce`: the paper's study, end to end, by running
//! `sc-bench` stage by stage. Every stage writes its result as JSON in the
//! output directory and is skipped when that file exists, so an interrupted
//! reproduction re-run continues where it stopped (training itself resumes
//! from its last checkpoint).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const REGIMES: [&str; 4] = ["base", "c", "adv", "adv-c"];
const PHOTOMETRIC: [&str; 4] = ["brightness", "contrast", "saturation", "hue"];

/// The paper's Table 2 (CIFAR-100, ResNet18): clean and PGD accuracy, %.
const PAPER_TABLE2: [(&str, f64, f64); 4] = [
    ("base", 66.99, 9.34),
    ("c", 67.01, 16.01),
    ("adv", 63.80, 44.30),
    ("adv-c", 59.62, 54.04),
];

/// What to reproduce, at which size.
#[derive(Debug, Clone)]
pub struct Plan {
    pub out: PathBuf,
    pub data: String,
    pub model: String,
    pub epochs: u64,
    pub seeds: u64,
    pub device: String,
    /// Extra `--set KEY=VALUE` options for training.
    pub train_set: Vec<String>,
    /// Test images for the attack and the sweep.
    pub eval_limit: usize,
    pub pgd_restarts: u64,
    /// Images the sanity checks run on.
    pub sanity_samples: usize,
    /// Iterations of the ensemble's APGD-CE and APGD-T (AutoAttack: 100);
    /// the sanity checks reuse their results.
    pub apgd_steps: usize,
    /// Test images whose attribution maps are scored.
    pub attr_limit: usize,
}

/// The attribution methods of the report (paper Sec. 4.5, Fig. 6).
const ATTRIBUTIONS: [(&str, &str); 2] = [
    ("ig", "Integrated Gradients (32 steps)"),
    ("gradcam", "GradCAM"),
];

impl Plan {
    /// The quick study: `shapes` on the CPU, minutes. Training from scratch
    /// for a few thousand steps, the paper's alpha = 1 lets the continuity
    /// term win before the model has learned anything (a near-constant
    /// model has DS ~ 0); alpha = 0.1 keeps C comparable to base here.
    pub fn quick(out: PathBuf) -> Plan {
        Plan {
            out,
            data: "shapes:n=6000,test=1000".into(),
            model: "small-cnn".into(),
            epochs: 10,
            seeds: 1,
            device: "cpu".into(),
            train_set: vec![
                "batch_size=64".into(),
                "lr=0.003".into(),
                "schedule=\"cosine\"".into(),
                "alpha=0.1".into(),
                "pgd_steps=2".into(),
                "pgd_step=\"4/255\"".into(),
                "eval_limit=300".into(),
            ],
            eval_limit: 500,
            pgd_restarts: 1,
            sanity_samples: 100,
            apgd_steps: 100,
            attr_limit: 200,
        }
    }

    /// The paper's setting (CIFAR-100, ResNet18, Adam 1e-5 is slow to
    /// converge from scratch, so 1e-3 with a cosine schedule), on CUDA.
    pub fn full(out: PathBuf, data_dir: &Path) -> Plan {
        Plan {
            out,
            data: format!("cifar100:{}", data_dir.display()),
            model: "resnet18".into(),
            epochs: 60,
            seeds: 1,
            device: "cuda".into(),
            train_set: vec![
                "schedule=\"cosine\"".into(),
                "normalize=\"cifar100\"".into(),
            ],
            eval_limit: 10_000,
            pgd_restarts: 1,
            sanity_samples: 1000,
            apgd_steps: 100,
            attr_limit: 500,
        }
    }
}

fn run_json<S: AsRef<str>>(bin: &Path, args: &[S], what: &str) -> Result<Value> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    eprintln!("$ sc-bench {}", args.join(" "));
    let out = Command::new(bin)
        .args(&args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running sc-bench for {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what}: stdout is not JSON"))
}

/// The JSON in `path`, or runs `make` and stores its result there (atomically).
fn stage(path: &Path, make: impl FnOnce() -> Result<Value>) -> Result<Value> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(v) = serde_json::from_str(&text) {
            eprintln!("skip: {} exists", path.display());
            return Ok(v);
        }
    }
    let v = make()?;
    crate::write_atomic(path, serde_json::to_string_pretty(&v)?)?;
    Ok(v)
}

pub fn reproduce(bin: &Path, plan: &Plan) -> Result<()> {
    std::fs::create_dir_all(&plan.out).with_context(|| plan.out.display().to_string())?;
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for seed in 0..plan.seeds {
        for regime in REGIMES {
            let name = format!("{regime}-s{seed}");
            let run = plan.out.join(&name);
            let train = stage(&plan.out.join(format!("{name}.train.json")), || {
                let mut args: Vec<String> = [
                    "train",
                    "--data",
                    &plan.data,
                    "--model",
                    &plan.model,
                    "--regime",
                    regime,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                args.extend([
                    "--epochs".into(),
                    plan.epochs.to_string(),
                    "--seed".into(),
                    seed.to_string(),
                    "--device".into(),
                    plan.device.clone(),
                    "--run".into(),
                    run.display().to_string(),
                    "--json".into(),
                ]);
                for s in &plan.train_set {
                    args.extend(["--set".into(), s.clone()]);
                }
                if run.join("checkpoints").is_dir() {
                    args.push("--resume".into());
                }
                run_json(bin, &args, &format!("training {name}"))
            })?;
            // PGD-10 (the paper's number), then APGD-CE and APGD-T on the
            // images it left standing: the per-image worst case beside it.
            // (A new file name: a stage file of the earlier PGD-only
            // evaluation is not reused.)
            let eval = stage(&plan.out.join(format!("{name}.eval-auto.json")), || {
                let args = [
                    "eval",
                    "--run",
                    &run.display().to_string(),
                    "--data",
                    &plan.data,
                    "--attack",
                    "auto",
                    "--eps",
                    "8/255",
                    "--step-size",
                    "2/255",
                    "--steps",
                    "10",
                    "--restarts",
                    &plan.pgd_restarts.to_string(),
                    "--limit",
                    &plan.eval_limit.to_string(),
                    "--sanity-samples",
                    &plan.sanity_samples.to_string(),
                    "--apgd-steps",
                    &plan.apgd_steps.to_string(),
                    "--seed",
                    &seed.to_string(),
                    "--device",
                    &plan.device,
                    "--json",
                ];
                run_json(bin, &args, &format!("evaluating {name}"))
            })?;
            let sweep = stage(&plan.out.join(format!("{name}.sweep.json")), || {
                let args = [
                    "sweep",
                    "--run",
                    &run.display().to_string(),
                    "--data",
                    &plan.data,
                    "--kinds",
                    "all",
                    "--limit",
                    &plan.eval_limit.to_string(),
                    "--seed",
                    &seed.to_string(),
                    "--device",
                    &plan.device,
                    "--json",
                ];
                run_json(bin, &args, &format!("sweeping {name}"))
            })?;
            let mut attr = serde_json::Map::new();
            for (method, _) in ATTRIBUTIONS {
                let v = stage(&plan.out.join(format!("{name}.{method}.json")), || {
                    let args = [
                        "attribute",
                        "--run",
                        &run.display().to_string(),
                        "--data",
                        &plan.data,
                        "--method",
                        method,
                        "--limit",
                        &plan.attr_limit.to_string(),
                        "--out",
                        &plan
                            .out
                            .join(format!("{name}.{method}.png"))
                            .display()
                            .to_string(),
                        "--device",
                        &plan.device,
                        "--json",
                    ];
                    let mut v = run_json(bin, &args, &format!("{method} maps of {name}"))?;
                    // The per-image scores stay in the stage file only.
                    if let Some(o) = v.as_object_mut() {
                        o.remove("per_image");
                    }
                    Ok(v)
                })?;
                attr.insert(method.to_string(), v);
            }
            results.push(json!({"regime": regime, "seed": seed, "train": train, "eval": eval, "sweep": sweep, "attribution": attr}));
        }
    }
    let report = json!({
        "data": plan.data,
        "model": plan.model,
        "epochs": plan.epochs,
        "seeds": plan.seeds,
        "results": results,
        "seconds_this_invocation": started.elapsed().as_secs_f64(),
    });
    let json_path = plan.out.join("report.json");
    crate::write_atomic(&json_path, serde_json::to_string_pretty(&report)?)?;
    let md = markdown(plan, &results);
    let md_path = plan.out.join("REPORT.md");
    crate::write_atomic(&md_path, md)?;
    eprintln!(
        "reproduce: wrote {} and {} in {:.0} s",
        md_path.display(),
        json_path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Mean and sample standard deviation.
fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let m = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() > 1 {
        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (m, sd)
}

fn fmt_pct(xs: &[f64]) -> String {
    let (m, sd) = mean_sd(xs);
    if xs.len() > 1 {
        format!("{:.2} ± {:.2}%", 100.0 * m, 100.0 * sd)
    } else {
        format!("{:.2}%", 100.0 * m)
    }
}

fn per_regime<'a>(results: &'a [Value], regime: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    results.iter().filter(move |r| r["regime"] == regime)
}

/// `field` (`mean_ds` or `accuracy`) of the sweep entry for `kind` at `level`, per seed.
fn sweep_value(results: &[Value], regime: &str, kind: &str, level: u64, field: &str) -> Vec<f64> {
    per_regime(results, regime)
        .filter_map(|r| {
            r["sweep"]["entries"]
                .as_array()?
                .iter()
                .find(|e| e["kind"] == kind && e["level"] == level)
                .and_then(|e| f(&e[field]))
        })
        .collect()
}

fn sweep_ds(results: &[Value], regime: &str, kind: &str, level: u64) -> Vec<f64> {
    sweep_value(results, regime, kind, level, "mean_ds")
}

fn sweep_acc(results: &[Value], regime: &str, kind: &str, level: u64) -> Vec<f64> {
    sweep_value(results, regime, kind, level, "accuracy")
}

fn markdown(plan: &Plan, results: &[Value]) -> String {
    let mut s = String::new();
    s.push_str("# semcon: semantic continuity, reproduced\n\n");
    s.push_str(&format!(
        "Data `{}`, model `{}`, {} epochs, {} seed(s), device `{}`. Generated by `cargo xtask reproduce`; \
         raw numbers in `report.json`, runs (config, checkpoints, metrics) beside it.\n\n",
        plan.data, plan.model, plan.epochs, plan.seeds, plan.device
    ));
    s.push_str("## Adversarial robustness (paper Table 2)\n\n");
    s.push_str(
        "White-box PGD, Linf eps 8/255, step 2/255, 10 steps, random start, on the test images \
         (the paper's evaluation); then APGD-CE and APGD-T (Croce & Hein 2020, 100 iterations, \
         9 targets) on the images PGD left standing. Each column is the accuracy after that \
         attack; **robust** is the per-image worst case over all three, the number to trust: \
         PGD alone is an upper bound. ",
    );
    s.push_str(
        "The paper's numbers are ResNet18 on CIFAR-100 under PGD; compare trends, not levels.\n\n",
    );
    s.push_str("| regime | clean | PGD-10 | + APGD-CE | + APGD-T = robust | paper clean | paper PGD | sanity checks |\n|---|---|---|---|---|---|---|---|\n");
    for (regime, paper_clean, paper_pgd) in PAPER_TABLE2 {
        let clean: Vec<f64> = per_regime(results, regime)
            .filter_map(|r| f(&r["eval"]["clean_accuracy"]))
            .collect();
        let after = |k: usize| -> Vec<f64> {
            per_regime(results, regime)
                .filter_map(|r| f(&r["eval"]["attacks"][k]["accuracy"]))
                .collect()
        };
        let robust: Vec<f64> = per_regime(results, regime)
            .filter_map(|r| f(&r["eval"]["robust_accuracy"]))
            .collect();
        let mut failed: Vec<String> = Vec::new();
        let mut total = 0;
        for r in per_regime(results, regime) {
            for c in r["eval"]["sanity"].as_array().into_iter().flatten() {
                total += 1;
                if c["passed"] != true {
                    failed.push(c["name"].as_str().unwrap_or("?").to_string());
                }
            }
        }
        let sanity = if failed.is_empty() {
            format!("{total}/{total} pass")
        } else {
            format!(
                "{}/{total} pass; FAILED: {}",
                total - failed.len(),
                failed.join(", ")
            )
        };
        let cell = |v: &[f64]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                fmt_pct(v)
            }
        };
        s.push_str(&format!(
            "| {regime} | {} | {} | {} | **{}** | {paper_clean:.2}% | {paper_pgd:.2}% | {sanity} |\n",
            cell(&clean),
            cell(&after(0)),
            cell(&after(1)),
            cell(&robust),
        ));
    }
    let trend = |a: &str, b: &str, key: &dyn Fn(&Value) -> Option<f64>| -> Option<bool> {
        let x: Vec<f64> = per_regime(results, a)
            .filter_map(|r| key(&r["eval"]))
            .collect();
        let y: Vec<f64> = per_regime(results, b)
            .filter_map(|r| key(&r["eval"]))
            .collect();
        (!x.is_empty() && !y.is_empty()).then(|| mean_sd(&x).0 > mean_sd(&y).0)
    };
    let pgd_acc = |e: &Value| f(&e["attacks"][0]["accuracy"]);
    let robust_acc = |e: &Value| f(&e["robust_accuracy"]);
    s.push_str("\nPaper trends, here: ");
    for (a, b) in [("c", "base"), ("adv", "base"), ("adv-c", "adv")] {
        for (what, key) in [
            ("PGD", &pgd_acc as &dyn Fn(&Value) -> Option<f64>),
            ("robust", &robust_acc),
        ] {
            if let Some(holds) = trend(a, b, key) {
                s.push_str(&format!(
                    "{what} accuracy {a} > {b}: {}; ",
                    if holds { "holds" } else { "does not hold" }
                ));
            }
        }
    }
    s.push_str("\n\n**Sanity checks** (Carlini et al. 2019) on the first test images, with their values:\n\n");
    for regime in REGIMES {
        for r in per_regime(results, regime) {
            let e = &r["eval"];
            s.push_str(&format!(
                "- {regime} (seed {}, {} images):",
                r["seed"], e["sanity_samples"]
            ));
            for c in e["sanity"].as_array().into_iter().flatten() {
                let values: Vec<String> = c["values"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| match v.as_f64() {
                        Some(x) => format!("{k} {x:.4}"),
                        None => format!("{k} {v}"),
                    })
                    .collect();
                s.push_str(&format!(
                    " {} **{}** ({});",
                    c["name"].as_str().unwrap_or("?"),
                    if c["passed"] == true { "pass" } else { "FAIL" },
                    values.join(", ")
                ));
            }
            s.push('\n');
        }
    }
    s.push_str("\n## Distance score under photometric perturbations (paper Fig. 3)\n\n");
    s.push_str("Mean `DS(x, P(x)) = ||F(P(x)) - F(x)||^2` (summed over classes, averaged over images) per level of Table 1. ");
    s.push_str("The paper: constrained models (C, ADV+C) have smaller DS than the originals. ");
    s.push_str("DS is comparable only between models of similar clean accuracy: a model that has not learned ");
    s.push_str("(near-constant logits) has DS near 0. Check the Training table below before reading a trend.\n\n");
    for kind in PHOTOMETRIC {
        s.push_str(&format!("**{kind}**\n\n| regime | level 1 | level 2 | level 3 | level 4 |\n|---|---|---|---|---|\n"));
        for regime in REGIMES {
            s.push_str(&format!("| {regime} |"));
            for level in 1..=4 {
                let v = sweep_ds(results, regime, kind, level);
                let (m, sd) = mean_sd(&v);
                if v.len() > 1 {
                    s.push_str(&format!(" {m:.3} ± {sd:.3} |"));
                } else if v.is_empty() {
                    s.push_str(" - |");
                } else {
                    s.push_str(&format!(" {m:.3} |"));
                }
            }
            s.push('\n');
        }
        let lower = |a: &str, b: &str| -> usize {
            (1..=4)
                .filter(|&l| {
                    mean_sd(&sweep_ds(results, a, kind, l)).0
                        < mean_sd(&sweep_ds(results, b, kind, l)).0
                })
                .count()
        };
        s.push_str(&format!(
            "\nC below base at {}/4 levels; ADV+C below ADV at {}/4 levels.\n\n",
            lower("c", "base"),
            lower("adv-c", "adv")
        ));
    }
    s.push_str("## Accuracy under semantic-destroying perturbations (paper Sec. 4.3)\n\n");
    s.push_str("The paper: constrained models lose more accuracy (they rely more on semantic information).\n\n");
    for kind in ["channel-translation", "centre-shuffle", "sliding-puzzle"] {
        s.push_str(&format!("**{kind}**\n\n| regime | level 1 | level 2 | level 3 | level 4 |\n|---|---|---|---|---|\n"));
        for regime in REGIMES {
            s.push_str(&format!("| {regime} |"));
            for level in 1..=4 {
                let v = sweep_acc(results, regime, kind, level);
                s.push_str(&if v.is_empty() {
                    " - |".to_string()
                } else {
                    format!(" {} |", fmt_pct(&v))
                });
            }
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str("## Attribution maps (paper Sec. 4.5, Fig. 6)\n\n");
    s.push_str("The paper: constrained models give smoother maps that sit on the object. Here per map, explaining the true label: ");
    s.push_str("total variation over absolute mass (lower = smoother), the share of absolute mass on the object mask ");
    s.push_str("(`shapes` only; an evenly spread map scores the object's area), and IG's completeness gap ");
    s.push_str("(`sum(IG) - (F_y(x) - F_y(0))`, the integration error). Pictures: `<regime>-s<seed>.<method>.png`.\n\n");
    for (method, label) in ATTRIBUTIONS {
        s.push_str(&format!(
            "**{label}**\n\n| regime | total variation | mass on object | object area | mean abs. completeness gap |\n|---|---|---|---|---|\n"
        ));
        for regime in REGIMES {
            let col = |field: &str| -> String {
                let v: Vec<f64> = per_regime(results, regime)
                    .filter_map(|r| f(&r["attribution"][method][field]))
                    .collect();
                if v.is_empty() {
                    return "-".into();
                }
                let (m, sd) = mean_sd(&v);
                if v.len() > 1 {
                    format!("{m:.4} ± {sd:.4}")
                } else if field == "mean_abs_completeness_gap" {
                    format!("{m:.2e}")
                } else {
                    format!("{m:.4}")
                }
            };
            s.push_str(&format!(
                "| {regime} | {} | {} | {} | {} |\n",
                col("mean_total_variation"),
                col("mean_mass_on_object"),
                col("mean_object_area"),
                col("mean_abs_completeness_gap")
            ));
        }
        let tv = |r: &str| -> Vec<f64> {
            per_regime(results, r)
                .filter_map(|x| f(&x["attribution"][method]["mean_total_variation"]))
                .collect()
        };
        let smoother = |a: &str, b: &str| -> &str {
            let (x, y) = (tv(a), tv(b));
            match (x.is_empty() || y.is_empty(), mean_sd(&x).0 < mean_sd(&y).0) {
                (true, _) => "not measured",
                (false, true) => "holds",
                (false, false) => "does not hold",
            }
        };
        s.push_str(&format!(
            "\nSmoother maps (lower total variation), C than base: {}; ADV+C than ADV: {}.\n\n",
            smoother("c", "base"),
            smoother("adv-c", "adv")
        ));
    }
    s.push_str("## Training\n\n| regime | seed | test accuracy | held-out DS | seconds |\n|---|---|---|---|---|\n");
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} |\n",
            r["regime"].as_str().unwrap_or("?"),
            r["seed"],
            f(&r["train"]["test_accuracy"])
                .map(|a| format!("{:.2}%", 100.0 * a))
                .unwrap_or_else(|| "-".into()),
            f(&r["train"]["heldout_ds"])
                .map(|a| format!("{a:.3}"))
                .unwrap_or_else(|| "-".into()),
            f(&r["train"]["seconds"]).unwrap_or(0.0)
        ));
    }
    s
}
