use crate::{json_of, sc_bench, shared_data};
use serde_json::json;

#[test]
fn data_info_json_has_the_documented_shape() {
    let v = json_of(&sc_bench(&[
        "data",
        "info",
        "--data",
        "shapes:100",
        "--json",
    ]));
    assert_eq!(v["train"]["count"], 100);
    assert_eq!(v["test"]["count"], 20);
    assert_eq!(v["train"]["shape"], json!([3, 32, 32]));
    assert_eq!(v["train"]["label_counts"], json!(vec![10; 10]));
    assert_eq!(v["test"]["label_counts"], json!(vec![2; 10]));
}

#[test]
#[ignore = "needs ../shared (run with --include-ignored)"]
fn data_info_reads_the_real_mnist_test_set() {
    let shared = shared_data();
    let spec = format!("mnist:{}", shared.join("mnist").display());
    let v = json_of(&sc_bench(&["data", "info", "--data", &spec, "--json"]));
    assert_eq!(v["test"]["count"], 10_000);
    assert_eq!(v["test"]["shape"], json!([1, 28, 28]));
    assert_eq!(
        v["test"]["label_counts"],
        json!([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    );
    assert_eq!(v["train"]["count"], 5_000);
    // A directory with only the test files: train is null.
    let spec = format!("fashion-mnist:{}", shared.join("fashion-mnist").display());
    let v = json_of(&sc_bench(&["data", "info", "--data", &spec, "--json"]));
    assert!(v["train"].is_null());
    assert_eq!(v["test"]["label_counts"], json!(vec![1000; 10]));
    let spec = format!(
        "cifar10:{}",
        shared.join("cifar10/binary-first20").display()
    );
    let v = json_of(&sc_bench(&["data", "info", "--data", &spec, "--json"]));
    assert_eq!(v["test"]["count"], 20);
    assert_eq!(v["test"]["shape"], json!([3, 32, 32]));
}

#[test]
fn preview_writes_a_png_grid_with_masks() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    let v = json_of(&sc_bench(&[
        "data",
        "preview",
        "--data",
        "shapes:50",
        "--split",
        "train",
        "--per-class",
        "2",
        "--out",
        png.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(v["images"], 20);
    assert_eq!(v["masks"], true);
    let img = image_size(&png);
    // 2 images + 2 masks per row, 10 rows, each at least 32 px.
    assert!(img.0 >= 4 * 32 && img.1 >= 10 * 32, "{img:?}");
}

fn image_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

#[test]
fn bad_input_exits_non_zero_with_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (
            vec!["data", "info", "--data", "imagenet:x"],
            "unknown data set",
        ),
        (
            vec!["data", "info", "--data", "shapes:abc"],
            "not a non-negative integer",
        ),
        (
            vec!["data", "info", "--data", "mnist:/nonexistent/dir"],
            "/nonexistent/dir",
        ),
        (
            vec!["data", "info", "--data", "cifar10:x", "--image-size", "64"],
            "image-size",
        ),
        (
            vec![
                "data",
                "fetch",
                "nosuchset",
                "--dir",
                dir.path().to_str().unwrap(),
            ],
            "nosuchset",
        ),
    ] {
        let out = sc_bench(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
    }
    // A corrupt file names the file.
    std::fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 1],
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 1, 0],
    )
    .unwrap();
    let spec = format!("mnist:{}", dir.path().display());
    let out = sc_bench(&["data", "info", "--data", &spec]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("t10k-images-idx3-ubyte"), "{err}");
}
