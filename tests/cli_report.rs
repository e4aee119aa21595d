//! `sc-bench report STUDY_DIR` on a study generated here: synthetic stage
//! files of 4 regimes x 3 seeds whose effects are known, so the claims
//! table's verdicts are known too.

use crate::{json_of, sc_bench};
use serde_json::{json, Value};
use std::path::Path;

const REGIMES: [&str; 4] = ["base", "c", "adv", "adv-c"];

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn meta(seed: u64) -> Value {
    json!({"seed": seed, "device": "cpu", "semcon_version": "0.1.0",
           "config_sha256": "ab".repeat(32), "checkpoint": "step-0000000010",
           "checkpoint_sha256": "cd".repeat(32)})
}

/// A study where C's DS is half of base's on every seed (C1 holds for
/// c - base), ADV+C is 10 points *less* robust than ADV on every seed (C6
/// contradicted for adv-c - adv), and C's robust accuracy is noise around
/// base's (C6 inconclusive for c - base).
fn synthetic_study(dir: &Path) {
    let mut runs = Vec::new();
    for seed in 0..3u64 {
        let jitter = [0.0, 0.013, -0.008][seed as usize];
        for regime in REGIMES {
            let name = format!("{regime}-s{seed}");
            let ds_scale = match regime {
                "c" => 0.5,
                "adv-c" => 0.9,
                _ => 1.0,
            } * (1.0 + 10.0 * jitter);
            let robust = match regime {
                "base" => 0.05 + jitter,
                "c" => 0.05 + [0.01, -0.02, 0.012][seed as usize],
                "adv" => 0.45 + jitter,
                _ => 0.35 + jitter,
            };
            let mut config = json!({
                "data": "shapes:n=6000,test=1000", "model": "small-cnn", "regime": regime,
                "alpha": 0.1, "continuity": "ds", "augment_level": 2, "augment": "one-of",
                "crop_padding": 0, "hflip": false, "epochs": 10, "batch_size": 64, "lr": 0.003,
                "optimizer": "adam", "momentum": 0.9, "nesterov": false, "weight_decay": 0.0,
                "schedule": "cosine", "step_epochs": 1, "step_gamma": 0.1, "grad_clip": 0.0,
                "seed": seed, "normalize": "data", "pgd_eps": 8.0 / 255.0, "pgd_step": 4.0 / 255.0,
                "pgd_steps": 2, "checkpoint_every": 0, "keep_checkpoints": 3, "log_every": 0,
                "eval_limit": 300, "train_limit": 0});
            config["regime"] = json!(regime);
            write(
                dir,
                &format!("{name}.train.json"),
                &json!({
                "test_accuracy": 0.95 + jitter, "heldout_ds": 1.5 * ds_scale, "train_accuracy": 0.97,
                "train_adv_accuracy": null, "init": null, "epochs": 10, "global_steps": 930,
                "seconds": 60.0, "run": name, "checkpoint": "step-0000000930",
                "regime": regime, "model": "small-cnn", "config": config, "meta": meta(seed)}),
            );
            let attacks: Vec<Value> = [("pgd", 0.02), ("apgd-ce", 0.01), ("apgd-t", 0.0)]
                .iter()
                .map(|(n, extra)| json!({"name": n, "accuracy": robust + extra, "attacked": 100,
                    "broken": 10, "seconds": 1.0, "params": {"eps": 8.0 / 255.0, "steps": 10.0, "restarts": 1.0}}))
                .collect();
            write(
                dir,
                &format!("{name}.eval-auto.json"),
                &json!({
                "clean_accuracy": 0.95 + jitter, "robust_accuracy": robust, "adv_accuracy": robust,
                "upper_bound": false, "n": 500, "attack": {"name": "auto", "threat": "linf", "params": {}},
                "attacks": attacks, "sanity_samples": 100,
                "sanity": [{"name": "clean-vs-robust", "passed": true, "detail": "d", "values": {"a": 1.0}}],
                "sanity_passed": true, "model": "small-cnn", "seed": seed, "meta": meta(seed)}),
            );
            let mut entries = Vec::new();
            for kind in ["brightness", "contrast", "saturation", "hue"] {
                for level in 1..=4u8 {
                    entries.push(
                        json!({"kind": kind, "level": level, "params": [["delta", 0.1]],
                        "mean_ds": ds_scale * f64::from(level), "ds_ci95": 0.01,
                        "median_ds": ds_scale, "accuracy": 0.9}),
                    );
                }
            }
            for kind in ["channel-translation", "centre-shuffle", "sliding-puzzle"] {
                for level in 1..=4u8 {
                    entries.push(json!({"kind": kind, "level": level, "params": [],
                        "mean_ds": 3.0, "ds_ci95": 0.1, "median_ds": 3.0,
                        "accuracy": 0.9 - 0.1 * f64::from(level) + jitter}));
                }
            }
            write(
                dir,
                &format!("{name}.sweep.json"),
                &json!({
                "model": "small-cnn", "images": 500, "clean_accuracy": 0.95 + jitter,
                "same_class_ds": 20.0 * ds_scale, "reduction": "DS summed over classes, averaged over images",
                "entries": entries, "not_applicable": [], "meta": meta(seed)}),
            );
            write(
                dir,
                &format!("{name}.ig.json"),
                &json!({
                "method": "integrated-gradients", "n": 200, "images": 200, "completeness_gap_max": 0.1,
                "metrics": {"total_variation": 0.5, "mask_mass": 0.3, "deletion_auc": 0.1, "insertion_auc": 0.3},
                "mean_total_variation": 0.5 + jitter, "mean_mass_on_object": 0.3, "mean_object_area": 0.2,
                "mean_abs_completeness_gap": 0.01, "mean_lime_r2": null, "model": name, "seconds": 2.0,
                "meta": meta(seed)}),
            );
            runs.push(
                json!({"regime": regime, "seed": seed, "train": format!("{name}.train.json"),
                "eval": format!("{name}.eval-auto.json"), "sweep": format!("{name}.sweep.json"),
                "attribution": {"ig": format!("{name}.ig.json")}}),
            );
        }
    }
    write(
        dir,
        "study.json",
        &json!({"title": "a synthetic study", "command": "the test",
        "git_revision": "0123abc", "notes": ["a note on what was reduced"], "runs": runs}),
    );
}

