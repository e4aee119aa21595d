//! `cargo xtask bench`: semcon's workloads beside PyTorch's, measured on the
//! same machine in one sitting. `sc-bench speed` times ours; the PyTorch
//! anchor (`../shared/bench/torch_anchor.py`, run with `--python`) or a JSON
//! it wrote earlier (`--torch-json`) gives the other column. The table goes
//! to stdout and `BENCH.md`, both JSON files and the paired rows to
//! `bench.json`, in `--out` (default `target/bench`).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `cargo xtask bench` was asked.
pub struct Options {
    pub out: PathBuf,
    pub python: Option<String>,
    pub torch_json: Option<PathBuf>,
    pub anchor: PathBuf,
    pub models: String,
    pub reps: usize,
    pub only: String,
}

/// The rows of the table: JSON key, label, metric (`images_per_s` or `gflops`).
const ROWS: [(&str, &str, &str); 18] = [
    (
        "small.a_train",
        "small-cnn training step (B=128)",
        "images_per_s",
    ),
    (
        "small.b_sc_train",
        "small-cnn continuity step (B=128, fwd 2B)",
        "images_per_s",
    ),
    ("small.c_pgd10", "small-cnn PGD-10 (B=128)", "images_per_s"),
    ("small.d_ig32", "small-cnn IG-32 (B=16)", "images_per_s"),
    (
        "resnet18.a_train",
        "resnet18 training step (B=128)",
        "images_per_s",
    ),
    (
        "resnet18.b_sc_train",
        "resnet18 continuity step (B=128, fwd 2B)",
        "images_per_s",
    ),
    (
        "resnet18.c_pgd10",
        "resnet18 PGD-10 (B=128)",
        "images_per_s",
    ),
    ("resnet18.d_ig32", "resnet18 IG-32 (B=16)", "images_per_s"),
    ("f.matmul2048", "matmul 2048^3", "gflops"),
    (
        "f.conv 64->64 3x3 @32x32",
        "conv 64->64 3x3 @32x32 forward",
        "gflops",
    ),
    (
        "f.conv 64->64 3x3 @32x32 input-grad",
        "conv 64->64 3x3 @32x32 input gradient",
        "gflops",
    ),
    (
        "f.conv 64->64 3x3 @32x32 weight-grad",
        "conv 64->64 3x3 @32x32 weight gradient",
        "gflops",
    ),
    (
        "f.conv 128->128 3x3 @16x16",
        "conv 128->128 3x3 @16x16 forward",
        "gflops",
    ),
    (
        "f.conv 128->128 3x3 @16x16 input-grad",
        "conv 128->128 3x3 @16x16 input gradient",
        "gflops",
    ),
    (
        "f.conv 128->128 3x3 @16x16 weight-grad",
        "conv 128->128 3x3 @16x16 weight gradient",
        "gflops",
    ),
    (
        "f.conv 256->256 3x3 @8x8",
        "conv 256->256 3x3 @8x8 forward",
        "gflops",
    ),
    (
        "f.conv 256->256 3x3 @8x8 input-grad",
        "conv 256->256 3x3 @8x8 input gradient",
        "gflops",
    ),
    (
        "f.conv 256->256 3x3 @8x8 weight-grad",
        "conv 256->256 3x3 @8x8 weight gradient",
        "gflops",
    ),
];

fn metric(results: Option<&Value>, key: &str, metric: &str) -> Option<f64> {
    results?.get("results")?.get(key)?.get(metric)?.as_f64()
}

