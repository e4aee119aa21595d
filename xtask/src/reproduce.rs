//! `cargo xtask reproduce`: the paper's study, end to end, by running
//! `sc-bench` stage by stage. xtask only drives stages: every stage writes
//! its result as JSON in the study directory and is skipped when that file
//! exists (files are written atomically), so an interrupted reproduction
//! re-run continues where it stopped (training itself resumes from its last
//! checkpoint). At the end it writes the manifest `study.json` and runs
//! `sc-bench report`, which renders `REPORT.md`, `report.html` and
//! `figures/` from the JSON alone (`sc_report::study`).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const REGIMES: [&str; 4] = ["base", "c", "adv", "adv-c"];

/// What to reproduce, at which size.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Which plan (`quick`, `smoke`, `medium`, `smoke-medium`, `paper`):
    /// the report's title says it.
    pub name: &'static str,
    /// The command that runs this plan, as the report quotes it (the
    /// driver sets the command line it was given).
    pub command: String,
    pub out: PathBuf,
    pub data: String,
    pub model: String,
    pub epochs: u64,
    pub seeds: u64,
    pub device: String,
    /// Extra `--set KEY=VALUE` options for training.
    pub train_set: Vec<String>,
    /// Extra `--set` options of the fairness runs (over `train_set`'s).
    pub fairness_set: Vec<String>,
    /// Extra `--set` options of fine-tuning (over the shared ones).
    pub transfer_set: Vec<String>,
    /// Extra `--set` options of the alpha sweep's models (over `train_set`'s).
    pub alpha_set: Vec<String>,
    /// Test images for the sweep.
    pub eval_limit: usize,
    /// Test images attacked (the first ones): the ensemble's cost grows
    /// with the images PGD leaves standing, most on the robust regimes.
    pub attack_limit: usize,
    pub pgd_restarts: u64,
    /// Images the sanity checks run on.
    pub sanity_samples: usize,
    /// Iterations of the ensemble's APGD-CE and APGD-T (AutoAttack: 100);
    /// the sanity checks reuse their results.
    pub apgd_steps: usize,
    /// Test images whose attribution maps are scored.
    pub attr_limit: usize,
    /// IG's integration steps (sc-bench's default when `None`).
    pub ig_steps: Option<usize>,
    /// Test images per class of the discontinuity probe (Figs. 1-2).
    pub disc_per_class: usize,
    /// The colour-biased set base and C are trained on for fairness (Table 4).
    pub fairness_data: String,
    /// Epochs of the fairness training.
    pub fairness_epochs: u64,
    /// The target every run is fine-tuned on (Table 3).
    pub transfer_data: String,
    /// Epochs of fine-tuning.
    pub transfer_epochs: u64,
    /// Test images per class whose margins per DCT band are measured.
    pub margin_per_class: usize,
    /// DeepFool's candidate classes (the highest logits; all when `None`).
    pub margin_candidates: Option<usize>,
    /// DeepFool's steps before an image counts as not flipped (sc-bench's
    /// default when `None`).
    pub margin_max_iter: Option<usize>,
    /// The alphas of the sweep (Fig. 4), comma-separated.
    pub alphas: String,
    /// Seeds that run an alpha sweep (0..alpha_seeds).
    pub alpha_seeds: u64,
    /// The data set, epochs and test images per class of each sweep's models.
    pub alpha_data: String,
    /// Epochs of each alpha's model.
    pub alpha_epochs: u64,
    /// Test images per class each alpha's model is evaluated on.
    pub alpha_per_class: usize,
    /// Why the plan departs from the paper where its configuration cannot
    /// say it; shown in the report.
    pub notes: Vec<String>,
}

/// The training recipe of the CPU studies (quick and medium): from
/// scratch, Adam 3e-3 with a cosine schedule, alpha 0.1 and 2-step training
/// PGD (see [`ALPHA_NOTE`], [`PGD_NOTE`]), `eval_limit` test images per
/// epoch's evaluation.
fn cpu_recipe(eval_limit: usize) -> Vec<String> {
    vec![
        "batch_size=64".into(),
        "lr=0.003".into(),
        "schedule=\"cosine\"".into(),
        "alpha=0.1".into(),
        "pgd_steps=2".into(),
        "pgd_step=\"4/255\"".into(),
        format!("eval_limit={eval_limit}"),
    ]
}

/// Why the CPU studies use alpha 0.1 (the report's departures).
const ALPHA_NOTE: &str = "alpha 0.1 (the paper: 1): from scratch, alpha 1 lets the continuity term win before the model learns (a near-constant model has DS near 0).";

/// Why the CPU studies train with 2-step PGD (the report's departures).
const PGD_NOTE: &str = "Training PGD with 2 steps of 4/255 instead of 10 of 2/255, for time; the evaluation uses the paper's PGD-10 and the worst case of PGD, APGD-CE and APGD-T.";

/// The attribution methods of the report (paper Sec. 4.5, Fig. 6).
const ATTRIBUTIONS: [&str; 2] = ["ig", "gradcam"];

