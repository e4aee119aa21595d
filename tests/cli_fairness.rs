//! `fairness` on Colorful sets and `transfer` by fine-tuning, on tiny
//! settings (16x16 shapes, a fake 28x28 MNIST written here), and on the
//! real MNIST of `../shared` (ignored without it).

use crate::{json_of, sc_bench};
use std::path::Path;

const COLORFUL: &str = "colorful-shapes:n=200,test=40,size=16,seed=1";

/// Writes an MNIST-layout IDX directory of `train` + `test` 28x28 gray
/// digits: class `k` is a bright 6x6 square at a position set by `k`, on
/// black.
fn fake_mnist(dir: &Path, train: usize, test: usize) {
    let write = |name: &str, n: usize, offset: usize| {
        let mut images = vec![0, 0, 8, 3];
        let mut labels = vec![0, 0, 8, 1];
        for v in [n as u32, 28, 28] {
            images.extend(v.to_be_bytes());
        }
        labels.extend((n as u32).to_be_bytes());
        for i in 0..n {
            let k = (i + offset) % 10;
            let (x0, y0) = (2 + (k % 5) * 4, 4 + (k / 5) * 12);
            for y in 0..28 {
                for x in 0..28 {
                    let inside = (x0..x0 + 6).contains(&x) && (y0..y0 + 6).contains(&y);
                    images.push(if inside { 200 + (i % 50) as u8 } else { 0 });
                }
            }
            labels.push(k as u8);
        }
        std::fs::write(dir.join(format!("{name}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(dir.join(format!("{name}-labels-idx1-ubyte")), labels).unwrap();
    };
    write("train", train, 0);
    write("t10k", test, 3);
}

#[test]
fn fairness_trains_then_measures_and_a_trained_run_gives_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run = run.to_str().unwrap();
    let first = json_of(&sc_bench(&[
        "fairness",
        "--data",
        COLORFUL,
        "--run",
        run,
        "--regime",
        "base",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--seed",
        "2",
        "--json",
    ]));
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "accuracy",
            "counterfactual_accuracy",
            "flip_rate",
            "gap",
            "group_accuracy",
            "meta",
            "p"
        ]
    );
    // The run's metadata (study reports read it): the checkpoint's digest.
    assert_eq!(
        first["meta"]["checkpoint_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(first["p"], 0.95);
    // The test split: 95% blue (38 of 40), 2 red; the overall accuracy is
    // the images-weighted mean of the two groups'.
    let (red, blue) = (
        first["group_accuracy"]["red"].as_f64().unwrap(),
        first["group_accuracy"]["blue"].as_f64().unwrap(),
    );
    let acc = first["accuracy"].as_f64().unwrap();
    assert!(
        (acc - (2.0 * red + 38.0 * blue) / 40.0).abs() < 1e-12,
        "{first}"
    );
    assert!((first["gap"].as_f64().unwrap() - (red - blue).abs()).abs() < 1e-12);
    for key in ["flip_rate", "counterfactual_accuracy"] {
        let v = first[key].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&v) && (v * 40.0).fract() == 0.0,
            "{key} = {v}"
        );
    }
    // The run now exists: measuring it again gives the same numbers.
    let again = json_of(&sc_bench(&[
        "fairness", "--data", COLORFUL, "--run", run, "--json",
    ]));
    assert_eq!(again, first);
    // --per-class 2: 20 of the 40 test images, so every share is k/20.
    let half = json_of(&sc_bench(&[
        "fairness",
        "--data",
        COLORFUL,
        "--run",
        run,
        "--per-class",
        "2",
        "--json",
    ]));
    for key in ["accuracy", "flip_rate", "counterfactual_accuracy"] {
        let v = half[key].as_f64().unwrap() * 20.0;
        assert!((v - v.round()).abs() < 1e-9, "{key}: {half}");
    }
    // Training flags without --regime would be silently ignored: refused.
    let out = sc_bench(&[
        "fairness", "--data", COLORFUL, "--run", run, "--epochs", "3",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --regime"));
}

#[test]
fn transfer_from_shapes_to_gray_digits_converts_fine_tunes_and_runs_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let mnist = dir.path().join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    fake_mnist(&mnist, 120, 40);
    let source = dir.path().join("source");
    json_of(&sc_bench(&[
        "train",
        "--data",
        "shapes:n=64,test=8,size=16,seed=4",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--run",
        source.to_str().unwrap(),
        "--json",
    ]));
    let target = format!("mnist:{}", mnist.display());
    for freeze in [false, true] {
        let run = dir.path().join(format!("transfer-{freeze}"));
        let mut args = vec![
            "transfer",
            "--from",
            source.to_str().unwrap(),
            "--data",
            &target,
            "--run",
            run.to_str().unwrap(),
            "--epochs",
            "2",
            "--batch-size",
            "40",
            "--with-baseline",
            "--json",
        ];
        if freeze {
            args.push("--freeze-backbone");
        }
        let v = json_of(&sc_bench(&args));
        assert_eq!(
            v["data"],
            format!("convert:{target},channels=3,resize=16"),
            "gray 28x28 becomes the source's 3x16x16"
        );
        assert_eq!(v["source"]["model"], "small-cnn");
        assert_eq!(v["freeze_backbone"], freeze);
        for result in [&v, &v["baseline_from_scratch"]] {
            let epochs = result["epochs"].as_array().unwrap();
            assert_eq!(epochs.len(), 2, "{result}");
            assert_eq!(epochs[1]["test_accuracy"], result["test_accuracy"]);
        }
        let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(config.contains("init.safetensors"), "{config}");
        assert_eq!(
            config.contains("freeze_backbone = true"),
            freeze,
            "{config}"
        );
        let baseline = std::fs::read_to_string(run.join("baseline/config.toml")).unwrap();
        assert!(
            !baseline.contains("init") && !baseline.contains("freeze"),
            "{baseline}"
        );
    }
}

#[test]
fn transfer_refuses_a_model_other_than_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    json_of(&sc_bench(&[
        "train",
        "--data",
        "shapes:n=16,test=4,size=16",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--run",
        source.to_str().unwrap(),
        "--json",
    ]));
    let run = dir.path().join("t");
    let out = sc_bench(&[
        "transfer",
        "--from",
        source.to_str().unwrap(),
        "--data",
        "shapes:n=16,test=4,size=16",
        "--run",
        run.to_str().unwrap(),
        "--model",
        "resnet18",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("--model resnet18") && err.contains("holds a small-cnn"),
        "{err}"
    );
}

#[test]
#[ignore = "needs ../shared (run with --include-ignored)"]
fn colorful_mnist_from_shared_data_has_the_papers_shares_and_a_fairness_report() {
    let shared = crate::shared_data();
    let spec = format!("colorful-mnist:{}", shared.join("mnist").display());
    let v = json_of(&sc_bench(&["data", "info", "--data", &spec, "--json"]));
    assert_eq!(v["train"]["count"], 5000, "{v}");
    assert_eq!(v["test"]["count"], 10000, "{v}");
    assert_eq!(
        v["train"]["group_counts"],
        serde_json::json!({"red": 4750, "blue": 250})
    );
    assert_eq!(
        v["test"]["group_counts"],
        serde_json::json!({"red": 500, "blue": 9500})
    );
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // small-cnn takes sides divisible by 8: 28x28 digits are resized to 32.
    let small = format!("convert:{spec},p=0.9,resize=32");
    let r = json_of(&sc_bench(&[
        "fairness",
        "--data",
        &small,
        "--run",
        run.to_str().unwrap(),
        "--regime",
        "base",
        "--epochs",
        "1",
        "--set",
        "train_limit=500",
        "--set",
        "eval_limit=200",
        "--json",
    ]));
    assert_eq!(r["p"], 0.9);
    // 10% of the 10,000 test images are red, 90% blue.
    let (red, blue) = (
        r["group_accuracy"]["red"].as_f64().unwrap(),
        r["group_accuracy"]["blue"].as_f64().unwrap(),
    );
    let acc = r["accuracy"].as_f64().unwrap();
    assert!((acc - (0.1 * red + 0.9 * blue)).abs() < 1e-9, "{r}");
}
