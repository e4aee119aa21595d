//! `sc-bench speed`: every workload runs through the library and reports in
//! the PyTorch anchor's format (the keys `cargo xtask bench` pairs).

use crate::{json_of, sc_bench};

#[test]
fn speed_reports_every_workload_in_the_anchor_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("speed.json");
    let out = json_of(&sc_bench(&[
        "speed",
        "--models",
        "small-cnn",
        "--batch",
        "4",
        "--reps",
        "1",
        "--classes",
        "10",
        "--only",
        "abcdfghi",
        // g, h and i at toy sizes (hidden options): seconds, not minutes.
        "--margin-images",
        "2",
        "--lime-images",
        "1",
        "--lime-samples",
        "20",
        "--tsne-points",
        "40",
        "--out",
        file.to_str().unwrap(),
        "--json",
    ]));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["results"], out["results"]);
    let r = &out["results"];
    for key in ["small.a_train", "small.b_sc_train", "small.c_pgd10"] {
        assert_eq!(r[key]["images"], 4, "{key}");
        assert!(r[key]["images_per_s"].as_f64().unwrap() > 0.0, "{key}");
    }
    assert_eq!(r["small.d_ig32"]["images"], 4);
    // g: per-image margins (a number, or null when censored) beside the timing.
    let g = &r["small.g_margin_dct8"];
    assert_eq!(g["images"], 2);
    let margins = g["margins"].as_array().unwrap();
    assert_eq!(margins.len(), 2);
    assert_eq!(
        g["flipped"].as_u64().unwrap() as usize,
        margins.iter().filter(|m| !m.is_null()).count()
    );
    assert!(margins
        .iter()
        .all(|m| m.is_null() || m.as_f64().unwrap() > 0.0));
    // h: the key carries the samples.
    assert_eq!(r["small.h_lime20"]["images"], 1);
    // i: seconds only, the key carries the points.
    assert_eq!(r["i.tsne40"]["points"], 40);
    assert!(r["i.tsne40"]["median_s"].as_f64().unwrap() > 0.0);
    assert!(r["i.tsne40"].get("images").is_none());
    // Every record: its peak resident memory (Linux), at least a few MiB
    // (the binary and the data in use).
    for (key, record) in r.as_object().unwrap() {
        let mib = record["peak_rss_mib"].as_f64().unwrap();
        assert!(mib > 1.0 && mib < 1e6, "{key}: {mib}");
    }
    for key in [
        "f.matmul2048",
        "f.conv 64->64 3x3 @32x32",
        "f.conv 64->64 3x3 @32x32 input-grad",
        "f.conv 256->256 3x3 @8x8 weight-grad",
    ] {
        let g = r[key]["gflops"].as_f64().unwrap();
        // Any real CPU does more than 0.1 GFLOP/s and less than 100 TFLOP/s.
        assert!(g > 0.1 && g < 1e5, "{key}: {g}");
        // median of 10 repetitions: max >= median >= min
        let (lo, med, hi) = (
            r[key]["min_s"].as_f64().unwrap(),
            r[key]["median_s"].as_f64().unwrap(),
            r[key]["max_s"].as_f64().unwrap(),
        );
        assert!(lo <= med && med <= hi, "{key}");
    }
}

#[test]
fn speed_rejects_bad_arguments() {
    for (args, needle) in [
        (vec!["speed", "--only", "az"], "--only"),
        (vec!["speed", "--only", "e"], "abcdfghi"),
        (vec!["speed", "--reps", "0"], "--reps"),
        (vec!["speed", "--batch", "1"], "--batch"),
        (vec!["speed", "--models", "resnet50"], "--models"),
        (vec!["speed", "--models", "vgg"], "--models"),
    ] {
        let out = sc_bench(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
