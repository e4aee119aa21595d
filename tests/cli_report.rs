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
/// base's (C6 inconclusive for c - base). Fig. 1: C's discontinuity
/// fraction is 10 points below base's on every seed (F1 holds for
/// c - base), ADV+C's is noise around ADV's (F1 inconclusive). Margins:
/// C's are 10x base's in every band and seed (M holds, log10 ratio 1);
/// ADV+C's are ADV's times noise (M inconclusive); base seed 2 has an
/// undefined median in band 1. Transfer: C fine-tunes 1 point *worse*
/// than base on every seed (C8 contradicted), ADV+C is noise around ADV
/// (inconclusive). Fairness (base and C only): C is 2 points more accurate
/// on every seed (C9 holds), its flip rate noise around base's (C9'
/// inconclusive).
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
                "mean_mass_in_centre": 0.4, "centre_area": 0.25,
                "mean_abs_completeness_gap": 0.01, "mean_lime_r2": null, "model": name, "seconds": 2.0,
                "meta": meta(seed)}),
            );
            let fraction = match regime {
                "base" => 0.40 + jitter,
                "c" => 0.30 + jitter,
                "adv" => 0.20 + jitter,
                _ => 0.20 + [0.01, -0.015, 0.004][seed as usize],
            };
            let fig1: Vec<Value> = ["brightness", "contrast", "saturation", "hue"]
                .iter()
                .flat_map(|k| (1..=4u8).map(move |l| (k, l)))
                .map(|(k, l)| {
                    json!({"perturbation": k, "level": l,
                    "fraction": fraction + 0.01 * f64::from(l), "mean_rank": 10.0 * fraction})
                })
                .collect();
            write(
                dir,
                &format!("{name}.discontinuity.json"),
                &json!({"model": "small-cnn", "data": "shapes", "images": 300, "seed": seed,
                "fig1": fig1, "fig1_not_applicable": [],
                "embeddings": {"pca": {"explained_variance_ratio": [0.5, 0.2], "trustworthiness": 0.91},
                    "tsne": {"trustworthiness": 0.97, "perplexity": 9.0},
                    "umap": {"trustworthiness": 0.95, "n_neighbors": 15}},
                "fig2": {"class": 1, "class_name": "ring", "anchor": 7, "level": 1, "points": 34,
                    "not_applicable": []},
                "meta": meta(seed)}),
            );
            let factor = match regime {
                "c" => 10.0,
                "adv-c" => [1.2, 0.7, 1.1][seed as usize],
                _ => 1.0,
            } * (1.0 + jitter);
            let bands: Vec<Value> = (0..4usize)
                .map(|b| {
                    let undefined = regime == "base" && seed == 2 && b == 1;
                    json!({"band": b, "start": 8 * b, "dim": 192,
                    "median_margin": if undefined { Value::Null } else { json!(factor * 0.1 * (b + 1) as f64) },
                    "median_margin_flipped": 0.1, "flipped_fraction": if undefined { 0.4 } else { 0.9 }})
                })
                .collect();
            write(
                dir,
                &format!("{name}.margin.json"),
                &json!({"model": "small-cnn", "images": 50, "band_size": 8, "band_step": 8,
                "candidates": null, "overshoot": 0.02, "max_iter": 50, "accuracy": 0.9,
                "bands": bands, "run": name, "seconds": 3.0, "images_per_second": 16.0}),
            );
            let transfer = match regime {
                "base" => 0.80,
                "c" => 0.79,
                "adv" => 0.70,
                _ => 0.70 + [0.01, -0.02, 0.005][seed as usize],
            } + jitter;
            write(
                dir,
                &format!("{name}.transfer.json"),
                &json!({"test_accuracy": transfer, "epochs": [{"epoch": 1, "test_accuracy": transfer}],
                "source": {"run": name, "checkpoint": "step-0000000930", "model": "small-cnn", "classes": 10},
                "data": "colorful-shapes:n=1000,test=500,p=0.5", "freeze_backbone": false,
                "run": format!("{name}.transfer"), "baseline_from_scratch": null}),
            );
            let fairness = match regime {
                "base" => Some((0.90 + jitter, 0.20 + jitter)),
                "c" => Some((0.92 + jitter, 0.20 + [0.02, -0.03, 0.015][seed as usize])),
                _ => None,
            };
            if let Some((accuracy, flips)) = fairness {
                write(
                    dir,
                    &format!("{name}.fairness.json"),
                    &json!({"accuracy": accuracy, "group_accuracy": {"red": accuracy + 0.05, "blue": accuracy - 0.01},
                    "gap": 0.06, "flip_rate": flips, "counterfactual_accuracy": accuracy - 0.1, "p": 0.95}),
                );
            }
            let mut embedding_images = json!({});
            if seed == 0 {
                std::fs::create_dir_all(dir.join(format!("{name}.discontinuity"))).unwrap();
                for m in ["pca", "tsne", "umap"] {
                    let p = format!("{name}.discontinuity/embedding-{m}.png");
                    std::fs::write(dir.join(&p), format!("{name}-{m}")).unwrap();
                    embedding_images[m] = json!(p);
                }
            }
            let mut run = json!({"regime": regime, "seed": seed, "train": format!("{name}.train.json"),
                "eval": format!("{name}.eval-auto.json"), "sweep": format!("{name}.sweep.json"),
                "attribution": {"ig": format!("{name}.ig.json")},
                "discontinuity": format!("{name}.discontinuity.json"),
                "margin": format!("{name}.margin.json"),
                "transfer": format!("{name}.transfer.json"),
                "embedding_images": embedding_images});
            if fairness.is_some() {
                run["fairness"] = json!(format!("{name}.fairness.json"));
            }
            runs.push(run);
        }
    }
    // Alpha sweeps of seeds 0 and 1: the score falls by 75% and 70%.
    let mut alpha_sweeps = Vec::new();
    for (seed, scores) in [(0u64, [8.0, 5.0, 2.0]), (1, [10.0, 6.0, 3.0])] {
        let points: Vec<Value> = [0.0, 0.1, 1.0]
            .iter()
            .zip(scores)
            .map(|(a, s)| {
                json!({"alpha": a, "accuracy": 0.9 - a / 10.0, "continuity_score": s,
                "kinds": ["brightness"], "not_applicable": [], "run": "x", "meta": meta(seed)})
            })
            .collect();
        let file = format!("alpha-sweep-s{seed}.json");
        write(
            dir,
            &file,
            &json!({"points": points, "images": 300, "level": 1, "reduction": "r"}),
        );
        alpha_sweeps.push(json!({"seed": seed, "file": file}));
    }
    write(
        dir,
        "study.json",
        &json!({"title": "a synthetic study", "command": "the test",
        "git_revision": "0123abc", "notes": ["a note on what was reduced"], "runs": runs,
        "alpha_sweeps": alpha_sweeps, "timings": {"base-s0.train.json": 10.0,
        "c-s0.train.json": 30.0, "alpha-sweep-s0.json": 5.0, "base-s0.ig.json": 5.0}}),
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
    // Fig. 1: exactly -10 points on every seed (CI of zero width).
    let f1 = claim_row(&md, "F1", "c - base");
    assert!(
        f1.contains("-10.00 [-10.00, -10.00] (n=3) | **holds**"),
        "{f1}"
    );
    assert!(claim_row(&md, "F1", "adv-c - adv").contains("**inconclusive**"));
    // The Fig. 1 table: base at level l is 40 + l points plus the jitter
    // 0, 1.3, -0.8 (mean 0.1667).
    assert!(md.contains("## Evidence of discontinuity (paper Sec. 2.2, Figs. 1-2)"));
    assert!(
        md.contains("| base | 41.17 [") && md.contains("| 42.17 ["),
        "{md}"
    );
    // Fig. 2: seed 0's pictures, base beside c, with their trustworthiness.
    assert!(md.contains(
        "| ![base (seed 0): class ring, anchor 7, level 1, trustworthiness 0.970](base-s0.discontinuity/embedding-tsne.png) \
         | ![c (seed 0): class ring, anchor 7, level 1, trustworthiness 0.970](c-s0.discontinuity/embedding-tsne.png) |"
    ), "{md}");
    assert!(html.contains(&format!(
        "base64,{}",
        sc_report::study::doc::base64(b"adv-c-s0-umap")
    )));
    assert!(!md.contains("the evidence of discontinuity (Figs. 1-2"));
    // Margins: exactly 10x in the upper bands on every seed.
    let m = claim_row(&md, "M", "c - base");
    assert!(m.contains("1.000 [1.000, 1.000] (n=3) | **holds**"), "{m}");
    assert!(claim_row(&md, "M", "adv-c - adv").contains("**inconclusive**"));
    // Band 0 of c: 10 * 0.1 * (1 + jitter), geometric mean over seeds
    // (1 * 1.013 * 0.992)^(1/3) = 1.002; base's band 1 has 2 of 3 seeds.
    assert!(md.contains("| c | 1.002 ["), "{md}");
    assert!(md.contains("(2 of 3 seeds defined)"), "{md}");
    // Transfer: exactly -1 point; fairness: exactly +2 points.
    let c8 = claim_row(&md, "C8", "c - base");
    assert!(
        c8.contains("-1.00 [-1.00, -1.00] (n=3) | **contradicted**"),
        "{c8}"
    );
    assert!(c8.contains("colorful-shapes:n=1000,test=500,p=0.5"), "{c8}");
    assert!(claim_row(&md, "C8", "adv-c - adv").contains("**inconclusive**"));
    let c9 = claim_row(&md, "C9", "c - base");
    assert!(c9.contains("2.00 [2.00, 2.00] (n=3) | **holds**"), "{c9}");
    assert!(claim_row(&md, "C9'", "c - base").contains("**inconclusive**"));
    // Only base and c have fairness rows; red is 5 points above the
    // accuracy, blue 1 below (base: 90 plus the mean jitter 0.17).
    let fair = &md[md.find("## Fairness").unwrap()..];
    let fair = &fair[..fair.find("\n## ").unwrap()];
    assert!(fair.contains("| base | 90.17 ["), "{fair}");
    assert!(
        fair.contains("| 95.17 [") && fair.contains("| 89.17 ["),
        "{fair}"
    );
    assert!(!fair.contains("| adv "), "{fair}");
    // C2: -75% and -70%: mean -72.5, half-width 12.706 * 2.5 = 31.8.
    let c2 = claim_row(&md, "C2", "alpha 1 vs 0");
    assert!(
        c2.contains("-72.5 [-104.3, -40.7] (n=2) | **holds**"),
        "{c2}"
    );
    // The Fig. 4 table: alpha 0.1's score is 5 and 6 over the two seeds.
    assert!(
        md.contains("| 0.1 | 89.00 [89.00, 89.00] | 5.500 ["),
        "{md}"
    );
    assert!(!md.contains("Not run in this study"), "{md}");
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
        "discontinuity-contrast",
        "margin-dct",
        "transfer",
        "fairness-groups",
        "alpha-accuracy",
        "alpha-continuity",
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
    // DS and scale-free DS per photometric kind, the drop per probe, the
    // robust bars, the Fig. 1 fraction per photometric kind, the margins,
    // transfer and fairness bars.
    let figures = 2 * 4 + 3 + 1 + 4 + 1 + 2 + 2;
    assert_eq!(v["figures"].as_array().unwrap().len(), 2 * figures);
    assert_eq!(html.matches("<figure><svg").count(), figures);
    // The HTML page carries the same tables, self-contained, no script.
    assert!(html.contains("<th>claim</th>") && html.contains("<strong>contradicted</strong>"));
    assert!(!html.contains("<script") && !html.contains("src=\"http"));
    let claims = v["claims"].as_array().unwrap();
    assert!(claims
        .iter()
        .any(|c| c["id"] == "C1" && c["verdict"] == "holds"));
    // Wall time per stage: summed per stage, largest first, with the total.
    let timing = &md[md
        .find("## Wall time per stage")
        .expect("no timings section")..];
    assert!(timing.contains("| train | 2 | 40 | 80.0% |"), "{timing}");
    assert!(
        timing.contains("| alpha-sweep | 1 | 5 | 10.0% |"),
        "{timing}"
    );
    assert!(timing.contains("| total | 4 | 50 | 100% |"), "{timing}");
    assert!(timing.find("| train |") < timing.find("| ig |"), "{timing}");
    // Training accuracy beside the test accuracy.
    assert!(
        md.contains("| base | 97.00 [97.00, 97.00] | 95.17 ["),
        "{md}"
    );
    // Attribution: the object masks and the central box, both present.
    let attr = &md[md.find("## Attribution maps").unwrap()..];
    assert!(
        attr.contains(
            "| regime | total variation | mass on object | object area | mass in central box |"
        ),
        "{attr}"
    );
    assert!(attr.contains("| 0.3000 [0.3000, 0.3000] | 0.2000 [0.2000, 0.2000] | 0.4000 [0.4000, 0.4000] | 0.2500 [0.2500, 0.2500] |"), "{attr}");
    assert!(!attr.contains("not available on this data"));
}

#[test]
fn a_study_without_object_masks_says_so_and_reports_the_central_box() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_study(dir.path());
    // Data without masks (CIFAR, folders): no mass on the object.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".ig.json") {
            let mut v: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            v["mean_mass_on_object"] = Value::Null;
            v["mean_object_area"] = Value::Null;
            write(dir.path(), path.file_name().unwrap().to_str().unwrap(), &v);
        }
    }
    let out = sc_bench(&["report", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
    let attr = &md[md.find("## Attribution maps").unwrap()..];
    assert!(
        attr.contains("Mass on the object: not available on this data"),
        "{attr}"
    );
    assert!(
        attr.contains("| regime | total variation | mass in central box | central box area |"),
        "{attr}"
    );
    assert!(!attr.contains("| mass on object |"), "{attr}");
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