/// The paired rows and the markdown table of two result files (the second optional).
pub fn table(ours: &Value, torch: Option<&Value>) -> (Vec<Value>, String) {
    let mut rows = Vec::new();
    let mut md = String::from(
        "| workload | unit | semcon | PyTorch | semcon / PyTorch |\n|---|---|---|---|---|\n",
    );
    for (key, label, what) in ROWS {
        let a = metric(Some(ours), key, what);
        let b = metric(torch, key, what);
        if a.is_none() && b.is_none() {
            continue;
        }
        let ratio = match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let unit = if what == "gflops" { "GFLOP/s" } else { "img/s" };
        let cell = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        md.push_str(&format!(
            "| {label} | {unit} | {} | {} | {} |\n",
            cell(a),
            cell(b),
            ratio.map_or("—".to_string(), |r| format!("{r:.2}x"))
        ));
        rows.push(json!({"key": key, "label": label, "unit": unit, "semcon": a, "pytorch": b, "ratio": ratio}));
    }
    (rows, md)
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs both sides and writes the table.
pub fn bench(sc_bench: &Path, opts: &Options) -> Result<()> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let load_before = loadavg();
    let ours_path = opts.out.join("semcon.json");
    let reps = opts.reps.to_string();
    let status = Command::new(sc_bench)
        .args([
            "speed",
            "--models",
            &opts.models,
            "--reps",
            &reps,
            "--only",
            &opts.only,
        ])
        .arg("--out")
        .arg(&ours_path)
        .status()
        .context("running sc-bench speed")?;
    if !status.success() {
        bail!("sc-bench speed failed ({status})");
    }
    let torch = match (&opts.python, &opts.torch_json) {
        (Some(python), None) => {
            if !opts.anchor.is_file() {
                bail!(
                    "--python: the PyTorch anchor {} does not exist (give --anchor PATH)",
                    opts.anchor.display()
                );
            }
            let path = opts.out.join("torch.json");
            let models = opts.models.replace("small-cnn", "small");
            let status = Command::new(python)
                .env("OMP_NUM_THREADS", "2")
                .arg(&opts.anchor)
                .args([
                    "--threads",
                    "2",
                    "--models",
                    &models,
                    "--reps",
                    &reps,
                    "--only",
                    &opts.only,
                ])
                .arg("--json")
                .arg(&path)
                .status()
                .with_context(|| format!("running {python} {}", opts.anchor.display()))?;
            if !status.success() {
                bail!("the PyTorch anchor failed ({status}); is torch installed for {python}?");
            }
            Some(read_json(&path)?)
        }
        (None, Some(path)) => Some(read_json(path)?),
        (None, None) => None,
        (Some(_), Some(_)) => bail!("give --python or --torch-json, not both"),
    };
    let ours = read_json(&ours_path)?;
    let (rows, md) = table(&ours, torch.as_ref());
    let load_after = loadavg();
    let header = format!(
        "Measured in one sitting on this machine; load average {load_before} before, {load_after} after.\n\
         semcon: `sc-bench speed` (median of {reps}); PyTorch: {}.\n\n",
        torch
            .as_ref()
            .and_then(|t| t.get("info"))
            .map_or("not run (give --python or --torch-json)".to_string(), |i| format!(
                "torch {} ({} threads, {})",
                i.get("torch").and_then(Value::as_str).unwrap_or("?"),
                i.get("threads").and_then(Value::as_u64).unwrap_or(0),
                i.get("cpu_capability").and_then(Value::as_str).unwrap_or("?"),
            ))
    );
    let text = format!("{header}{md}");
    println!("{text}");
    crate::write_atomic(&opts.out.join("BENCH.md"), &text)?;
    let combined = json!({
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "rows": rows,
        "semcon": ours,
        "pytorch": torch,
    });
    crate::write_atomic(
        &opts.out.join("bench.json"),
        serde_json::to_string_pretty(&combined)?,
    )?;
    eprintln!("wrote {}", opts.out.join("BENCH.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_rows_and_computes_ratios() {
        let ours = json!({"results": {
            "small.a_train": {"images_per_s": 300.0},
            "f.conv 64->64 3x3 @32x32": {"gflops": 100.0},
            "f.conv 64->64 3x3 @32x32 input-grad": {"gflops": 50.0}
        }});
        let torch = json!({"results": {
            "small.a_train": {"images_per_s": 600.0},
            "small.c_pgd10": {"images_per_s": 70.0},
            "f.conv 64->64 3x3 @32x32": {"gflops": 80.0}
        }});
        let (rows, md) = table(&ours, Some(&torch));
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["ratio"], json!(0.5));
        assert!(rows[1]["semcon"].is_null()); // PGD: PyTorch only
        assert_eq!(rows[2]["ratio"], json!(1.25));
        assert!(rows[3]["pytorch"].is_null()); // input gradient: ours only
        assert!(md.contains("| small-cnn training step (B=128) | img/s | 300.0 | 600.0 | 0.50x |"));
        let (alone, _) = table(&ours, None);
        assert!(alone.iter().all(|r| r["ratio"].is_null()));
    }
}
