//! Integration tests: `sc-bench` run as a user runs it.

mod api_ig_resnet;
mod cli_attribute;
mod cli_data;
mod cli_errors;
mod cli_eval;
mod cli_fairness;
mod cli_perturb;
mod cli_probe_discontinuity;
mod cli_probe_margin;
mod cli_report;
mod cli_speed;
mod cli_train;

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `sc-bench` with `args`.
pub fn sc_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sc-bench"))
        .args(args)
        .output()
        .expect("sc-bench runs")
}

/// Checks the failure contract on `out` (the output of `what`): a
/// non-zero exit, no panic, one line on stderr starting with `error: `,
/// naming every needle; returns stderr.
pub fn check_failure(what: &str, out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what} succeeded");
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
    assert!(err.starts_with("error: "), "{what}: {err}");
    for n in needles {
        assert!(err.contains(n), "{what}: {err:?} lacks {n:?}");
    }
    err
}

/// Runs `sc-bench` with `args` and checks the failure contract
/// ([`check_failure`]); returns stderr.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    check_failure(&format!("{args:?}"), &sc_bench(args), needles)
}

/// stdout parsed as one JSON object; panics with stderr on failure.
pub fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "sc-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `../shared/data` beside the checkout. Tests that call it are
/// `#[ignore = "needs ../shared ..."]`: a plain `cargo test` lists them as
/// ignored (never passed silently), and `--include-ignored` runs them and
/// fails here when the folder is missing.
pub fn shared_data() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(p.is_dir(), "this test needs {} (real data)", p.display());
    p
}
