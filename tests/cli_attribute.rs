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
    let maps = dir.path().join("ig.safetensors");
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
        "--batch-size",
        "4",
        "--out",
        png.to_str().unwrap(),
        "--save-maps",
        maps.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(ig["method"], "integrated-gradients");
    assert_eq!(ig["n"], 6);
    assert_eq!(ig["images"], 6);
    assert_eq!(ig["per_image"].as_array().unwrap().len(), 6);
    let mass = ig["metrics"]["mask_mass"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&mass));
    assert_eq!(ig["mean_mass_on_object"].as_f64().unwrap(), mass);
    for auc in ["deletion_auc", "insertion_auc"] {
        let v = ig["metrics"][auc].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{auc} {v}");
    }
    // 16 midpoints on a small CNN: the integral is accurate to well under a logit.
    assert!(ig["mean_abs_completeness_gap"].as_f64().unwrap() < 0.5);
    assert!(
        ig["completeness_gap_max"].as_f64().unwrap()
            >= ig["mean_abs_completeness_gap"].as_f64().unwrap()
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // The per-image numbers beside the PNG, one row per image.
    let csv = std::fs::read_to_string(dir.path().join("ig.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 7);
    assert!(rows[0].starts_with("model,index,label,"));
    assert!(rows[1].starts_with("r,0,"));
    let first_del = ig["per_image"][0]["deletion_auc"].as_f64().unwrap();
    let column = |name: &str| rows[0].split(',').position(|c| c == name).unwrap();
    let csv_del: f64 = rows[1]
        .split(',')
        .nth(column("deletion_auc"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(csv_del, first_del);
    // Every image has its share of mass in the central box, in [0, 1].
    for row in &rows[1..] {
        let centre: f64 = row
            .split(',')
            .nth(column("mass_in_centre"))
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.0..=1.0).contains(&centre), "{row}");
    }
    // The raw maps read back with candle; the map is IG's channel sum.
    let t = candle_core::safetensors::load(&maps, &candle_core::Device::Cpu).unwrap();
    assert_eq!(t["attributions"].dims(), &[6, 3, 16, 16]);
    assert_eq!(t["map"].dims(), &[6, 16, 16]);
    assert!(!t.contains_key("coarse"));
    let sum = t["attributions"].sum(1).unwrap();
    let diff = (sum - &t["map"])
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap();
    assert!(diff.max(0).unwrap().to_scalar::<f32>().unwrap() < 1e-6);
    assert_eq!(
        t["indices"].to_vec1::<i64>().unwrap(),
        vec![0, 1, 2, 3, 4, 5]
    );
    let labels = t["labels"].to_vec1::<i64>().unwrap();
    for (i, l) in labels.iter().enumerate() {
        assert_eq!(ig["per_image"][i]["label"].as_i64().unwrap(), *l);
    }
    // The summed map's total = sum over images of per-image IG mass: the
    // JSON's completeness gaps refer to these very attributions.
    let gap0 = ig["per_image"][0]["completeness_gap"].as_f64().unwrap();
    assert!(gap0.is_finite());

    let cam_maps = dir.path().join("cam.safetensors");
    let cam = json_of(&sc_bench(&[
        "attribute",
        "--run",
        r,
        "--data",
        data,
        "--method",
        "gradcam",
        "--limit",
        "4",
        "--save-maps",
        cam_maps.to_str().unwrap(),
        "--json",
    ]));
    assert!(cam["completeness_gap_max"].is_null());
    let t = candle_core::safetensors::load(&cam_maps, &candle_core::Device::Cpu).unwrap();
    let coarse = t["coarse"].dims();
    assert_eq!(coarse[0], 4);
    assert!(coarse[1] < 16 && coarse[2] < 16, "{coarse:?}");
    // --layer: block1 keeps the full 16x16 resolution (block4 is 2x2);
    // an unknown layer names the available ones.
    let cam1 = json_of(&sc_bench(&[
        "attribute",
        "--run",
        r,
        "--data",
        data,
        "--method",
        "gradcam",
        "--layer",
        "block1",
        "--limit",
        "4",
        "--save-maps",
        cam_maps.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(cam1["n"], 4);
    let t = candle_core::safetensors::load(&cam_maps, &candle_core::Device::Cpu).unwrap();
    assert_eq!(t["coarse"].dims(), [4, 16, 16]);
    crate::fails(
        &[
            "attribute",
            "--run",
            r,
            "--data",
            data,
            "--method",
            "gradcam",
            "--layer",
            "fc",
        ],
        &["--layer", "block1, block2, block3, block4"],
    );

    for method in ["saliency", "smoothgrad"] {
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
        assert_eq!(s["n"], 4, "{method}");
        assert!(s["mean_abs_completeness_gap"].is_null(), "{method}");
        assert!(s["metrics"]["total_variation"].as_f64().unwrap() >= 0.0);
    }
    // LIME: a surrogate per image with its R^2 and top superpixels.
    let lime_csv = dir.path().join("lime.png");
    let lime = json_of(&sc_bench(&[
        "attribute",
        "--run",
        r,
        "--data",
        data,
        "--method",
        "lime",
        "--samples",
        "40",
        "--segments",
        "8",
        "--top-k",
        "3",
        "--limit",
        "2",
        "--out",
        lime_csv.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(lime["method"], "lime");
    assert_eq!(lime["n"], 2);
    for img in lime["per_image"].as_array().unwrap() {
        let r2 = img["lime_r2"].as_f64().unwrap();
        assert!(r2 <= 1.0 + 1e-12, "{r2}");
        let top = img["lime_top"].as_array().unwrap();
        let segments = img["lime_segments"].as_u64().unwrap() as usize;
        assert!(segments >= 1);
        assert_eq!(top.len(), segments.min(3));
        // Largest absolute coefficient first.
        let c: Vec<f64> = top.iter().map(|p| p[1].as_f64().unwrap().abs()).collect();
        assert!(c.windows(2).all(|w| w[0] >= w[1]), "{c:?}");
    }
    assert!(lime["mean_lime_r2"].as_f64().is_some());
    let csv = std::fs::read_to_string(dir.path().join("lime.csv")).unwrap();
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(7)
        .unwrap()
        .parse::<f64>()
        .is_ok());
    // Two models side by side: one grid, one table, one CSV, and the
    // second model's summary equals that of explaining it alone.
    let run2 = dir.path().join("r2");
    json_of(&sc_bench(&[
        "train",
        "--data",
        data,
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--seed",
        "3",
        "--run",
        run2.to_str().unwrap(),
        "--json",
    ]));
    let both_png = dir.path().join("both.png");
    let both = json_of(&sc_bench(&[
        "attribute",
        "--run",
        r,
        "--compare",
        run2.to_str().unwrap(),
        "--data",
        data,
        "--method",
        "saliency",
        "--limit",
        "3",
        "--out",
        both_png.to_str().unwrap(),
        "--json",
    ]));
    let alone = json_of(&sc_bench(&[
        "attribute",
        "--run",
        run2.to_str().unwrap(),
        "--data",
        data,
        "--method",
        "saliency",
        "--limit",
        "3",
        "--json",
    ]));
    assert_eq!(both["model"], "r");
    assert_eq!(both["compare"][0]["model"], "r2");
    // `--run A --run B` is the same command as `--run A --compare B`.
    let repeated = json_of(&sc_bench(&[
        "attribute",
        "--run",
        r,
        "--run",
        run2.to_str().unwrap(),
        "--data",
        data,
        "--method",
        "saliency",
        "--limit",
        "3",
        "--json",
    ]));
    assert_eq!(repeated["per_image"], both["per_image"]);
    assert_eq!(
        repeated["compare"][0]["per_image"],
        both["compare"][0]["per_image"]
    );
    assert_eq!(repeated["compare"][0]["model"], "r2");
    assert_eq!(both["compare"][0]["per_image"], alone["per_image"]);
    assert_ne!(both["per_image"], alone["per_image"]);
    let table = std::fs::read_to_string(dir.path().join("both.md")).unwrap();
    assert!(
        table.contains("| r |") && table.contains("| r2 |"),
        "{table}"
    );
    let csv = std::fs::read_to_string(dir.path().join("both.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 3);
    // Rows of 3 images x (image + 2 overlays), each cell 16x16 upscaled 3x.
    let png = image_size(&both_png);
    let single = image_size(&png_of_one(r, data, dir.path()));
    assert!(
        png.0 > single.0 && png.1 == single.1,
        "{png:?} vs {single:?}"
    );
    // SmoothGrad: the same seed gives the same numbers, another seed others.
    let smooth = |seed: &str| {
        json_of(&sc_bench(&[
            "attribute",
            "--run",
            r,
            "--data",
            data,
            "--method",
            "smoothgrad",
            "--noise-samples",
            "4",
            "--seed",
            seed,
            "--limit",
            "3",
            "--json",
        ]))["per_image"]
            .clone()
    };
    assert_eq!(smooth("1"), smooth("1"));
    assert_ne!(smooth("1"), smooth("2"));
}

#[test]
fn flags_of_another_method_and_bad_values_are_one_line_errors() {
    let no_run = "/nonexistent/run";
    let base = ["attribute", "--run", no_run, "--data", "shapes:20"];
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--method", "saliency", "--noise-std", "0.1"],
            &["--noise-std", "smoothgrad"],
        ),
        (
            &["--method", "ig", "--noise-samples", "3"],
            &["--noise-samples", "smoothgrad"],
        ),
        (
            &["--method", "gradcam", "--seed", "3"],
            &["--seed", "smoothgrad or lime"],
        ),
        (
            &["--method", "smoothgrad", "--steps", "3"],
            &["--steps", "--smoothgrad-base ig"],
        ),
        (
            &["--method", "ig", "--smoothgrad-base", "ig"],
            &["--smoothgrad-base"],
        ),
        (
            &["--method", "smoothgrad", "--noise-samples", "0"],
            &["--noise-samples 0"],
        ),
        (
            &["--method", "smoothgrad", "--noise-std=-1"],
            &["--noise-std -1"],
        ),
        (
            &["--method", "smoothgrad", "--noise-std", "NaN"],
            &["--noise-std NaN"],
        ),
        (&["--curve-steps", "0"], &["--curve-steps 0"]),
        (&["--method", "lime", "--samples", "0"], &["--samples 0"]),
        (&["--method", "lime", "--segments", "0"], &["--segments 0"]),
        (
            &["--method", "ig", "--samples", "10"],
            &["--samples", "lime"],
        ),
        (
            &["--method", "saliency", "--lime-fill", "black"],
            &["--lime-fill"],
        ),
        (
            &["--method", "gradcam", "--top-k", "3"],
            &["--top-k", "lime"],
        ),
        (&["--method", "magic"], &["--method", "saliency", "gradcam"]),
        (
            &["--method", "ig", "--layer", "layer3"],
            &["--layer", "gradcam"],
        ),
        (&["--method", "ig", "--steps", "0"], &["--steps"]),
    ];
    for (extra, needles) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let err = crate::fails(&args, &[]);
        for n in *needles {
            assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
        }
    }
}

/// Width and height from a PNG's IHDR chunk.
fn image_size(path: &std::path::Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// The grid of one model's saliency maps of 3 images.
fn png_of_one(run: &str, data: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let png = dir.join("one.png");
    json_of(&sc_bench(&[
        "attribute",
        "--run",
        run,
        "--data",
        data,
        "--method",
        "saliency",
        "--limit",
        "3",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]));
    png
}
