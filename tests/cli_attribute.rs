//! `sc-bench attribute`: maps and their numbers from a trained run.

use crate::{json_of, sc_bench};

#[test]
fn attribute_reports_maps_metrics_and_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let data = "shapes:n=32,test=8,size=16";
    json_of(&sc_bench(&[
        "train",
        "--data",
        data,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]));
    let png = dir.path().join("ig.png");
    let r = run.to_str().unwrap();
    let ig = json_of(&sc_bench(&[
        "attribute",
        "--run",
        r,
        "--data",
        data,
        "--method",
        "ig",
        "--steps",
        "16",
        "--limit",
        "6",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(ig["method"], "integrated-gradients");
    assert_eq!(ig["images"], 6);
    assert_eq!(ig["per_image"].as_array().unwrap().len(), 6);
    let mass = ig["mean_mass_on_object"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&mass));
    // 16 midpoints on a small CNN: the integral is accurate to well under a logit.
    assert!(ig["mean_abs_completeness_gap"].as_f64().unwrap() < 0.5);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    for method in ["saliency", "gradcam"] {
        let s = json_of(&sc_bench(&[
            "attribute",
            "--run",
            r,
            "--data",
            data,
            "--method",
            method,
            "--limit",
            "4",
            "--json",
        ]));
        assert_eq!(s["images"], 4, "{method}");
        assert!(s["mean_abs_completeness_gap"].is_null(), "{method}");
        assert!(s["mean_total_variation"].as_f64().unwrap() >= 0.0);
    }
    let bad = sc_bench(&["attribute", "--run", r, "--data", data, "--method", "lime"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--method"));
}
