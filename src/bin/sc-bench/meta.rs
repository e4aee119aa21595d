//! The `meta` object of every stage's JSON (train, eval, sweep, attribute):
//! where its numbers come from, so that a study report can say which
//! weights, configuration, seed, device and version produced each number
//! (read back as `sc_report::study::stages::Meta`).

use crate::args::DeviceArg;
use crate::model::ModelArgs;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Lower-case hex SHA-256 of the file at `path`.
fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("hashing {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `meta` for a stage that used the training run in `run`: its config's
/// and newest checkpoint's hashes.
pub fn for_run(seed: Option<u64>, device: DeviceArg, run: &Path) -> Result<Value> {
    let runs = sc_train::RunDir::new(run);
    let config = runs.config();
    let config_sha256 = config.is_file().then(|| sha256_file(&config)).transpose()?;
    let checkpoint = runs.latest()?;
    let checkpoint_sha256 = checkpoint
        .as_ref()
        .map(|stem| sha256_file(&runs.checkpoints().join(format!("{stem}.safetensors"))))
        .transpose()?;
    Ok(json!({
        "seed": seed,
        "device": device.to_string(),
        "semcon_version": env!("CARGO_PKG_VERSION"),
        "config_sha256": config_sha256,
        "checkpoint": checkpoint,
        "checkpoint_sha256": checkpoint_sha256,
    }))
}

/// `meta` for a stage that used the model of `model` (a run or a weights file).
pub fn for_model(seed: Option<u64>, device: DeviceArg, model: &ModelArgs) -> Result<Value> {
    match (&model.run, &model.weights) {
        (Some(run), _) => for_run(seed, device, run),
        (None, Some(weights)) => Ok(json!({
            "seed": seed,
            "device": device.to_string(),
            "semcon_version": env!("CARGO_PKG_VERSION"),
            "config_sha256": null,
            "checkpoint": weights.display().to_string(),
            "checkpoint_sha256": sha256_file(weights)?,
        })),
        (None, None) => {
            anyhow::bail!("give the model as --run DIR or as --model NAME --weights FILE")
        }
    }
}