/// The claims-table row whose first two cells are `id` and whose measure starts with `pair`.
fn claim_row<'a>(md: &'a str, id: &str, pair: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(&format!("| {id} |")) && l.contains(&format!("| {pair}:")))
        .unwrap_or_else(|| panic!("no row {id} {pair} in\n{md}"))
}

#[test]
fn report_renders_markdown_and_html_with_the_claims_and_their_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_study(dir.path());
    let out = sc_bench(&["report", dir.path().to_str().unwrap(), "--json"]);
    let v = json_of(&out);
    let md = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(md.starts_with("# a synthetic study"));
    assert!(md.contains("| claim | what the paper says | measure | paper found |"));
    // C's DS is half of base's: per seed -1.25 (1 + 10 jitter) = -1.25,
    // -1.4125, -1.15; mean -1.2708, sd 0.13248, half-width
    // 4.302653 * 0.13248 / sqrt(3) = 0.3291.
    let c1 = claim_row(&md, "C1", "c - base");
    assert!(
        c1.contains("-1.271 [-1.600, -0.942] (n=3) | **holds**"),
        "{c1}"
    );
    assert!(claim_row(&md, "C6", "adv-c - adv").contains("**contradicted**"));
    assert!(claim_row(&md, "C6", "c - base").contains("**inconclusive**"));
    // Scale-free DS is identical across regimes by construction: no effect.
    assert!(claim_row(&md, "C1'", "c - base").contains("0.0000 [0.0000, 0.0000]"));
    for id in ["C2", "C8", "C9", "M"] {
        let row = md
            .lines()
            .find(|l| l.starts_with(&format!("| {id} |")))
            .unwrap();
        assert!(row.contains("not run in this study"), "{row}");
    }
    assert!(md.contains("## Where this study departs from the paper"));
    assert!(md.contains("alpha 0.1") && md.contains("eps 8/255, step 4/255, 2 iterations"));
    assert!(md.contains("a note on what was reduced"));
    // Robust accuracy of adv: 45% with jitter 0, 1.3, -0.8 points.
    assert!(md.contains("**45.17 ["), "{md}");
    // Figures: PNG and SVG files, linked from the Markdown, inline in the HTML.
    for stem in [
        "ds-brightness",
        "scale-free-ds-hue",
        "drop-sliding-puzzle",
        "robust-accuracy",
    ] {
        for ext in ["png", "svg"] {
            let f = dir.path().join(format!("figures/{stem}.{ext}"));
            assert!(
                std::fs::metadata(&f).unwrap().len() > 1000,
                "{}",
                f.display()
            );
        }
        assert!(md.contains(&format!("](figures/{stem}.png)")), "{stem}");
    }
    assert_eq!(v["figures"].as_array().unwrap().len(), 2 * (2 * 4 + 3 + 1));
    assert_eq!(html.matches("<figure><svg").count(), 2 * 4 + 3 + 1);
    // The HTML page carries the same tables, self-contained, no script.
    assert!(html.contains("<th>claim</th>") && html.contains("<strong>contradicted</strong>"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    let claims = v["claims"].as_array().unwrap();
    assert!(claims
        .iter()
        .any(|c| c["id"] == "C1" && c["verdict"] == "holds"));
}

#[test]
fn report_errors_name_the_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // No study.json.
    let out = sc_bench(&["report", d]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("study.json"), "{err}");
    // A misspelt stage in the manifest is an error, not a silently missing section.
    std::fs::write(dir.path().join("study.json"),
        r#"{"title": "t", "command": "c", "runs": [{"regime": "base", "seed": 0, "swep": "x.json"}]}"#).unwrap();
    let err = String::from_utf8_lossy(&sc_bench(&["report", d]).stderr).to_string();
    assert!(err.contains("study.json") && err.contains("swep"), "{err}");
    // A listed stage file that is missing is named.
    std::fs::write(dir.path().join("study.json"),
        r#"{"title": "t", "command": "c", "runs": [{"regime": "base", "seed": 0, "sweep": "gone.json"}]}"#).unwrap();
    let err = String::from_utf8_lossy(&sc_bench(&["report", d]).stderr).to_string();
    assert!(
        err.starts_with("error:") && err.contains("gone.json"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
