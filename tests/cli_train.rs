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

/// One brief study on 16x16 shapes, shared by several claims to keep the
/// suite fast: C lowers DS, ADV raises PGD accuracy, PGD is stronger than
/// FGSM with every sanity check passing, and the sweep runs on the result.
#[test]
fn a_brief_study_shows_the_papers_effects() {
    let dir = tempfile::tempdir().unwrap();
    let data = "shapes:n=1280,test=400,size=16,seed=3";
    let run = |regime: &str, extra: &[&str]| -> serde_json::Value {
        let path = dir.path().join(regime);
        let mut args = vec![
            "train",
            "--data",
            data,
            "--regime",
            regime,
            "--epochs",
            "10",
            "--batch-size",
            "32",
            "--lr",
            "0.003",
            "--seed",
            "1",
            "--run",
            path.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        json_of(&sc_bench(&args))
    };
    let base = run("base", &[]);
    let c = run("c", &[]);
    let (ds_base, ds_c) = (
        base["heldout_ds"].as_f64().unwrap(),
        c["heldout_ds"].as_f64().unwrap(),
    );
    eprintln!("held-out DS: base {ds_base:.4}, c {ds_c:.4}");
    assert!(
        ds_c < 0.5 * ds_base,
        "C did not lower DS: base {ds_base}, c {ds_c}"
    );

    run(
        "adv",
        &["--set", "pgd_steps=2", "--set", "pgd_step=\"4/255\""],
    );
    let eval = |regime: &str, attack: &str, extra: &[&str]| -> serde_json::Value {
        let path = dir.path().join(regime);
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
    let pgd_base = eval(
        "base",
        "pgd",
        &["--sanity-samples", "100", "--apgd-steps", "50"],
    );
    let pgd_adv = eval("adv", "pgd", &["--no-sanity"]);
    let fgsm_base = eval("base", "fgsm", &["--no-sanity"]);
    let clean = pgd_base["clean_accuracy"].as_f64().unwrap();
    let (pb, pa) = (
        pgd_base["adv_accuracy"].as_f64().unwrap(),
        pgd_adv["adv_accuracy"].as_f64().unwrap(),
    );
    let fb = fgsm_base["adv_accuracy"].as_f64().unwrap();
    eprintln!(
        "base: clean {clean:.3}, FGSM {fb:.3}, PGD-10 {pb:.3}; adv: clean {}, PGD-10 {pa:.3}",
        pgd_adv["clean_accuracy"]
    );
    assert!(clean > 0.3, "the base model did not learn: {clean}");
    assert!(
        pb < 0.5 * clean,
        "PGD barely lowers accuracy: clean {clean}, pgd {pb}"
    );
    assert!(
        pb <= fb && fb < clean,
        "expected PGD <= FGSM < clean: {pb}, {fb}, {clean}"
    );
    assert!(
        pa > pb + 0.02,
        "ADV is not more robust: base {pb}, adv {pa}"
    );
    let checks = pgd_base["sanity"].as_array().unwrap();
    assert!(checks.len() >= 5, "{checks:?}");
    for check in checks {
        assert_eq!(check["passed"], true, "sanity check failed: {check}");
    }

    let sweep = json_of(&sc_bench(&[
        "sweep",
        "--run",
        dir.path().join("c").to_str().unwrap(),
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
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?} succeeded");
        let last = err.trim_end().lines().last().unwrap_or("");
        assert!(
            last.starts_with("error:") && last.contains(needle),
            "{all:?}: {err}"
        );
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
