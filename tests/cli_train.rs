//! Training from the command line: determinism, kill-and-resume, the effect
//! of the continuity term and of adversarial training, and bad input.
//! Runs are tiny (16x16 shapes) so the suite stays fast.

use crate::{json_of, sc_bench};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

const DATA: &str = "shapes:n=640,test=200,size=16,seed=3";

fn train(run: &Path, regime: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--data",
        DATA,
        "--model",
        "small-cnn",
        "--regime",
        regime,
        "--batch-size",
        "64",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ];
    if !extra.contains(&"--epochs") {
        args.extend(["--epochs", "2"]);
    }
    if !extra.contains(&"--seed") {
        args.extend(["--seed", "7"]);
    }
    args.extend_from_slice(extra);
    json_of(&sc_bench(&args))
}

fn final_weights(run: &Path) -> HashMap<String, Tensor> {
    let dir = run.join("checkpoints");
    let mut stems: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .collect();
    stems.sort();
    let last = stems.last().expect("a checkpoint");
    candle_core::safetensors::load(dir.join(format!("{last}.safetensors")), &Device::Cpu).unwrap()
}

fn assert_same_weights(a: &HashMap<String, Tensor>, b: &HashMap<String, Tensor>) {
    assert_eq!(a.len(), b.len());
    for (name, ta) in a {
        let tb = &b[name];
        let va: Vec<f32> = ta
            .flatten_all()
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        let vb: Vec<f32> = tb
            .flatten_all()
            .unwrap()
            .to_dtype(candle_core::DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(
            va.iter().zip(&vb).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs"
        );
    }
}

#[test]
fn same_seed_same_config_gives_bit_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let ra = train(&a, "c", &["--epochs", "1"]);
    let rb = train(&b, "c", &["--epochs", "1"]);
    assert_eq!(ra["test_accuracy"], rb["test_accuracy"]);
    assert_same_weights(&final_weights(&a), &final_weights(&b));
    let c = dir.path().join("c");
    train(&c, "c", &["--epochs", "1", "--seed", "8"]);
    let (wa, wc) = (final_weights(&a), final_weights(&c));
    let differs = wa.iter().any(|(k, t)| {
        let x: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap_or_default();
        let y: Vec<f32> = wc[k].flatten_all().unwrap().to_vec1().unwrap_or_default();
        x != y
    });
    assert!(differs, "another seed gave the same weights");
}

#[test]
fn a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let cut = dir.path().join("cut");
    let extra = ["--set", "checkpoint_every=3", "--set", "pgd_steps=2"];
    train(&whole, "adv-c", &extra);

    let mut args: Vec<String> = [
        "train",
        "--data",
        DATA,
        "--model",
        "small-cnn",
        "--regime",
        "adv-c",
        "--epochs",
        "2",
        "--batch-size",
        "64",
        "--seed",
        "7",
        "--run",
        cut.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sc-bench"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once a mid-epoch checkpoint exists (10 steps per epoch).
    let ck = cut.join("checkpoints");
    let started = std::time::Instant::now();
    loop {
        let has_mid = std::fs::read_dir(&ck)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy() == "step-0000000006.json")
            })
            .unwrap_or(false);
        if has_mid {
            break;
        }
        assert!(started.elapsed().as_secs() < 300, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // No torn checkpoint: every JSON has its weights and optimiser state.
    for e in std::fs::read_dir(&ck).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            assert!(ck.join(format!("{stem}.safetensors")).exists());
            assert!(ck.join(format!("{stem}.optim.safetensors")).exists());
        }
    }
    let resumed = train(
        &cut,
        "adv-c",
        &[
            "--set",
            "checkpoint_every=3",
            "--set",
            "pgd_steps=2",
            "--resume",
        ],
    );
    assert_eq!(resumed["global_steps"], 20);
    assert_same_weights(&final_weights(&whole), &final_weights(&cut));
    let lines = std::fs::read_to_string(cut.join("metrics.jsonl")).unwrap();
    assert_eq!(
        lines
            .lines()
            .filter(|l| l.contains("\"kind\":\"epoch\""))
            .count(),
        2
    );
}

/// The last line of stderr that starts with `error:` (clap's usage lines follow it).
fn error_line(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    err.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {err}"))
        .to_string()
}

fn base_run(run: &Path, data: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--data",
        data,
        "--run",
        run.to_str().unwrap(),
        "--json",
    ];
    for (flag, default) in [("--batch-size", "64"), ("--seed", "7")] {
        if !extra.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    args.extend_from_slice(extra);
    sc_bench(&args)
}