impl Plan {
    /// The quick study: `shapes` on the CPU, 3 seeds. Training from
    /// scratch for a few thousand steps, the paper's alpha = 1 lets the
    /// continuity term win before the model has learned anything (a
    /// near-constant model has DS ~ 0); alpha = 0.1 keeps C comparable to
    /// base here.
    pub fn quick(out: PathBuf) -> Plan {
        Plan {
            name: "quick",
            command: "cargo xtask reproduce --quick".into(),
            out,
            data: "shapes:n=4000,test=1000".into(),
            model: "small-cnn".into(),
            epochs: 4,
            seeds: 3,
            device: "cpu".into(),
            train_set: cpu_recipe(300),
            fairness_set: Vec::new(),
            transfer_set: Vec::new(),
            alpha_set: Vec::new(),
            eval_limit: 500,
            attack_limit: 200,
            pgd_restarts: 1,
            sanity_samples: 100,
            apgd_steps: 100,
            attr_limit: 100,
            ig_steps: None,
            disc_per_class: 30,
            fairness_data: "colorful-shapes:n=2000,test=1000".into(),
            fairness_epochs: 3,
            transfer_data: "colorful-shapes:n=1000,test=500,p=0.5".into(),
            transfer_epochs: 2,
            margin_per_class: 5,
            margin_candidates: Some(3),
            margin_max_iter: None,
            alphas: "0,0.01,0.1,1".into(),
            alpha_seeds: 1,
            alpha_data: "shapes:n=2000,test=1000".into(),
            alpha_epochs: 4,
            alpha_per_class: 30,
            notes: vec![
                "`shapes` (synthetic, embedded) and a small CNN instead of CIFAR-100 and ResNet18: the quick study runs on 2 CPU cores.".into(),
                "Trained from scratch on 4000 images for 4 epochs (sized from measured stage times so that 3 seeds of every stage fit 20 minutes on 2 cores), where the paper's Adam at 1e-5 is a fine-tuning rate: Adam 3e-3 with a cosine schedule.".into(),
                ALPHA_NOTE.into(),
                PGD_NOTE.into(),
                "Robust accuracy on the first 200 test images (the sweep uses 500): APGD-T (9 targets, 100 steps) on the images PGD leaves standing dominated the study's time on the robust regimes; fewer images widen each run's interval but leave the attack at full strength.".into(),
                "Fig. 1-2 on 30 test images per class (300 images, one class of 30 embedded).".into(),
                "IG and GradCAM maps scored on the first 100 test images.".into(),
                "Fairness (Table 4) on colorful-shapes (the embedded shapes on red/blue backgrounds, 95% red in training and blue in test) instead of Colorful MNIST, base and C only, 2000 training images for 3 epochs with the main regimes' settings.".into(),
                "Margins per DCT band on 5 test images per class (50 images; DeepFool restricted to each band, the 3 classes of highest logit as candidates instead of all 10, at most 50 steps): with 3 candidates a trained base model takes 1.4 s for 20 images over the 4 bands, with all 10 an image can take a second.".into(),
                "The alpha sweep (Fig. 4) at seed 0 only, with smaller models than the main runs (for time): alphas 0, 0.01, 0.1 and 1, each a C model on 2000 training images for 4 epochs, evaluated on 30 test images per class. With one seed there is no CI, so claim C2 is inconclusive by rule.".into(),
                "Transfer (Table 3) to colorful-shapes with unbiased backgrounds (p=0.5; 1000 images, 2 epochs, all layers, Adam 3e-3 cosine), not CIFAR-10/SVHN/MNIST: no download, but a domain shift on the same ten shapes rather than a new task; no from-scratch baseline.".into(),
            ],
        }
    }

    /// The smoke study: every stage on tiny subsets, seconds per stage, 2
    /// seeds so that every interval is computed; it proves the pipeline
    /// wires up and the report renders (CI), and its numbers mean nothing.
    pub fn smoke(out: PathBuf) -> Plan {
        Plan {
            name: "smoke",
            command: "cargo xtask reproduce --smoke".into(),
            out,
            // 10 test images per class: Fig. 2's trustworthiness (k = 5)
            // needs more than 10 points, 7 images and 4 perturbed versions.
            data: "shapes:n=256,test=100".into(),
            model: "small-cnn".into(),
            epochs: 1,
            seeds: 2,
            device: "cpu".into(),
            train_set: vec![
                "batch_size=32".into(),
                "alpha=0.1".into(),
                "pgd_steps=1".into(),
                "eval_limit=32".into(),
            ],
            fairness_set: Vec::new(),
            transfer_set: Vec::new(),
            alpha_set: Vec::new(),
            eval_limit: 32,
            attack_limit: 32,
            pgd_restarts: 1,
            sanity_samples: 8,
            apgd_steps: 5,
            attr_limit: 8,
            ig_steps: Some(4),
            disc_per_class: 8,
            fairness_data: "colorful-shapes:n=128,test=64".into(),
            fairness_epochs: 1,
            transfer_data: "colorful-shapes:n=128,test=64,p=0.5".into(),
            transfer_epochs: 1,
            margin_per_class: 1,
            margin_candidates: Some(2),
            margin_max_iter: Some(5),
            alphas: "0,0.1".into(),
            alpha_seeds: 1,
            alpha_data: "shapes:n=256,test=100".into(),
            alpha_epochs: 1,
            alpha_per_class: 3,
            notes: vec![
                "A smoke test of the pipeline: tiny subsets, one epoch; its numbers mean nothing."
                    .into(),
            ],
        }
    }

    /// The paper's setting (ResNet18 on `data`, e.g. `cifar100:DIR`; Adam
    /// 1e-5 is slow to converge from scratch, so 1e-3 with a cosine
    /// schedule), on CUDA.
    pub fn full(out: PathBuf, data: &str) -> Plan {
        Plan {
            name: "paper",
            command: format!("cargo xtask reproduce --data {data}"),
            out,
            data: data.to_string(),
            model: "resnet18".into(),
            epochs: 60,
            seeds: 3,
            device: "cuda".into(),
            train_set: vec![
                "schedule=\"cosine\"".into(),
            ],
            fairness_set: Vec::new(),
            transfer_set: Vec::new(),
            alpha_set: Vec::new(),
            eval_limit: 10_000,
            attack_limit: 10_000,
            pgd_restarts: 1,
            sanity_samples: 1000,
            apgd_steps: 100,
            attr_limit: 500,
            ig_steps: None,
            disc_per_class: 100,
            fairness_data: "colorful-shapes".into(),
            fairness_epochs: 10,
            transfer_data: "colorful-shapes:p=0.5".into(),
            transfer_epochs: 10,
            margin_per_class: 10,
            margin_candidates: None,
            margin_max_iter: None,
            alphas: "0,0.1,0.3,1,3".into(),
            alpha_seeds: 3,
            alpha_data: data.to_string(),
            alpha_epochs: 60,
            alpha_per_class: 10,
            notes: vec!["Trained from scratch with a cosine schedule: the paper's Adam at 1e-5 converges too slowly from scratch.".into()],
        }
    }

