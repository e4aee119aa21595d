//! `sc-bench probe discontinuity` on a tiny trained model: the files and
//! their columns, the JSON keys and ranges, the anchor and class flags, and
//! the one-line errors that need a real run (an unknown class, an anchor
//! outside the selection or of another class).

use crate::{json_of, sc_bench};
use std::path::{Path, PathBuf};

/// 8 test images per class: with the anchor's 4 versions a class has 12
/// points, more than the 2 k = 10 that trustworthiness (k = 5) needs.
const DATA: &str = "shapes:n=32,test=80,size=16";

/// A one-epoch small-cnn run in `dir`.
fn trained(dir: &Path) -> PathBuf {
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
    run
}

fn probe(run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "probe",
        "discontinuity",
        "--run",
        run.to_str().unwrap(),
        "--data",
        DATA,
    ];
    args.extend_from_slice(extra);
    sc_bench(&args)
}

/// The failure contract ([`crate::check_failure`]) on a probe's output.
fn fails_naming(out: std::process::Output, needles: &[&str]) {
    crate::check_failure("probe discontinuity", &out, needles);
}

#[test]
fn writes_fig1_and_fig2_files_with_the_issues_columns_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let run = trained(dir.path());
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    // The anchor: the second test image of class 3 (square).
    let data = DATA.parse::<sc_data::DataSpec>().unwrap().load().unwrap();
    let labels = data.test.as_ref().unwrap().labels().to_vec();
    let squares: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 3).collect();
    assert_eq!(squares.len(), 8);
    let anchor = squares[1];
    let a = anchor.to_string();
    let j = json_of(&probe(
        &run,
        &[
            "--per-class",
            "8",
            "--anchor",
            &a,
            "--level",
            "2",
            "--out",
            o,
            "--json",
        ],
    ));
    // fig1: the four photometric kinds at levels 1-4, values in range
    // (at most 7 other images of a class can be closer).
    let fig1 = j["fig1"].as_array().unwrap();
    assert_eq!(fig1.len(), 16);
    for e in fig1 {
        let (f, r) = (
            e["fraction"].as_f64().unwrap(),
            e["mean_rank"].as_f64().unwrap(),
        );
        assert!((0.0..=1.0).contains(&f) && (0.0..=7.0).contains(&r), "{e}");
        assert!(
            r >= f,
            "mean_rank counts at least 1 for every counted image: {e}"
        );
        assert!(e["perturbation"].is_string() && e["level"].is_u64());
    }
    let emb = &j["embeddings"];
    let evr: Vec<f64> = emb["pca"]["explained_variance_ratio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(evr.len(), 10);
    assert!((evr.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(evr.windows(2).all(|w| w[0] >= w[1]));
    for m in ["pca", "tsne", "umap"] {
        let t = emb[m]["trustworthiness"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&t), "{m}: {t}");
    }
    assert_eq!(j["fig2"]["anchor"], anchor);
    assert_eq!(j["fig2"]["level"], 2);
    assert_eq!(j["images"], 80);
    // The JSON file is the JSON printed.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("discontinuity.json")).unwrap())
            .unwrap();
    assert_eq!(file, j);
    // fig1.csv: one row per entry, the same numbers.
    let csv = std::fs::read_to_string(out.join("fig1.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("perturbation,level,fraction,mean_rank"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 16);
    assert!(rows[0].starts_with("brightness,1,"));
    // embedding.csv: exactly the issue's columns; the 8 squares at their
    // split positions (the anchor second), then the anchor's four versions.
    let csv = std::fs::read_to_string(out.join("embedding.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("index,label,role,pca_x,pca_y,tsne_x,tsne_y,umap_x,umap_y")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12);
    let index: Vec<usize> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    let mut expect = squares.clone();
    expect.extend([anchor; 4]);
    assert_eq!(index, expect);
    assert!(rows.iter().all(|r| r[1] == "3" && r.len() == 9));
    let roles: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(roles[1], "anchor");
    assert_eq!(roles.iter().filter(|&&r| r == "member").count(), 7);
    assert_eq!(
        &roles[8..],
        [
            "perturbed-brightness",
            "perturbed-contrast",
            "perturbed-saturation",
            "perturbed-hue"
        ]
    );
    for r in &rows {
        for v in &r[3..] {
            assert!(v.parse::<f64>().unwrap().is_finite(), "{r:?}");
        }
    }
    // Same seed, same pictures; --class by name picks the same class.
    let again = json_of(&probe(
        &run,
        &[
            "--per-class",
            "8",
            "--class",
            "square",
            "--anchor",
            &a,
            "--level",
            "2",
            "--json",
        ],
    ));
    assert_eq!(again["embeddings"], j["embeddings"]);
    assert_eq!(again["fig2"]["class_name"], "square");

    // Bad input that needs a real run: one line naming the flag and value.
    fails_naming(
        probe(&run, &["--class", "zebra"]),
        &["--class zebra", "circle"],
    );
    fails_naming(probe(&run, &["--class", "10"]), &["--class 10", "0-9"]);
    fails_naming(
        probe(&run, &["--anchor", "80"]),
        &["--anchor 80", "80 selected images"],
    );
    let late = squares[7].to_string();
    fails_naming(
        probe(&run, &["--per-class", "1", "--anchor", &late]),
        &[&format!("--anchor {late}"), "10 selected"],
    );
    fails_naming(
        probe(&run, &["--class", "circle", "--anchor", &a]),
        &[&format!("--anchor {a}"), "square", "circle"],
    );
    // Too few images of the class for trustworthiness with k = 5.
    fails_naming(probe(&run, &["--per-class", "4"]), &["class", "k = 5"]);
    // One scatter per method.
    for m in ["pca", "tsne", "umap"] {
        let png = std::fs::read(out.join(format!("embedding-{m}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG"),
            "embedding-{m}.png is not a PNG"
        );
    }
}