#[test]
fn resume_keeps_the_stored_config_and_only_epochs_may_grow() {
    let dir = tempfile::tempdir().unwrap();
    let (cut, whole) = (dir.path().join("cut"), dir.path().join("whole"));
    let constant = ["--set", "schedule=\"constant\""];
    json_of(&base_run(
        &cut,
        DATA,
        &[&constant[..], &["--epochs", "1"]].concat(),
    ));
    let stored = std::fs::read_to_string(cut.join("config.toml")).unwrap();

    // A changed learning rate is refused, naming the key and both values,
    // and the stored configuration is left as it was.
    let line = error_line(&base_run(&cut, DATA, &["--resume", "--lr", "0.5"]));
    assert!(
        line.contains("`lr`") && line.contains("0.003") && line.contains("0.5"),
        "{line}"
    );
    let line = error_line(&base_run(&cut, DATA, &["--resume", "--set", "alpha=2"]));
    assert!(
        line.contains("`alpha`") && line.contains("1.0") && line.contains("2.0"),
        "{line}"
    );
    assert_eq!(
        std::fs::read_to_string(cut.join("config.toml")).unwrap(),
        stored
    );

    // More epochs continue from the stored config (no flag repeated) and end
    // where an uninterrupted run of that length ends.
    let resumed = json_of(&base_run(&cut, DATA, &["--resume", "--epochs", "2"]));
    assert_eq!(resumed["global_steps"], 20);
    json_of(&base_run(
        &whole,
        DATA,
        &[&constant[..], &["--epochs", "2"]].concat(),
    ));
    assert_same_weights(&final_weights(&whole), &final_weights(&cut));
    let now = std::fs::read_to_string(cut.join("config.toml")).unwrap();
    assert!(
        now.contains("epochs = 2") && now.contains("lr = 0.003"),
        "{now}"
    );

    // A cosine schedule spreads the rate over all epochs: it refuses.
    let cosine = dir.path().join("cosine");
    let tiny = "shapes:n=64,test=16,size=16";
    json_of(&base_run(&cosine, tiny, &["--epochs", "1"]));
    let line = error_line(&base_run(&cosine, tiny, &["--resume", "--epochs", "2"]));
    assert!(
        line.contains("cosine") && line.contains("epochs = 2"),
        "{line}"
    );
}

#[test]
fn a_final_batch_of_one_image_is_dropped_and_the_run_trains_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let data = "shapes:n=129,test=20,size=16";
    let first = json_of(&base_run(
        &run,
        data,
        &[
            "--epochs",
            "1",
            "--set",
            "schedule=\"constant\"",
            "--set",
            "checkpoint_every=1",
        ],
    ));
    assert_eq!(
        first["global_steps"], 2,
        "129 images in batches of 64: 64 + 64, the last one dropped"
    );
    let resumed = json_of(&base_run(&run, data, &["--resume", "--epochs", "2"]));
    assert_eq!(resumed["global_steps"], 4);
    assert!(resumed["test_accuracy"].as_f64().unwrap().is_finite());
    let line = error_line(&base_run(
        &dir.path().join("one"),
        data,
        &["--batch-size", "1"],
    ));
    assert!(
        line.contains("batch_size = 1") && line.contains("at least 2"),
        "{line}"
    );
}

#[test]
fn init_starts_from_a_runs_weights_and_a_bad_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = "shapes:n=64,test=16,size=16";
    let source = dir.path().join("source");
    json_of(&base_run(&source, data, &["--epochs", "1"]));
    // At a vanishing learning rate the trained parameters stay the init's
    // (Adam moves each by ~lr); a fresh start at the same rate does not.
    let tiny_lr = [
        "--epochs",
        "1",
        "--lr",
        "1e-30",
        "--set",
        "schedule=\"constant\"",
    ];
    let tuned = dir.path().join("tuned");
    let report = json_of(&base_run(
        &tuned,
        data,
        &[
            &tiny_lr[..],
            &["--init", source.to_str().unwrap(), "--seed", "8"],
        ]
        .concat(),
    ));
    let weights = report["init"]["weights"].as_str().unwrap();
    assert!(
        weights.contains("source") && weights.ends_with(".safetensors"),
        "{weights}"
    );
    assert!(report["init"]["replaced_head"].is_null());
    let fresh = dir.path().join("fresh");
    json_of(&base_run(
        &fresh,
        data,
        &[&tiny_lr[..], &["--seed", "8"]].concat(),
    ));
    let (src, tuned, fresh) = (
        final_weights(&source),
        final_weights(&tuned),
        final_weights(&fresh),
    );
    let max_diff = |a: &HashMap<String, Tensor>, b: &HashMap<String, Tensor>| {
        a.iter()
            .filter(|(k, _)| !k.contains("running_"))
            .map(|(k, t)| {
                let f = |t: &Tensor| -> Vec<f32> {
                    t.to_dtype(candle_core::DType::F32)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1()
                        .unwrap()
                };
                f(t).iter()
                    .zip(f(&b[k]))
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max)
            })
            .fold(0f32, f32::max)
    };
    assert!(max_diff(&src, &tuned) < 1e-20, "{}", max_diff(&src, &tuned));
    assert!(max_diff(&src, &fresh) > 1e-3);

    let missing = dir.path().join("no-such-run");
    let out = base_run(
        &dir.path().join("x"),
        data,
        &["--init", missing.to_str().unwrap()],
    );
    let line = error_line(&out);
    assert!(
        line.contains("no-such-run") && line.contains("no such file"),
        "{line}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1
    );
}