    /// The study on real images on the CPU (issue 17): small-cnn on `data`
    /// (by default CIFAR-10's JPEG folders, 45,000 training and 5,000
    /// validation images), 3 seeds, every stage; fairness on Colorful MNIST
    /// and transfer to MNIST from `mnist` (an MNIST idx folder). Sized from
    /// measured times to finish within 3 hours on 2 CPU cores (the plan
    /// prints its estimate).
    pub fn medium(out: PathBuf, data: &str, mnist: &Path) -> Plan {
        let (fairness_data, transfer_data) = mnist_specs(mnist);
        Plan {
            name: "medium",
            command: "cargo xtask reproduce --medium".into(),
            out,
            data: data.to_string(),
            model: "small-cnn".into(),
            epochs: 2,
            seeds: 3,
            device: "cpu".into(),
            train_set: cpu_recipe(1000),
            fairness_set: Vec::new(),
            transfer_set: Vec::new(),
            alpha_set: vec!["train_limit=10000".into()],
            eval_limit: 1000,
            attack_limit: 500,
            pgd_restarts: 1,
            sanity_samples: 100,
            apgd_steps: 100,
            attr_limit: 200,
            ig_steps: None,
            disc_per_class: 50,
            fairness_data,
            fairness_epochs: 3,
            transfer_data,
            transfer_epochs: 2,
            margin_per_class: 5,
            margin_candidates: Some(3),
            margin_max_iter: None,
            alphas: "0,0.01,0.1,1".into(),
            alpha_seeds: 1,
            alpha_data: data.to_string(),
            alpha_epochs: 2,
            alpha_per_class: 50,
            notes: vec![
                "A small CNN on the CPU (2 cores) instead of ResNet18 on a GPU; the same command with `--model resnet18 --device cuda` is the GPU setting.".into(),
                "Trained from scratch for 2 epochs over the whole training split (Adam 3e-3, cosine schedule, batch 64), where the paper fine-tunes with Adam at 1e-5: the budget of 3 hours on 2 cores for 12 runs. No crop/flip augmentation: in 2 epochs the models do not overfit (see the training accuracy beside the test accuracy in the logs), so it would only slow learning.".into(),
                ALPHA_NOTE.into(),
                PGD_NOTE.into(),
                "Robust accuracy on the first 500 test images; the perturbation sweep on 1000; Fig. 1-2 on 50 test images per class; attributions on 200; margins per DCT band on 5 images per class with the 3 classes of highest logit as DeepFool's candidates.".into(),
                "Fairness (Table 4) on Colorful MNIST (95% red backgrounds in training, blue in test, resized to 32x32) built from the 5,000 MNIST training images at hand (not 60,000) for 3 epochs, base and C only.".into(),
                "Transfer (Table 3) to MNIST (gray to RGB, 28 to 32 pixels), its 5,000 training images at hand for 2 epochs, all layers, evaluated on the 10,000 test images; no from-scratch baseline.".into(),
                "The alpha sweep (Fig. 4) at seed 0 only, on the first 10,000 training images for 2 epochs: one seed, so claim C2 is inconclusive by rule.".into(),
            ],
        }
    }

    /// Runs the plan on `data` instead of its own set (`--data` with
    /// `--quick` or `--smoke`): the main runs and the alpha sweep use it;
    /// the smoke study keeps its tiny size by training on the first 256
    /// images.
    pub fn on_data(mut self, data: &str) -> Plan {
        self.data = data.to_string();
        self.alpha_data = data.to_string();
        if self.name == "smoke" {
            self.train_set.push("train_limit=256".into());
        }
        self.notes
            .push(format!("Run on `{data}` instead of the plan's own set."));
        self
    }

    /// The smoke study at the medium setting's data (`--smoke --medium`):
    /// the real images, Colorful MNIST and MNIST at tiny sizes (CI).
    pub fn smoke_medium(out: PathBuf, data: &str, mnist: &Path) -> Plan {
        let (fairness_data, transfer_data) = mnist_specs(mnist);
        let mut plan = Plan::smoke(out).on_data(data);
        plan.name = "smoke-medium";
        plan.command = "cargo xtask reproduce --smoke --medium".into();
        // One seed: every call loads the whole folder set (seconds for
        // CIFAR-10's 50,000 JPEGs), and the two-seed smoke study already
        // proves the intervals render.
        plan.seeds = 1;
        plan.fairness_data = fairness_data;
        plan.fairness_set = vec!["train_limit=128".into()];
        plan.transfer_data = transfer_data;
        plan.transfer_set = vec!["train_limit=128".into()];
        plan
    }
}

/// The medium setting's fairness set (Colorful MNIST) and transfer target
/// (MNIST as RGB) from the MNIST folder `mnist`, both 32x32: small-cnn
/// needs sides divisible by 8.
fn mnist_specs(mnist: &Path) -> (String, String) {
    let mnist = mnist.display();
    (
        format!("convert:colorful-mnist:{mnist},resize=32"),
        format!("convert:mnist:{mnist},channels=3,resize=32"),
    )
}

fn run_json<S: AsRef<str>>(bin: &Path, args: &[S], what: &str) -> Result<Value> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    eprintln!("$ sc-bench {}", args.join(" "));
    let out = Command::new(bin)
        .args(&args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {} for {what}", bin.display()))?;
    if !out.status.success() {
        bail!("{what} failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what}: stdout is not JSON"))
}

