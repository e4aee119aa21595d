use crate::{json_of, sc_bench};

fn perturb_json(kind: &str, level: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    let mut args = vec![
        "perturb",
        "--data",
        "shapes:100",
        "--kind",
        kind,
        "--level",
        level,
        "--out",
        png.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let v = json_of(&sc_bench(&args));
    assert!(png.exists());
    v
}

#[test]
fn perturb_reports_per_image_change_in_data_set_order() {
    let v = perturb_json("brightness", "2", &[]);
    assert_eq!(v["kind"], "brightness");
    assert_eq!(v["level"], 2);
    assert_eq!(v["params"]["delta"], 32.0);
    let changes: Vec<f64> = serde_json::from_value(v["mean_abs_change"].clone()).unwrap();
    // shapes:100 has 20 test images; a shift of 32/255 moves unclipped pixels
    // by exactly 32/255 and clipped ones by less.
    assert_eq!(changes.len(), 20);
    assert!(
        changes.iter().all(|&c| c > 0.0 && c <= 32.0 / 255.0 + 1e-6),
        "{changes:?}"
    );
    let limited = perturb_json("brightness", "2", &["--limit", "5"]);
    let first: Vec<f64> = serde_json::from_value(limited["mean_abs_change"].clone()).unwrap();
    assert_eq!(first, changes[..5]);
}

#[test]
fn stronger_levels_change_more() {
    for kind in ["contrast", "saturation", "centre-shuffle", "sliding-puzzle"] {
        let mean = |level: &str| -> f64 {
            let v = perturb_json(kind, level, &[]);
            let c: Vec<f64> = serde_json::from_value(v["mean_abs_change"].clone()).unwrap();
            c.iter().sum::<f64>() / c.len() as f64
        };
        let (l1, l4) = (mean("1"), mean("4"));
        assert!(l4 > l1, "{kind}: level 4 changes {l4}, level 1 {l1}");
    }
}

#[test]
fn perturb_rejects_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    let png = png.to_str().unwrap();
    for (args, needle) in [
        (vec!["--kind", "blur", "--level", "1"], "blur"),
        (vec!["--kind", "hue", "--level", "5"], "level 5"),
        (vec!["--kind", "hue", "--level", "0"], "level 0"),
        (
            vec![
                "--kind",
                "sliding-puzzle",
                "--level",
                "3",
                "--image-size",
                "20",
            ],
            "does not divide",
        ),
    ] {
        let mut all = vec!["perturb", "--data", "shapes:20", "--out", png];
        all.extend(args.iter().copied());
        let out = sc_bench(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?}");
        assert!(err.contains(needle), "{all:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert!(
        !std::path::Path::new(png).exists(),
        "a failed run left an output file"
    );
}