/// A brief study on 16x16 shapes over three seeds, each claim a property
/// that must hold on every seed: C lowers the held-out DS against base while
/// it still learns (accuracy at least twice chance: a collapsed,
/// near-constant model also has a small DS); ADV, fine-tuned from the base
/// model as in the paper's setting, is more robust to PGD than that base
/// model; on one seed, the worst case is at most PGD, PGD at most FGSM,
/// every sanity check of the worst-case evaluation passes, and the sweep
/// runs on the result.
///
/// Sized by measurement: 160 steps (1,280 images, 2 epochs, batch 16) take
/// base to 25-35% test accuracy; ADV from scratch at that budget stays at
/// base's PGD accuracy, while one epoch of adversarial fine-tuning doubles
/// it. C uses the quick study's alpha = 0.1 (see xtask's quick plan).
///
/// The DS bound (C below 0.7x base) is not the earlier test's 0.5x: that one
/// trained C with alpha = 1 for 10 epochs and never checked that C learned
/// (at alpha = 1 it did not). At alpha = 0.1 and this budget the measured
/// ratios were 0.48, 0.62 and 0.52 on the three seeds, so 0.7 was chosen from
/// them; "learned" means at least twice chance (measured 0.28-0.32).
#[test]
fn a_brief_study_shows_the_papers_effects() {
    let dir = tempfile::tempdir().unwrap();
    let data = "shapes:n=1280,test=200,size=16,seed=3";
    let run = |name: &str, regime: &str, seed: &str, extra: &[&str]| -> serde_json::Value {
        let path = dir.path().join(name);
        let mut args = vec![
            "train",
            "--data",
            data,
            "--regime",
            regime,
            "--batch-size",
            "16",
            "--seed",
            seed,
            "--run",
            path.to_str().unwrap(),
            "--json",
        ];
        if !extra.contains(&"--epochs") {
            args.extend(["--epochs", "2"]);
        }
        args.extend_from_slice(extra);
        json_of(&sc_bench(&args))
    };
    let eval = |name: &str, attack: &str, extra: &[&str]| -> serde_json::Value {
        let path = dir.path().join(name);
        let mut args = vec![
            "eval",
            "--run",
            path.to_str().unwrap(),
            "--data",
            data,
            "--attack",
            attack,
            "--json",
        ];
        args.extend_from_slice(extra);
        json_of(&sc_bench(&args))
    };
    let chance = 0.1;
    for seed in ["0", "1", "2"] {
        let base = run(&format!("base-{seed}"), "base", seed, &[]);
        let c = run(&format!("c-{seed}"), "c", seed, &["--alpha", "0.1"]);
        let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
        let (ds_base, ds_c) = (f(&base, "heldout_ds"), f(&c, "heldout_ds"));
        let (acc_base, acc_c) = (f(&base, "test_accuracy"), f(&c, "test_accuracy"));
        eprintln!("seed {seed}: held-out DS base {ds_base:.4}, c {ds_c:.4}; accuracy base {acc_base:.3}, c {acc_c:.3}");
        assert!(
            acc_base >= 2.0 * chance,
            "seed {seed}: base did not learn: {acc_base}"
        );
        assert!(
            acc_c >= 2.0 * chance,
            "seed {seed}: C did not learn: {acc_c}"
        );
        assert!(
            ds_c < 0.7 * ds_base,
            "seed {seed}: C did not lower DS: base {ds_base}, c {ds_c}"
        );
        assert!(base["train_adv_accuracy"].is_null());

        let base_dir = dir.path().join(format!("base-{seed}"));
        let adv = run(
            &format!("adv-{seed}"),
            "adv",
            seed,
            &[
                "--init",
                base_dir.to_str().unwrap(),
                "--epochs",
                "1",
                "--set",
                "pgd_steps=2",
                "--set",
                "pgd_step=\"4/255\"",
            ],
        );
        // ADV reports clean and PGD training accuracy under their own names.
        let (clean, pgd) = (f(&adv, "train_accuracy"), f(&adv, "train_adv_accuracy"));
        assert!((0.0..=1.0).contains(&clean) && (0.0..=1.0).contains(&pgd));
        let metrics =
            std::fs::read_to_string(dir.path().join(format!("adv-{seed}/metrics.jsonl"))).unwrap();
        assert!(
            metrics.contains("\"train_adv_accuracy\":0.")
                || metrics.contains("\"train_adv_accuracy\":1"),
            "{metrics}"
        );
        let pgd_base = eval(&format!("base-{seed}"), "pgd", &["--no-sanity"]);
        let pgd_adv = eval(&format!("adv-{seed}"), "pgd", &["--no-sanity"]);
        let (pb, pa) = (f(&pgd_base, "adv_accuracy"), f(&pgd_adv, "adv_accuracy"));
        eprintln!("seed {seed}: PGD-10 accuracy base {pb:.3}, adv {pa:.3}");
        assert!(
            pa > pb + 0.03,
            "seed {seed}: ADV is not more robust: base {pb}, adv {pa}"
        );
    }

    // The worst-case evaluation: its sanity checks must all pass (a PGD-only
    // evaluation may rightly fail `apgd-no-weaker` when APGD breaks images
    // PGD left standing; that is the check doing its job, not a property of
    // the model).
    let auto_base = eval("base-0", "auto", &["--sanity-samples", "100"]);
    let fgsm_base = eval("base-0", "fgsm", &["--no-sanity"]);
    let clean = auto_base["clean_accuracy"].as_f64().unwrap();
    let pb = auto_base["attacks"][0]["accuracy"].as_f64().unwrap();
    let robust = auto_base["robust_accuracy"].as_f64().unwrap();
    let fb = fgsm_base["adv_accuracy"].as_f64().unwrap();
    eprintln!("base: clean {clean:.3}, FGSM {fb:.3}, PGD-10 {pb:.3}, worst case {robust:.3}");
    assert_eq!(auto_base["attacks"][0]["name"], "pgd");
    assert_eq!(auto_base["upper_bound"], false);
    assert!(
        pb < 0.5 * clean,
        "PGD barely lowers accuracy: clean {clean}, pgd {pb}"
    );
    assert!(
        robust <= pb && pb <= fb && fb < clean,
        "expected worst case <= PGD <= FGSM < clean: {robust}, {pb}, {fb}, {clean}"
    );
    let checks = auto_base["sanity"].as_array().unwrap();
    assert!(checks.len() >= 5, "{checks:?}");
    for check in checks {
        assert_eq!(check["passed"], true, "sanity check failed: {check}");
    }

    let sweep = json_of(&sc_bench(&[
        "sweep",
        "--run",
        dir.path().join("c-0").to_str().unwrap(),
        "--data",
        data,
        "--kinds",
        "all",
        "--limit",
        "100",
        "--json",
    ]));
    let entries = sweep["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7 * 4);
    let ds = |kind: &str, level: u64| {
        entries
            .iter()
            .find(|e| e["kind"] == kind && e["level"] == level)
            .unwrap()["mean_ds"]
            .as_f64()
            .unwrap()
    };
    assert!(
        ds("brightness", 4) > ds("brightness", 1),
        "DS does not grow with brightness"
    );
}

#[test]
fn bad_training_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let r = run.to_str().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "learning_rate = 0.1\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    for (args, needle) in [
        (vec!["--config", cfg], "learning_rate"),
        (vec!["--set", "epochs=\"five\""], "epochs"),
        (vec!["--alpha", "-1"], "alpha"),
        (vec!["--regime", "fancy"], "fancy"),
        (vec!["--model", "vgg"], "vgg"),
        (vec!["--set", "batch_size=1"], "batch_size"),
        (vec!["--set", "crop_padding=16"], "crop_padding"),
        (vec!["--set", "nope=1"], "nope"),
        (vec!["--regime", "c", "--alpha", "1e300"], "the loss is"),
    ] {
        let mut all = vec![
            "train",
            "--data",
            "shapes:n=64,test=16,size=16",
            "--epochs",
            "1",
            "--run",
            r,
        ];
        all.extend(args.iter().copied());
        let out = sc_bench(&all);
        assert!(!out.status.success(), "{all:?} succeeded");
        let line = error_line(&out);
        assert!(line.contains(needle), "{all:?}: {line}");
        let _ = std::fs::remove_dir_all(&run);
    }
    // A run directory holding another model's checkpoint.
    json_of(&sc_bench(&[
        "train",
        "--data",
        "shapes:n=64,test=16,size=16",
        "--epochs",
        "1",
        "--run",
        r,
        "--json",
    ]));
    let out = sc_bench(&[
        "train",
        "--data",
        "shapes:n=64,test=16,size=16",
        "--epochs",
        "2",
        "--model",
        "resnet18",
        "--run",
        r,
        "--resume",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("small-cnn") && err.contains("resnet18"),
        "{err}"
    );
    let out = sc_bench(&[
        "train",
        "--data",
        "shapes:n=64,test=16,size=16",
        "--epochs",
        "1",
        "--run",
        r,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}
