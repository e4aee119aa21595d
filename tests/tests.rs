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
