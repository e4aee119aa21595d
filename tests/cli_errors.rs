//! Input that cannot be honoured is an error, never a panic or a number:
//! for every bad input, a non-zero exit and one line on stderr that starts
//! with `error:` and names what was wrong.

use crate::{fails, json_of, sc_bench};
use std::path::Path;

#[test]
fn bad_values_on_every_subcommand_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    let png = png.to_str().unwrap();
    let no_run = "/nonexistent/run";
    // A directory that holds no training run.
    let empty = dir.path().join("empty-run");
    std::fs::create_dir(&empty).unwrap();
    let empty_run = empty.to_str().unwrap();
    let table: Vec<(Vec<&str>, Vec<&str>)> = vec![
        // speed
        (vec!["speed", "--classes", "0"], vec!["--classes 0"]),
        (vec!["speed", "--batch", "0"], vec!["--batch 0"]),
        (
            vec!["speed", "--batch", "100000000"],
            vec!["--batch", "1024"],
        ),
        (vec!["speed", "--reps", "0"], vec!["--reps 0"]),
        (
            vec!["speed", "--reps", "18446744073709551615"],
            vec!["--reps"],
        ),
        (vec!["speed", "--ig-chunk", "0"], vec!["--ig-chunk"]),
        (vec!["speed", "--only", ""], vec!["--only"]),
        (vec!["speed", "--models", "vgg"], vec!["--models", "vgg"]),
        (vec!["speed", "--batch", "-3"], vec!["-3"]),
        (
            vec!["speed", "--margin-images", "0"],
            vec!["--margin-images 0", "1 to 1024"],
        ),
        (vec!["speed", "--lime-images", "0"], vec!["--lime-images 0"]),
        (
            vec!["speed", "--lime-samples", "1000000"],
            vec!["--lime-samples 1000000", "100000"],
        ),
        (
            vec!["speed", "--tsne-points", "31"],
            vec!["--tsne-points 31", "32 to 10000"],
        ),
        (
            vec!["speed", "--tsne-points", "20000"],
            vec!["--tsne-points 20000"],
        ),
        // data specs and image sizes
        (
            vec!["data", "info", "--data", "shapes:size=100000"],
            vec!["--data", "limit is 4 GiB"],
        ),
        (
            vec!["data", "info", "--data", "shapes:n=0"],
            vec!["--data", "at least 1 training image"],
        ),
        (vec!["data", "info", "--data", "shapes:0"], vec!["N >= 1"]),
        (
            vec!["data", "info", "--data", "shapes:size=0"],
            vec!["at least 16"],
        ),
        (
            vec!["data", "info", "--data", "shapes:n=5,n=6"],
            vec!["given twice"],
        ),
        (
            vec!["data", "info", "--data", "shapes:n=5,colour=red"],
            vec!["unknown key \"colour\""],
        ),
        (
            vec!["data", "info", "--data", "shapes:n=99999999999999999999"],
            vec!["not a non-negative integer"],
        ),
        (
            vec!["data", "info", "--data", "shapes:20", "--image-size", "0"],
            vec!["--image-size", "at least 1"],
        ),
        (
            vec![
                "data",
                "info",
                "--data",
                "shapes:20",
                "--image-size",
                "100000",
            ],
            vec!["--image-size", "limit is 4 GiB"],
        ),
        (
            vec![
                "data",
                "info",
                "--data",
                "folder:x",
                "--image-size",
                "100000",
            ],
            vec!["--image-size", "at most 1024"],
        ),
        (
            vec!["data", "info", "--data", "imagenet:x"],
            vec!["imagenet"],
        ),
        (
            vec!["data", "info", "--data", "cifar10:/nonexistent/c"],
            vec!["/nonexistent/c"],
        ),
        (
            vec![
                "data",
                "preview",
                "--data",
                "shapes:20",
                "--out",
                png,
                "--per-class",
                "0",
            ],
            vec!["--per-class"],
        ),
        (
            vec![
                "data",
                "preview",
                "--data",
                "shapes:20",
                "--out",
                png,
                "--split",
                "val",
            ],
            vec!["--split", "val"],
        ),
        // perturb
        (
            vec![
                "perturb",
                "--data",
                "shapes:20",
                "--out",
                png,
                "--kind",
                "hue",
                "--level",
                "9",
            ],
            vec!["--level", "9"],
        ),
        (
            vec![
                "perturb",
                "--data",
                "shapes:20",
                "--out",
                png,
                "--kind",
                "blur",
                "--level",
                "1",
            ],
            vec!["--kind", "blur"],
        ),
        (
            vec![
                "perturb",
                "--data",
                "shapes:20",
                "--out",
                png,
                "--kind",
                "hue",
                "--level",
                "1",
                "--limit",
                "0",
            ],
            vec!["--limit"],
        ),
        (
            vec![
                "perturb",
                "--data",
                "shapes:n=20,size=20",
                "--out",
                png,
                "--kind",
                "sliding-puzzle",
                "--level",
                "4",
            ],
            vec!["not applicable", "16 does not divide 20x20"],
        ),
        // sweep and attribute: argument errors come before the model is read
        (
            vec![
                "sweep",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--batch-size",
                "0",
            ],
            vec!["--batch-size", "at least 1"],
        ),
        (
            vec![
                "sweep",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--kinds",
                "blur",
            ],
            vec!["--kinds", "blur"],
        ),
        (
            vec![
                "sweep",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--kinds",
                "hue,hue",
            ],
            vec!["hue is listed twice"],
        ),
        (
            vec![
                "sweep",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--limit",
                "0",
            ],
            vec!["--limit"],
        ),
        (
            vec![
                "sweep",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--device",
                "gpu",
            ],
            vec!["--device", "gpu"],
        ),
        (
            vec!["sweep", "--run", no_run, "--data", "shapes:size=0"],
            vec!["--data"],
        ),
        (
            vec!["sweep", "--run", no_run, "--data", "shapes:20"],
            vec![no_run],
        ),
        (
            vec![
                "sweep",
                "--model",
                "vgg",
                "--weights",
                "w",
                "--data",
                "shapes:20",
            ],
            vec!["--model", "vgg"],
        ),
        (
            vec![
                "attribute",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--batch-size",
                "0",
            ],
            vec!["--batch-size"],
        ),
        (
            vec![
                "attribute",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--method",
                "magic",
            ],
            vec!["--method", "magic"],
        ),
        (
            vec![
                "attribute",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--method",
                "saliency",
                "--steps",
                "8",
            ],
            vec!["--steps applies to --method ig only"],
        ),
        (
            vec![
                "attribute",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--steps",
                "0",
            ],
            vec!["--steps"],
        ),
        (
            vec![
                "attribute",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--steps",
                "18446744073709551615",
            ],
            vec!["--steps", "at most 4096"],
        ),
        // probe discontinuity: no checkpoint, bad values
        (
            vec![
                "probe",
                "discontinuity",
                "--run",
                no_run,
                "--data",
                "shapes:20",
            ],
            vec![no_run],
        ),
        (
            vec![
                "probe",
                "discontinuity",
                "--run",
                empty_run,
                "--data",
                "shapes:20",
            ],
            vec![empty_run, "no complete checkpoint"],
        ),
        (
            vec![
                "probe",
                "discontinuity",
                "--run",
                no_run,
                "--data",
                "shapes:n=20,test=20",
                "--per-class",
                "3",
            ],
            vec!["per-class", "3 images of each class", "has 2"],
        ),
        (
            vec![
                "probe",
                "discontinuity",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--limit",
                "5",
                "--per-class",
                "1",
            ],
            vec!["--limit", "--per-class"],
        ),
        (
            vec![
                "probe",
                "discontinuity",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--level",
                "5",
            ],
            vec!["--level", "out of range"],
        ),
        (
            vec![
                "probe",
                "discontinuity",
                "--run",
                no_run,
                "--data",
                "shapes:20",
                "--batch-size",
                "0",
            ],
            vec!["--batch-size", "at least 1"],
        ),
    ];
    for (args, needles) in &table {
        fails(args, needles);
    }
    assert!(!Path::new(png).exists(), "a failed run left {png}");
}

