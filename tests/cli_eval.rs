//! `sc-bench eval`: bad input, flags that do not apply, the ensemble's
//! JSON, `--strict`. (Its results on a trained model are checked by
//! `cli_train::a_brief_study_shows_the_papers_effects`.)

use crate::{json_of, sc_bench};
use std::path::{Path, PathBuf};

const DATA: &str = "shapes:n=32,test=8,size=16";

/// A one-epoch small-cnn run in `dir`, and its weights file.
fn trained(dir: &Path) -> (PathBuf, PathBuf) {
    let run = dir.join("r");
    json_of(&sc_bench(&[
        "train",
        "--data",
        DATA,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]));
    let ck = run.join("checkpoints");
    let stem = std::fs::read_dir(&ck)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .next()
        .unwrap();
    (run, ck.join(format!("{stem}.safetensors")))
}

#[test]
fn flags_that_do_not_apply_to_the_attack_are_errors() {
    // Checked before any data or model is loaded.
    let base = ["eval", "--run", "/nonexistent/run", "--data", DATA];
    for (attack, flag, value) in [
        ("deepfool", "--restarts", "2"),
        ("deepfool", "--eps", "8/255"),
        ("deepfool", "--step-size", "1/255"),
        ("deepfool", "--targets", "3"),
        ("fgsm", "--steps", "10"),
        ("fgsm", "--restarts", "2"),
        ("fgsm", "--step-size", "1/255"),
        ("apgd-ce", "--step-size", "1/255"),
        ("apgd-t", "--step-size", "1/255"),
        ("pgd", "--targets", "3"),
        ("apgd-ce", "--targets", "3"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--attack", attack, flag, value]);
        crate::fails(&args, &[flag, attack]);
    }
    for (extra, needles) in [
        (
            vec!["--sanity-samples", "0"],
            vec!["--sanity-samples", "at least 1"],
        ),
        (
            vec!["--no-sanity", "--sanity-samples", "5"],
            vec!["--sanity-samples", "--no-sanity"],
        ),
        (
            vec!["--no-sanity", "--strict"],
            vec!["--strict", "--no-sanity"],
        ),
        (
            vec!["--no-sanity", "--apgd-steps", "5"],
            vec!["--apgd-steps", "pgd"],
        ),
        (
            vec!["--attack", "auto", "--targets", "0"],
            vec!["--targets", "at least 1"],
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra.iter().copied());
        crate::fails(&args, &needles);
    }
    // An unknown attack is rejected by clap's typed parser, which lists the
    // possible values on lines of their own.
    let mut args = base.to_vec();
    args.extend(["--attack", "autoattack"]);
    let out = sc_bench(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.lines().next().unwrap().contains("'autoattack'"),
        "{err}"
    );
    assert!(err.contains("apgd-t") && err.contains("auto"), "{err}");
}

#[test]
fn auto_reports_the_worst_case_and_each_attack_and_pgd_says_it_is_an_upper_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = trained(dir.path());
    let run = run.to_str().unwrap();
    let auto = json_of(&sc_bench(&[
        "eval",
        "--run",
        run,
        "--data",
        DATA,
        "--attack",
        "auto",
        "--apgd-steps",
        "10",
        "--json",
    ]));
    for key in [
        "clean_accuracy",
        "robust_accuracy",
        "attacks",
        "sanity",
        "upper_bound",
    ] {
        assert!(auto.get(key).is_some(), "no {key}: {auto}");
    }
    assert_eq!(auto["upper_bound"], false);
    let attacks = auto["attacks"].as_array().unwrap();
    let names: Vec<&str> = attacks
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pgd", "apgd-ce", "apgd-t"]);
    // Accuracy after each attack never rises, and the last is the worst case.
    let mut prev = auto["clean_accuracy"].as_f64().unwrap();
    for a in attacks {
        let acc = a["accuracy"].as_f64().unwrap();
        assert!(acc <= prev, "{attacks:?}");
        assert!(a["attacked"].as_u64().is_some() && a["seconds"].as_f64().is_some());
        prev = acc;
    }
    assert_eq!(auto["robust_accuracy"].as_f64().unwrap(), prev);
    let checks = auto["sanity"].as_array().unwrap();
    assert_eq!(checks.len(), 6, "{checks:?}");
    for c in checks {
        assert!(!c["values"].as_object().unwrap().is_empty(), "{c}");
    }

    let out = sc_bench(&["eval", "--run", run, "--data", DATA, "--no-sanity"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("upper bound"), "{text}");
    let pgd = json_of(&sc_bench(&[
        "eval",
        "--run",
        run,
        "--data",
        DATA,
        "--no-sanity",
        "--json",
    ]));
    assert_eq!(pgd["upper_bound"], true);
    assert_eq!(pgd["attacks"].as_array().unwrap().len(), 1);
    // auto's first attack is this PGD on the same images and seed.
    assert_eq!(pgd["robust_accuracy"], attacks[0]["accuracy"]);
}

#[test]
fn strict_exits_non_zero_naming_the_failed_checks() {
    // A constant model (all weights zero): no gradient anywhere, and even an
    // eps that reaches every image leaves the images of class 0 standing,
    // so large-eps fails.
    let dir = tempfile::tempdir().unwrap();
    let (_, weights) = trained(dir.path());
    let dev = candle_core::Device::Cpu;
    let tensors = candle_core::safetensors::load(&weights, &dev).unwrap();
    let zeroed: std::collections::HashMap<String, candle_core::Tensor> = tensors
        .into_iter()
        .map(|(k, t)| {
            // The input normalisation stays: its std must be positive.
            let t = if k.starts_with("normalize.") {
                t
            } else {
                t.zeros_like().unwrap()
            };
            (k, t)
        })
        .collect();
    let constant = dir.path().join("constant.safetensors");
    candle_core::safetensors::save(&zeroed, &constant).unwrap();
    let w = constant.to_str().unwrap();
    let args = [
        "eval",
        "--model",
        "small-cnn",
        "--weights",
        w,
        "--data",
        DATA,
        "--json",
    ];
    let lenient = json_of(&sc_bench(&args));
    assert_eq!(lenient["sanity_passed"], false, "{lenient}");
    let mut strict = args.to_vec();
    strict.push("--strict");
    let out = sc_bench(&strict);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("error: --strict") && last.contains("large-eps"),
        "{err}"
    );
    // The report is still printed before the error.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sanity_passed"], false);
}

