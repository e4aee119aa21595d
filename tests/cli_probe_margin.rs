//! `sc-bench probe margin` and `sc-bench alpha-sweep` on tiny `shapes`
//! models: the files they write, their JSON keys and the ranges of values.

use crate::{json_of, sc_bench};
use std::path::Path;

const DATA: &str = "shapes:n=96,test=24,size=16,seed=5";

fn train(run: &Path, regime: &str) {
    json_of(&sc_bench(&[
        "train",
        "--data",
        DATA,
        "--regime",
        regime,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]));
}

fn check_band_report(r: &serde_json::Value, images: u64) {
    assert_eq!(r["images"], images);
    assert_eq!(r["overshoot"], 0.02);
    assert_eq!(r["max_iter"], 20);
    let bands = r["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 4, "16x16 images, bands of 4 at step 4");
    for (i, b) in bands.iter().enumerate() {
        assert_eq!(b["band"], i as u64);
        assert_eq!(b["start"], 4 * i as u64);
        assert_eq!(b["dim"], 4 * 4 * 3);
        let f = b["flipped_fraction"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f), "{b}");
        match (
            b["median_margin"].as_f64(),
            b["median_margin_flipped"].as_f64(),
        ) {
            (Some(m), Some(mf)) => {
                assert!(f > 0.5, "a median needs more than half flipped: {b}");
                assert!(m > 0.0 && m.is_finite() && mf > 0.0 && mf <= m, "{b}");
            }
            (None, _) => assert!(f <= 0.5, "{b}"),
            (Some(_), None) => panic!("a median over all but none over the flipped: {b}"),
        }
    }
    assert!(r["images_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn margin_probe_writes_json_csv_and_a_chart_for_one_or_several_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (base, c) = (dir.path().join("base"), dir.path().join("c"));
    train(&base, "base");
    train(&c, "c");
    let out = dir.path().join("out");
    let probe = |runs: &[&Path], out: &Path| {
        let mut args = vec!["probe", "margin"];
        for r in runs {
            args.extend(["--run", r.to_str().unwrap()]);
        }
        args.extend([
            "--data",
            DATA,
            "--limit",
            "6",
            "--band-size",
            "4",
            "--band-step",
            "4",
            "--max-iter",
            "20",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        json_of(&sc_bench(&args))
    };
    let one = probe(&[&base], &out);
    check_band_report(&one, 6);
    assert_eq!(one["run"], "base");
    let csv = std::fs::read_to_string(out.join("margins.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "model,index,label,band,margin,flipped");
    assert_eq!(rows.len(), 1 + 6 * 4, "one row per image and band");
    // Band-major, images in data-set order; a margin exactly when flipped.
    for (k, row) in rows[1..].iter().enumerate() {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f[0], "base");
        assert_eq!(f[1], (k % 6).to_string());
        assert_eq!(f[3], (k / 6).to_string());
        assert_eq!(f[4].is_empty(), f[5] == "false", "{row}");
        if let Ok(m) = f[4].parse::<f64>() {
            assert!(m > 0.0);
        }
    }
    let png = std::fs::read(out.join("margins.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");

    let out2 = dir.path().join("out2");
    let both = probe(&[&base, &c], &out2);
    let runs = both["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0]["run"].as_str(), runs[1]["run"].as_str()),
        (Some("base"), Some("c"))
    );
    for r in runs {
        check_band_report(r, 6);
    }
    // The same model on the same images gives the same numbers.
    assert_eq!(runs[0]["bands"], one["bands"]);
    let csv = std::fs::read_to_string(out2.join("margins.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 6 * 4);
    assert!(csv.lines().nth(1 + 6 * 4).unwrap().starts_with("c,0,"));
}

#[test]
fn alpha_sweep_trains_one_run_per_alpha_and_skips_finished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sweep");
    let args = [
        "alpha-sweep",
        "--alphas",
        "0,1",
        "--run",
        root.to_str().unwrap(),
        "--data",
        DATA,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--limit",
        "12",
        "--json",
    ];
    let first = sc_bench(&args);
    let v = json_of(&first);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (p, alpha) in points.iter().zip([0.0, 1.0]) {
        assert_eq!(p["alpha"], alpha);
        let acc = p["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(p["continuity_score"].as_f64().unwrap() > 0.0);
        assert_eq!(p["kinds"].as_array().unwrap().len(), 4);
    }
    assert_eq!(v["images"], 12);
    for name in ["alpha-0", "alpha-1"] {
        assert!(root.join(name).join("config.toml").is_file(), "{name}");
    }
    let config = std::fs::read_to_string(root.join("alpha-1/config.toml")).unwrap();
    assert!(
        config.contains("regime = \"c\"") && config.contains("alpha = 1.0"),
        "{config}"
    );
    let png = std::fs::read(root.join("alpha-sweep.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("alpha-sweep.json")).unwrap()).unwrap();
    assert_eq!(stored, v);

    // Again: both runs are finished, nothing is trained, the numbers repeat.
    let again = sc_bench(&args);
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    assert_eq!(json_of(&again), v);
    assert_eq!(stderr.matches("already finished").count(), 2, "{stderr}");
}