#[test]
fn cuda_on_a_build_without_it_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    fails(
        &[
            "sweep",
            "--run",
            "/nonexistent/run",
            "--data",
            "shapes:20",
            "--device",
            "cuda",
        ],
        &["--device", "built without CUDA"],
    );
}

#[test]
fn values_that_can_be_honoured_still_run() {
    // A --limit above the split's size uses the whole split; a huge
    // --per-class shows what there is.
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    let png = png.to_str().unwrap();
    let v = json_of(&sc_bench(&[
        "perturb",
        "--data",
        "shapes:20",
        "--out",
        png,
        "--kind",
        "hue",
        "--level",
        "1",
        "--limit",
        "18446744073709551615",
        "--json",
    ]));
    assert_eq!(v["mean_abs_change"].as_array().unwrap().len(), 4);
    let v = json_of(&sc_bench(&[
        "data",
        "preview",
        "--data",
        "shapes:20",
        "--out",
        png,
        "--per-class",
        "18446744073709551615",
        "--json",
    ]));
    assert_eq!(v["images"], 4);
}

/// Trains the smallest model the tests use: small-cnn on `data`, one epoch.
fn tiny_run(dir: &Path, data: &str) -> String {
    let run = dir.join("run");
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
    run.to_str().unwrap().to_string()
}