/// The JSON in `dir/file`, or runs `make` and stores its result there
/// (atomically), and its wall time in `timings.json`. Returns `file`, the
/// manifest's name for it.
fn stage(dir: &Path, file: String, make: impl FnOnce() -> Result<Value>) -> Result<String> {
    let path = dir.join(&file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        if serde_json::from_str::<Value>(&text).is_ok() {
            eprintln!("skip: {} exists", path.display());
            return Ok(file);
        }
    }
    let started = std::time::Instant::now();
    let v = make()?;
    crate::write_atomic(&path, serde_json::to_string_pretty(&v)?)?;
    let mut timings = read_timings(dir);
    timings.insert(file.clone(), json!(started.elapsed().as_secs_f64()));
    crate::write_atomic(
        &dir.join(TIMINGS),
        serde_json::to_string_pretty(&Value::Object(timings))?,
    )?;
    Ok(file)
}

/// Wall seconds per stage file, kept beside the stage files so that a
/// resumed study still reports the time of stages an earlier invocation ran.
const TIMINGS: &str = "timings.json";

fn read_timings(dir: &Path) -> serde_json::Map<String, Value> {
    std::fs::read_to_string(dir.join(TIMINGS))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// `base` with the options of `extra` put over it (a key of `extra`
/// replaces the same key of `base`, so no key is given twice).
fn merged_sets(base: &[String], extra: &[String]) -> Vec<String> {
    let key = |s: &String| s.split('=').next().unwrap_or_default().to_string();
    let replaced: Vec<String> = extra.iter().map(key).collect();
    base.iter()
        .filter(|s| !replaced.contains(&key(s)))
        .chain(extra)
        .cloned()
        .collect()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Trains one (regime, seed) run; its stage file name.
fn train(bin: &Path, plan: &Plan, regime: &str, seed: u64, name: &str) -> Result<String> {
    let run = plan.out.join(name);
    stage(&plan.out, format!("{name}.train.json"), || {
        let mut args = strings(&[
            "train",
            "--data",
            &plan.data,
            "--model",
            &plan.model,
            "--regime",
            regime,
        ]);
        args.extend(strings(&[
            "--epochs",
            &plan.epochs.to_string(),
            "--seed",
            &seed.to_string(),
            "--device",
            &plan.device,
            "--run",
            &run.display().to_string(),
            "--json",
        ]));
        for s in &plan.train_set {
            args.extend(["--set".into(), s.clone()]);
        }
        if run.join("checkpoints").is_dir() {
            args.push("--resume".into());
        }
        run_json(bin, &args, &format!("training {name}"))
    })
}

/// PGD-10 (the paper's number), then APGD-CE and APGD-T on the images it
/// left standing: the per-image worst case beside it.
fn eval(bin: &Path, plan: &Plan, seed: u64, name: &str) -> Result<String> {
    let run = plan.out.join(name).display().to_string();
    stage(&plan.out, format!("{name}.eval-auto.json"), || {
        let args = [
            "eval",
            "--run",
            &run,
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
            &plan.attack_limit.to_string(),
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
    })
}

/// DS and accuracy under every perturbation kind and level.
fn sweep(bin: &Path, plan: &Plan, seed: u64, name: &str) -> Result<String> {
    let run = plan.out.join(name).display().to_string();
    stage(&plan.out, format!("{name}.sweep.json"), || {
        let args = [
            "sweep",
            "--run",
            &run,
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
    })
}

/// Figs. 1-2 (paper Sec. 2.2): the discontinuity fraction per photometric
/// kind and level, and one class's logits embedded in 2-D. Seed 0 also
/// keeps the embedding pictures (`--out`); the file names of those pictures
/// per method come back with the stage file.
fn discontinuity(
    bin: &Path,
    plan: &Plan,
    seed: u64,
    name: &str,
) -> Result<(String, serde_json::Map<String, Value>)> {
    let run = plan.out.join(name).display().to_string();
    let pictures_dir = format!("{name}.discontinuity");
    let keep_pictures = seed == 0;
    let file = stage(&plan.out, format!("{name}.discontinuity.json"), || {
        let mut args = strings(&[
            "probe",
            "discontinuity",
            "--run",
            &run,
            "--data",
            &plan.data,
            "--per-class",
            &plan.disc_per_class.to_string(),
            "--seed",
            &seed.to_string(),
            "--device",
            &plan.device,
            "--json",
        ]);
        if keep_pictures {
            args.extend([
                "--out".into(),
                plan.out.join(&pictures_dir).display().to_string(),
            ]);
        }
        run_json(bin, &args, &format!("discontinuity of {name}"))
    })?;
    let mut pictures = serde_json::Map::new();
    for method in ["pca", "tsne", "umap"] {
        let picture = format!("{pictures_dir}/embedding-{method}.png");
        if keep_pictures && plan.out.join(&picture).is_file() {
            pictures.insert(method.into(), json!(picture));
        }
    }
    Ok((file, pictures))
}

/// The companion paper's margins: the median L2 distance to the boundary
/// within each band of the 2-D DCT basis (subspace-constrained DeepFool).
fn margin(bin: &Path, plan: &Plan, name: &str) -> Result<String> {
    let run = plan.out.join(name).display().to_string();
    stage(&plan.out, format!("{name}.margin.json"), || {
        let mut args = strings(&[
            "probe",
            "margin",
            "--run",
            &run,
            "--data",
            &plan.data,
            "--per-class",
            &plan.margin_per_class.to_string(),
            "--device",
            &plan.device,
            "--json",
        ]);
        if let Some(k) = plan.margin_candidates {
            args.extend(["--candidates".into(), k.to_string()]);
        }
        if let Some(n) = plan.margin_max_iter {
            args.extend(["--max-iter".into(), n.to_string()]);
        }
        run_json(bin, &args, &format!("margins of {name}"))
    })
}

/// Fig. 4 at `seed`: one regime-C model per alpha (sc-bench resumes an
/// interrupted sweep itself), accuracy and continuity score per alpha.
fn alpha_sweep(bin: &Path, plan: &Plan, seed: u64) -> Result<String> {
    let run = plan.out.join(format!("alpha-s{seed}"));
    stage(&plan.out, format!("alpha-sweep-s{seed}.json"), || {
        let mut args = strings(&[
            "alpha-sweep",
            "--alphas",
            &plan.alphas,
            "--run",
            &run.display().to_string(),
            "--data",
            &plan.alpha_data,
            "--model",
            &plan.model,
            "--epochs",
            &plan.alpha_epochs.to_string(),
            "--seed",
            &seed.to_string(),
            "--per-class",
            &plan.alpha_per_class.to_string(),
            "--device",
            &plan.device,
            "--json",
        ]);
        // The sweep sets alpha itself.
        for s in merged_sets(&plan.train_set, &plan.alpha_set)
            .iter()
            .filter(|s| !s.starts_with("alpha="))
        {
            args.extend(["--set".into(), s.clone()]);
        }
        run_json(bin, &args, &format!("alpha sweep of seed {seed}"))
    })
}

/// Removes `dir`, the run directory of a stage whose JSON is missing: a
/// stage killed while training is redone from the start (fairness and
/// transfer train for seconds and refuse a directory that holds a run).
fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Table 4: `regime` trained with `seed` on the colour-biased set, then
/// measured on its test split.
fn fairness(bin: &Path, plan: &Plan, regime: &str, seed: u64, name: &str) -> Result<String> {
    let run = plan.out.join(format!("{name}.fairness"));
    stage(&plan.out, format!("{name}.fairness.json"), || {
        fresh_dir(&run)?;
        let mut args = strings(&[
            "fairness",
            "--data",
            &plan.fairness_data,
            "--run",
            &run.display().to_string(),
            "--regime",
            regime,
            "--model",
            &plan.model,
            "--epochs",
            &plan.fairness_epochs.to_string(),
            "--seed",
            &seed.to_string(),
            "--device",
            &plan.device,
            "--json",
        ]);
        for s in merged_sets(&plan.train_set, &plan.fairness_set) {
            args.extend(["--set".into(), s]);
        }
        run_json(bin, &args, &format!("fairness of {name}"))
    })
}

/// The training settings fine-tuning shares with the main runs (the
/// regime's own ones, alpha and PGD, do not apply to plain fine-tuning).
const TRANSFER_SETTINGS: [&str; 3] = ["batch_size=", "lr=", "schedule="];

/// Table 3: the run fine-tuned on the target, all layers, new final layer.
fn transfer(bin: &Path, plan: &Plan, seed: u64, name: &str) -> Result<String> {
    let run = plan.out.join(format!("{name}.transfer"));
    stage(&plan.out, format!("{name}.transfer.json"), || {
        fresh_dir(&run)?;
        let mut args = strings(&[
            "transfer",
            "--from",
            &plan.out.join(name).display().to_string(),
            "--data",
            &plan.transfer_data,
            "--run",
            &run.display().to_string(),
            "--epochs",
            &plan.transfer_epochs.to_string(),
            "--seed",
            &seed.to_string(),
            "--device",
            &plan.device,
            "--json",
        ]);
        let shared: Vec<String> = plan
            .train_set
            .iter()
            .filter(|s| TRANSFER_SETTINGS.iter().any(|k| s.starts_with(k)))
            .cloned()
            .collect();
        for s in merged_sets(&shared, &plan.transfer_set) {
            args.extend(["--set".into(), s]);
        }
        run_json(bin, &args, &format!("transfer of {name}"))
    })
}

/// The maps of `method`: its stage file and its picture.
fn attribute(bin: &Path, plan: &Plan, method: &str, name: &str) -> Result<(String, String)> {
    let run = plan.out.join(name).display().to_string();
    let picture = format!("{name}.{method}.png");
    let file = stage(&plan.out, format!("{name}.{method}.json"), || {
        let mut args = strings(&[
            "attribute",
            "--run",
            &run,
            "--data",
            &plan.data,
            "--method",
            method,
            "--limit",
            &plan.attr_limit.to_string(),
            "--out",
            &plan.out.join(&picture).display().to_string(),
            "--device",
            &plan.device,
            "--json",
        ]);
        if let (Some(steps), "ig") = (plan.ig_steps, method) {
            args.extend(["--steps".into(), steps.to_string()]);
        }
        let mut v = run_json(bin, &args, &format!("{method} maps of {name}"))?;
        // The per-image scores stay in the CSV beside the picture.
        if let Some(o) = v.as_object_mut() {
            o.remove("per_image");
        }
        Ok(v)
    })?;
    Ok((file, picture))
}

/// `git rev-parse HEAD` of `root`, `-dirty` when the tree has changes;
/// `None` outside a git checkout.
fn git_revision(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let rev = git(&["rev-parse", "HEAD"])?;
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}

/// The stage plan, printed before anything runs.
fn print_plan(plan: &Plan) {
    let runs = plan.seeds * REGIMES.len() as u64;
    eprintln!(
        "reproduce ({}): {} regimes x {} seeds = {runs} runs on {} ({}, {} epochs, device {}); \
         per run: train, eval (PGD-10 + APGD-CE + APGD-T on {} images, sanity checks on {}), \
         sweep ({} images, every kind and level), discontinuity ({} images per class), \
         margins per DCT band ({} images per class), transfer to {} ({} epochs), fairness for \
         base and c on {} ({} epochs), attribution ({} on {} images); alpha sweep ({} at \
         {} seed(s), {}, {} epochs); then \
         `sc-bench report` into {}",
        plan.name,
        REGIMES.len(),
        plan.seeds,
        plan.data,
        plan.model,
        plan.epochs,
        plan.device,
        plan.attack_limit,
        plan.sanity_samples,
        plan.eval_limit,
        plan.disc_per_class,
        plan.margin_per_class,
        plan.transfer_data,
        plan.transfer_epochs,
        plan.fairness_data,
        plan.fairness_epochs,
        ATTRIBUTIONS.join(", "),
        plan.attr_limit,
        plan.alphas,
        plan.alpha_seeds,
        plan.alpha_data,
        plan.alpha_epochs,
        plan.out.display()
    );
}

/// The value of `key=` in `--set` options, if given.
fn set_value<'a>(sets: &'a [String], key: &str) -> Option<&'a str> {
    sets.iter()
        .rev()
        .find_map(|s| s.strip_prefix(key)?.strip_prefix('='))
}

/// `sc-bench data info --json` of `data`: fails, with sc-bench's one-line
/// error, when the spec is wrong or the files are missing.
fn data_info(bin: &Path, data: &str) -> Result<Value> {
    run_json(
        bin,
        &["data", "info", "--data", data, "--json"],
        &format!("describing --data {data}"),
    )
}

/// Images of the training split the runs see (the set's size, or
/// `train_limit` when smaller) and the number of classes, from `info`
/// ([`data_info`]).
fn data_size(info: &Value, sets: &[String]) -> Result<(u64, usize)> {
    let split = if info["train"].is_null() {
        &info["test"]
    } else {
        &info["train"]
    };
    let count = split["count"]
        .as_u64()
        .context("`sc-bench data info` gave no image count")?;
    let classes = split["label_counts"]
        .as_array()
        .context("`sc-bench data info` gave no label counts")?
        .len();
    let limit = set_value(sets, "train_limit")
        .map(str::parse::<u64>)
        .transpose()?
        .filter(|&l| l > 0);
    Ok((limit.map_or(count, |l| l.min(count)), classes))
}

/// The estimated training time of the plan, in seconds, from the measured
/// images per second of one training step of the plan's model on its device
/// (`sc-bench speed`) and the cost of each regime in training steps: base
/// 1, C 2 (clean and perturbed batch), ADV 1 + 0.75k and ADV+C 2 + 0.75k (k
/// training PGD steps, each a forward and a backward pass to the input
/// without weight gradients or optimiser: 0.75 of a step; measured on
/// small-cnn with k = 2, C 1.8, ADV 2.5 and ADV+C 3.1 times base). Printed
/// before anything runs, so that a user sees what a plan costs on their
/// machine.
fn estimate_training(bin: &Path, plan: &Plan, info: &Value) -> Result<(f64, f64)> {
    let (n, classes) = data_size(info, &plan.train_set)?;
    let speed = run_json(
        bin,
        &[
            "speed",
            "--models",
            &plan.model,
            "--only",
            "a",
            "--reps",
            "3",
            "--batch",
            set_value(&plan.train_set, "batch_size").unwrap_or("64"),
            "--classes",
            &classes.to_string(),
            "--device",
            &plan.device,
            "--json",
        ],
        "timing a training step",
    )?;
    let per_s = speed["results"]
        .as_object()
        .and_then(|r| r.iter().find(|(k, _)| k.ends_with(".a_train")))
        .and_then(|(_, t)| t["images_per_s"].as_f64())
        .context("`sc-bench speed` gave no images_per_s for the training step")?;
    let k: f64 = set_value(&plan.train_set, "pgd_steps")
        .map_or(Ok(10.0), str::parse)
        .context("--set pgd_steps")?;
    let steps_per_seed = 1.0 + 2.0 + (1.0 + 0.75 * k) + (2.0 + 0.75 * k);
    let main = plan.seeds as f64 * plan.epochs as f64 * n as f64 * steps_per_seed;
    let alpha_info = if plan.alpha_data == plan.data {
        info.clone()
    } else {
        data_info(bin, &plan.alpha_data)?
    };
    let alpha_n = data_size(&alpha_info, &merged_sets(&plan.train_set, &plan.alpha_set))?.0;
    let alphas = plan.alphas.split(',').count() as f64;
    // Every alpha's model is a C run (alpha 0 included: its DS is measured).
    let sweep = plan.alpha_seeds as f64 * alphas * plan.alpha_epochs as f64 * alpha_n as f64 * 2.0;
    Ok(((main + sweep) / per_s, per_s))
}

/// Prints the wall time of every stage (summed per kind of stage) and the
/// total, from `timings.json`.
fn print_timings(timings: &serde_json::Map<String, Value>) {
    let mut per_stage: std::collections::BTreeMap<String, f64> = Default::default();
    for (file, secs) in timings {
        let stem = file.strip_suffix(".json").unwrap_or(file);
        let stage = stem.split_once('.').map_or(stem, |(_, stage)| stage);
        *per_stage.entry(stage.to_string()).or_default() += secs.as_f64().unwrap_or(0.0);
    }
    let total: f64 = per_stage.values().sum();
    eprintln!("wall time per stage (every run and seed, all invocations):");
    for (stage, secs) in &per_stage {
        eprintln!("  {stage:>16}: {secs:>8.0} s");
    }
    eprintln!(
        "  {:>16}: {total:>8.0} s ({:.1} min)",
        "total",
        total / 60.0
    );
}

/// Runs every stage not yet done, writes `study.json` and renders the report.
pub fn reproduce(root: &Path, bin: &Path, plan: &Plan) -> Result<()> {
    std::fs::create_dir_all(&plan.out).with_context(|| plan.out.display().to_string())?;
    print_plan(plan);
    // A wrong --data stops the study here, before any stage runs.
    let info = data_info(bin, &plan.data)?;
    match estimate_training(bin, plan, &info) {
        Ok((secs, per_s)) => eprintln!(
            "estimated training time: {:.0} min ({per_s:.0} images/s measured now for a {} \
             training step on {}; the other stages come on top: see the report's wall time \
             per stage)",
            secs / 60.0,
            plan.model,
            plan.device
        ),
        Err(e) => eprintln!("no time estimate: {e:#}"),
    }
    let started = std::time::Instant::now();
    let mut runs = Vec::new();
    for seed in 0..plan.seeds {
        for regime in REGIMES {
            let name = format!("{regime}-s{seed}");
            let train = train(bin, plan, regime, seed, &name)?;
            let eval = eval(bin, plan, seed, &name)?;
            let sweep = sweep(bin, plan, seed, &name)?;
            let (discontinuity, embedding_images) = discontinuity(bin, plan, seed, &name)?;
            let margin = margin(bin, plan, &name)?;
            let transfer = transfer(bin, plan, seed, &name)?;
            // Table 4 compares the plain regimes only (ResNet18 vs ResNet18C).
            let fairness = ["base", "c"]
                .contains(&regime)
                .then(|| fairness(bin, plan, regime, seed, &name))
                .transpose()?;
            let (mut attribution, mut pictures) = (serde_json::Map::new(), serde_json::Map::new());
            for method in ATTRIBUTIONS {
                let (file, picture) = attribute(bin, plan, method, &name)?;
                attribution.insert(method.into(), json!(file));
                if plan.out.join(&picture).is_file() {
                    pictures.insert(method.into(), json!(picture));
                }
            }
            runs.push(json!({
                "regime": regime, "seed": seed, "train": train, "eval": eval, "sweep": sweep,
                "attribution": attribution, "attribution_images": pictures,
                "discontinuity": discontinuity, "embedding_images": embedding_images,
                "transfer": transfer, "fairness": fairness, "margin": margin,
            }));
        }
    }
    let mut alpha_sweeps = Vec::new();
    for seed in 0..plan.alpha_seeds {
        alpha_sweeps.push(json!({"seed": seed, "file": alpha_sweep(bin, plan, seed)?}));
    }
    let manifest = json!({
        "title": format!("semcon: semantic continuity, reproduced ({} study)", plan.name),
        "command": plan.command,
        "git_revision": git_revision(root),
        "notes": plan.notes,
        "runs": runs,
        "alpha_sweeps": alpha_sweeps,
        "timings": read_timings(&plan.out),
    });
    crate::write_atomic(
        &plan.out.join("study.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    let out = Command::new(bin)
        .args(["report", &plan.out.display().to_string()])
        .status()
        .with_context(|| format!("running {} report", bin.display()))?;
    if !out.success() {
        bail!("sc-bench report {} failed ({out})", plan.out.display());
    }
    print_timings(&read_timings(&plan.out));
    eprintln!(
        "reproduce: {} in {:.0} s (this invocation)",
        plan.out.join("REPORT.md").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Held by every test that writes and runs a fake sc-bench: a fork by
    /// one test while another still holds its script open for writing makes
    /// the exec fail with "Text file busy" (ETXTBSY).
    pub(crate) static FAKE_BENCH: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A stand-in for sc-bench that logs its arguments, runs `extra` (a
    /// shell line) and prints `{}`.
    fn fake_bench(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let log = dir.join("calls.log");
        let bin = dir.join("fake-sc-bench");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\n{extra}\necho '{{}}'\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        (bin, log)
    }

    /// The stage calls of the log (the plan's estimate calls left out).
    fn calls(log: &Path) -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("data info ") && !l.starts_with("speed "))
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_rerun_redoes_only_the_removed_stage_then_the_report() {
        let dir = std::env::temp_dir().join(format!("xtask-reproduce-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _lock = FAKE_BENCH.lock().unwrap_or_else(|e| e.into_inner());
        let (bin, log) = fake_bench(&dir, "");
        let plan = Plan::smoke(dir.join("study"));
        reproduce(&dir, &bin, &plan).unwrap();
        // The estimate describes the data first (the fake's `{}` has no
        // image count, so the plan prints "no time estimate" and goes on).
        let log_text = std::fs::read_to_string(&log).unwrap();
        assert!(log_text.starts_with("data info --data shapes:n=256,test=100 --json"));
        let first = calls(&log);
        // 2 seeds x 4 regimes x (train, eval, sweep, discontinuity, margin,
        // transfer, ig, gradcam), fairness for base and c, one alpha sweep
        // + report.
        assert_eq!(first.len(), 2 * 4 * 8 + 2 * 2 + 1 + 1, "{first:#?}");
        let alpha: Vec<&String> = first
            .iter()
            .filter(|c| c.starts_with("alpha-sweep "))
            .collect();
        assert_eq!(alpha.len(), 1);
        // The sweep sets alpha itself: no --set alpha (sc-bench refuses it).
        assert!(
            alpha[0].contains("--alphas 0,0.1") && !alpha[0].contains("alpha=0.1"),
            "{}",
            alpha[0]
        );
        let fair: Vec<&String> = first
            .iter()
            .filter(|c| c.starts_with("fairness "))
            .collect();
        assert_eq!(fair.len(), 4);
        assert!(fair
            .iter()
            .all(|c| c.contains("--regime base") || c.contains("--regime c ")));
        let transfer: Vec<&String> = first
            .iter()
            .filter(|c| c.starts_with("transfer "))
            .collect();
        assert_eq!(transfer.len(), 8);
        // Fine-tuning takes the shared settings, not the regime's alpha.
        assert!(transfer
            .iter()
            .all(|c| c.contains("--set batch_size=32") && !c.contains("alpha")));
        // Seed 0 keeps the Fig. 2 pictures, seed 1 does not.
        let disc: Vec<&String> = first
            .iter()
            .filter(|c| c.starts_with("probe discontinuity "))
            .collect();
        assert_eq!(disc.len(), 8);
        for c in disc {
            assert!(c.contains("--per-class 8"), "{c}");
            assert_eq!(c.contains("--out "), c.contains("-s0"), "{c}");
        }
        assert!(first.last().unwrap().starts_with("report "));
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(plan.out.join("study.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["runs"].as_array().unwrap().len(), 8);
        assert_eq!(manifest["runs"][5]["sweep"], "c-s1.sweep.json");
        assert_eq!(
            manifest["runs"][5]["discontinuity"],
            "c-s1.discontinuity.json"
        );
        assert_eq!(manifest["runs"][5]["margin"], "c-s1.margin.json");
        let margin = first
            .iter()
            .find(|c| c.starts_with("probe margin "))
            .unwrap();
        assert!(
            margin.contains("--candidates 2") && margin.contains("--max-iter 5"),
            "{margin}"
        );
        assert_eq!(
            manifest["alpha_sweeps"],
            json!([{"seed": 0, "file": "alpha-sweep-s0.json"}])
        );
        // Every stage's wall time is in timings.json and in the manifest.
        let timings = read_timings(&plan.out);
        assert_eq!(timings.len(), first.len() - 1);
        assert!(timings.contains_key("adv-c-s1.gradcam.json"));
        assert_eq!(
            manifest["timings"].as_object().unwrap().len(),
            timings.len()
        );
        // No temporary file is left behind.
        assert!(std::fs::read_dir(&plan.out)
            .unwrap()
            .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".tmp") }));

        std::fs::remove_file(plan.out.join("c-s1.sweep.json")).unwrap();
        std::fs::remove_file(plan.out.join("adv-c-s1.discontinuity.json")).unwrap();
        // A fairness stage killed while training: its run directory is
        // there, its JSON is not; it is redone in a fresh directory.
        std::fs::remove_file(plan.out.join("c-s0.fairness.json")).unwrap();
        std::fs::remove_file(plan.out.join("alpha-sweep-s0.json")).unwrap();
        std::fs::create_dir_all(plan.out.join("c-s0.fairness/checkpoints")).unwrap();
        // A torn stage file (not JSON) is redone too, never trusted.
        std::fs::write(plan.out.join("adv-s0.ig.json"), "{\"trunc").unwrap();
        reproduce(&dir, &bin, &plan).unwrap();
        let second = calls(&log)[first.len()..].to_vec();
        assert_eq!(second.len(), 6, "{second:#?}");
        assert!(
            second[0].starts_with("fairness ") && second[0].contains("c-s0"),
            "{}",
            second[0]
        );
        assert!(!plan.out.join("c-s0.fairness/checkpoints").exists());
        assert!(
            second[1].starts_with("attribute ") && second[1].contains("adv-s0"),
            "{}",
            second[1]
        );
        assert!(
            second[2].starts_with("sweep ") && second[2].contains("c-s1"),
            "{}",
            second[2]
        );
        assert!(
            second[3].starts_with("probe discontinuity ") && second[3].contains("adv-c-s1"),
            "{}",
            second[3]
        );
        assert!(second[4].starts_with("alpha-sweep "), "{}", second[4]);
        assert!(second[5].starts_with("report "));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extra_options_replace_the_same_key_and_keep_the_rest() {
        let base = strings(&["batch_size=64", "alpha=0.1", "train_limit=0"]);
        let merged = merged_sets(&base, &strings(&["train_limit=128"]));
        assert_eq!(
            merged,
            strings(&["batch_size=64", "alpha=0.1", "train_limit=128"])
        );
        assert_eq!(set_value(&merged, "train_limit"), Some("128"));
        assert_eq!(set_value(&merged, "train"), None);
        assert_eq!(set_value(&merged, "lr"), None);
    }

    #[test]
    fn the_medium_plans_take_any_data_and_mnist_from_the_given_folder() {
        let mnist = Path::new("/d/mnist");
        let plan = Plan::medium("out".into(), "folder:/d/cifar", mnist);
        assert_eq!(
            (plan.data.as_str(), plan.alpha_data.as_str()),
            ("folder:/d/cifar", "folder:/d/cifar")
        );
        assert_eq!(
            plan.fairness_data,
            "convert:colorful-mnist:/d/mnist,resize=32"
        );
        assert_eq!(
            plan.transfer_data,
            "convert:mnist:/d/mnist,channels=3,resize=32"
        );
        assert!(plan.seeds >= 3);
        let smoke = Plan::smoke_medium("out".into(), "folder:/d/cifar", mnist);
        assert_eq!(smoke.data, "folder:/d/cifar");
        assert_eq!(smoke.transfer_data, plan.transfer_data);
        assert_eq!(set_value(&smoke.train_set, "train_limit"), Some("256"));
        assert_eq!(set_value(&smoke.fairness_set, "train_limit"), Some("128"));
        assert_eq!(smoke.epochs, 1);
    }

    #[test]
    fn a_data_spec_sc_bench_cannot_read_stops_the_study_before_any_stage() {
        let dir = std::env::temp_dir().join(format!("xtask-bad-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let _lock = FAKE_BENCH.lock().unwrap_or_else(|e| e.into_inner());
        let (bin, log) = fake_bench(&dir, "[ \"$1\" = data ] && exit 1");
        let plan = Plan::full(dir.join("study"), "/no/kind/given");
        let e = reproduce(&dir, &bin, &plan).unwrap_err().to_string();
        assert!(e.contains("describing --data /no/kind/given"), "{e}");
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(log.lines().count(), 1, "{log}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