#[test]
fn bad_model_and_attack_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    // A valid small-cnn weights file, then loaded as another architecture.
    let (run, trained_weights) = trained(dir.path());
    std::fs::copy(trained_weights, &weights).unwrap();
    let w = weights.to_str().unwrap();
    let r = run.to_str().unwrap();
    let data = DATA;
    for (args, needles) in [
        (
            vec!["--model", "vgg", "--weights", w],
            vec!["vgg", "small-cnn"],
        ),
        (
            vec!["--model", "resnet18", "--weights", w],
            vec!["w.safetensors", "conv1.weight"],
        ),
        (vec!["--run", r, "--eps=-1/255"], vec!["eps"]),
        (vec!["--run", r, "--steps", "0"], vec!["steps"]),
        (vec!["--run", "/nonexistent/run"], vec!["/nonexistent/run"]),
    ] {
        let mut all = vec!["eval", "--data", data];
        all.extend(args.iter().copied());
        let out = sc_bench(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{all:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{all:?}: {err:?} lacks {n:?}");
        }
    }
    // The file written by the trainer loads as small-cnn weights and evaluates.
    let ok = json_of(&sc_bench(&[
        "eval",
        "--model",
        "small-cnn",
        "--weights",
        w,
        "--data",
        data,
        "--no-sanity",
        "--json",
    ]));
    assert_eq!(ok["n"], 8);
}