#[test]
fn sweep_json_lists_what_does_not_apply_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = "shapes:n=32,test=8,size=24";
    let run = tiny_run(dir.path(), data);
    let v = json_of(&sc_bench(&[
        "sweep",
        "--run",
        &run,
        "--data",
        data,
        "--kinds",
        "sliding-puzzle,brightness",
        "--json",
    ]));
    // 24x24 images (small-cnn needs multiples of 8): grids 2, 4 and 8
    // divide them, 16 does not.
    let measured: Vec<(String, u64)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["level"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect: Vec<(String, u64)> = [
        ("sliding-puzzle", 1),
        ("sliding-puzzle", 2),
        ("sliding-puzzle", 3),
    ]
    .into_iter()
    .chain((1..=4).map(|l| ("brightness", l)))
    .map(|(k, l)| (k.to_string(), l))
    .collect();
    assert_eq!(measured, expect);
    let skipped = v["not_applicable"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    for (entry, (level, grid)) in skipped.iter().zip([(4, 16)]) {
        assert_eq!(entry["kind"], "sliding-puzzle");
        assert_eq!(entry["level"], level);
        let reason = entry["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("{grid} does not divide 24x24")),
            "{reason}"
        );
    }
}

/// A `folder:` set of `classes` classes, one 16x16 RGB image each (a
/// preview grid written by sc-bench, resized by `--image-size 16`).
fn folder_of(dir: &Path, classes: usize) -> String {
    let png = dir.join("one.png");
    json_of(&sc_bench(&[
        "data",
        "preview",
        "--data",
        "shapes:n=10,test=10,size=16",
        "--per-class",
        "1",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]));
    let root = dir.join(format!("folder{classes}"));
    for c in 0..classes {
        let class = root.join(format!("class{c:02}"));
        std::fs::create_dir_all(&class).unwrap();
        std::fs::copy(&png, class.join("a.png")).unwrap();
    }
    format!("folder:{}", root.display())
}

#[test]
fn data_that_does_not_fit_the_model_is_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path(), "shapes:n=32,test=8,size=16");
    let twelve = folder_of(dir.path(), 12);
    for command in ["sweep", "attribute"] {
        // 12 classes for a 10-class model.
        fails(
            &[
                command,
                "--run",
                &run,
                "--data",
                &twelve,
                "--image-size",
                "16",
            ],
            &["12 classes", "small-cnn", "has 10"],
        );
        // 32x32 images for a model trained on 16x16.
        fails(
            &[command, "--run", &run, "--data", "shapes:n=10,test=4"],
            &["3x32x32", "small-cnn", "3x16x16"],
        );
    }
    // The same folder with ten classes fits, and sweeps.
    let ten = folder_of(dir.path(), 10);
    let v = json_of(&sc_bench(&[
        "sweep",
        "--run",
        &run,
        "--data",
        &ten,
        "--image-size",
        "16",
        "--kinds",
        "hue",
        "--json",
    ]));
    assert_eq!(v["images"], 10);
    assert_eq!(v["entries"].as_array().unwrap().len(), 4);
    assert_eq!(v["not_applicable"], serde_json::json!([]));
}

#[test]
#[ignore = "needs ../shared (run with --include-ignored)"]
fn colour_kinds_on_gray_images_are_not_applicable() {
    let shared = crate::shared_data();
    let mnist = format!("mnist:{}", shared.join("mnist").display());
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    for kind in ["saturation", "hue", "channel-translation"] {
        fails(
            &[
                "perturb",
                "--data",
                &mnist,
                "--limit",
                "4",
                "--out",
                png.to_str().unwrap(),
                "--kind",
                kind,
                "--level",
                "1",
            ],
            &["not applicable", kind, "channel"],
        );
    }
    let v = json_of(&sc_bench(&[
        "perturb",
        "--data",
        &mnist,
        "--limit",
        "4",
        "--out",
        png.to_str().unwrap(),
        "--kind",
        "contrast",
        "--level",
        "4",
        "--json",
    ]));
    assert_eq!(v["mean_abs_change"].as_array().unwrap().len(), 4);
}

#[test]
fn bad_colorful_specs_and_transfer_sources_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    let no_run = "/nonexistent/run";
    for (args, needles) in [
        (
            vec![
                "fairness",
                "--data",
                "colorful-mnist:/m,p=1.5",
                "--run",
                run,
            ],
            vec!["p = 1.5", "expected a share in [0, 1]"],
        ),
        (
            vec!["fairness", "--data", "colorful-shapes:p=-0.2", "--run", run],
            vec!["p = -0.2", "[0, 1]"],
        ),
        (
            vec![
                "fairness",
                "--data",
                "colorful-shapes:a=reddish",
                "--run",
                run,
            ],
            vec!["\"reddish\" is not a colour", "#rrggbb"],
        ),
        (
            vec!["train", "--data", "colorful:cifar10:/c", "--run", run],
            vec!["cifar10:/c", "no background notion"],
        ),
        (
            vec!["fairness", "--data", "colorful:svhn:/s", "--run", run],
            vec!["svhn:/s", "no background notion"],
        ),
        (
            vec!["fairness", "--data", "shapes:10", "--run", run],
            vec!["not a Colorful set"],
        ),
        (
            vec!["fairness", "--data", "colorful-shapes:10", "--run", no_run],
            vec![no_run, "no complete checkpoint"],
        ),
        (
            vec![
                "fairness",
                "--data",
                "colorful-shapes:10",
                "--run",
                run,
                "--epochs",
                "2",
            ],
            vec!["need --regime"],
        ),
        (
            vec![
                "transfer",
                "--from",
                no_run,
                "--data",
                "shapes:10",
                "--run",
                run,
            ],
            vec!["--from", no_run, "no complete checkpoint"],
        ),
        (
            vec![
                "transfer",
                "--from",
                no_run,
                "--data",
                "shapes:10",
                "--run",
                run,
                "--model",
                "vgg",
            ],
            vec!["--model", "vgg"],
        ),
        (
            vec![
                "transfer",
                "--from",
                no_run,
                "--data",
                "colorful-shapes:a=x",
                "--run",
                run,
            ],
            vec!["\"x\" is not a colour"],
        ),
    ] {
        fails(&args, &needles);
    }
}

/// `probe margin` and `alpha-sweep`: flags that cannot be honoured fail
/// before any model runs, naming the flag.
#[test]
fn margin_probe_and_alpha_sweep_reject_bad_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty_run = dir.path().join("empty");
    std::fs::create_dir_all(&empty_run).unwrap();
    let empty_run = empty_run.to_str().unwrap();
    let sweep_dir = dir.path().join("sweep");
    let sweep_dir = sweep_dir.to_str().unwrap();
    let data = "shapes:n=20,test=10,size=16";
    let margin = |extra: &[&'static str]| {
        let mut a = vec!["probe", "margin", "--run", empty_run, "--data", data];
        a.extend_from_slice(extra);
        a
    };
    let table: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (margin(&[]), vec![empty_run, "no complete checkpoint"]),
        (
            margin(&["--band-size", "5"]),
            vec!["--band-size 5", "does not divide the 16x16 images"],
        ),
        (
            margin(&["--band-size", "32"]),
            vec!["--band-size 32", "does not divide"],
        ),
        (
            margin(&["--band-size", "0"]),
            vec!["--band-size", "at least 1"],
        ),
        (
            margin(&["--band-step", "0"]),
            vec!["--band-step", "at least 1"],
        ),
        (
            margin(&["--max-iter", "0"]),
            vec!["--max-iter", "at least 1"],
        ),
        (
            margin(&["--candidates", "1"]),
            vec!["--candidates", "at least 2"],
        ),
        (margin(&["--batch-size", "0"]), vec!["--batch-size"]),
        (margin(&["--overshoot", "-1"]), vec!["--overshoot", ">= 0"]),
        (margin(&["--overshoot", "nan"]), vec!["--overshoot"]),
        (
            margin(&["--per-class", "1000"]),
            vec!["per-class", "1000 images of each class", "has"],
        ),
        (margin(&["--limit", "0"]), vec!["limit", "at least 1"]),
        (
            margin(&["--limit", "2", "--per-class", "1"]),
            vec!["--limit", "--per-class"],
        ),
        (
            vec!["probe", "margin", "--data", data],
            vec!["--run DIR", "--weights FILE"],
        ),
        (
            vec!["alpha-sweep", "--alphas", "", "--run", sweep_dir],
            vec!["--alphas", "empty list"],
        ),
        (
            vec!["alpha-sweep", "--alphas=0,-1", "--run", sweep_dir],
            vec!["--alphas", "-1", ">= 0"],
        ),
        (
            vec!["alpha-sweep", "--alphas", "0.1,1,0.10", "--run", sweep_dir],
            vec!["--alphas", "listed twice"],
        ),
        (
            vec![
                "alpha-sweep",
                "--alphas",
                "0,1",
                "--run",
                sweep_dir,
                "--set",
                "regime=base",
            ],
            vec!["--set regime=base", "sets regime itself"],
        ),
    ];
    for (args, needles) in &table {
        fails(args, needles);
    }
    assert!(
        !Path::new(sweep_dir).exists(),
        "a refused sweep created its directory"
    );
}
