//! Checkpoints: `<stem>.safetensors` (the weights, loadable on their own)
//! and `<stem>.json` (what the weights are and the trainer's state).
//!
//! Both files are written atomically, the JSON last: a checkpoint is
//! complete exactly when its JSON exists, and the JSON records a hash of
//! the weights it belongs to, so weights overwritten without their JSON
//! (a kill between the two renames) are detected on load.

use crate::arch::{Arch, NetConfig};
use crate::io::{fnv1a64, write_atomic};
use crate::normalize::Normalize;
use crate::{Error, Model, Result};
use candle_core::Device;
use sc_core::Classifier;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the JSON layout.
const FORMAT: u32 = 1;

/// What the caller records with a checkpoint; the model's own description
/// (architecture, classes, input shape, normalisation) is added from the
/// model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Class names, index = label; empty, or one per class of the model.
    pub classes: Vec<String>,
    /// The data set the model was trained on, e.g. `cifar100` or `shapes`.
    pub dataset: String,
    /// Free-form trainer state (epoch, step, optimiser state, regime...).
    #[serde(default)]
    pub training: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct CheckpointJson {
    format: u32,
    model: String,
    arch: Option<Arch>,
    config: NetConfig,
    num_classes: usize,
    input_shape: [usize; 3],
    dtype: String,
    normalize: Option<Normalize>,
    weights: String,
    weights_fnv1a64: String,
    #[serde(flatten)]
    meta: CheckpointMeta,
}

/// The two paths of checkpoint `stem` in `dir`: weights, then JSON.
pub fn checkpoint_paths(dir: impl AsRef<Path>, stem: &str) -> (PathBuf, PathBuf) {
    let dir = dir.as_ref();
    (
        dir.join(format!("{stem}.safetensors")),
        dir.join(format!("{stem}.json")),
    )
}

/// Writes checkpoint `stem` of `model` into `dir` (created if needed).
pub fn save_checkpoint(
    dir: impl AsRef<Path>,
    stem: &str,
    model: &Model,
    meta: &CheckpointMeta,
) -> Result<()> {
    check_stem(stem)?;
    if !meta.classes.is_empty() && meta.classes.len() != model.num_classes() {
        return Err(Error::invalid(
            "checkpoint",
            format!(
                "{} class names for a model of {} classes",
                meta.classes.len(),
                model.num_classes()
            ),
        ));
    }
    let (weights, json_path) = checkpoint_paths(dir, stem);
    let bytes = model.save_bytes(&weights)?;
    let json = CheckpointJson {
        format: FORMAT,
        model: model.name().to_string(),
        arch: model.arch(),
        config: *model.config(),
        num_classes: model.num_classes(),
        input_shape: model.input_shape(),
        dtype: format!("{:?}", model.dtype()).to_lowercase(),
        normalize: model.normalize().cloned(),
        weights: format!("{stem}.safetensors"),
        weights_fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
        meta: meta.clone(),
    };
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Error::format(&json_path, e.to_string()))?;
    write_atomic(&json_path, |tmp| {
        std::fs::write(tmp, text.as_bytes()).map_err(|e| Error::io(tmp, e))
    })
}

/// Reads checkpoint `stem` from `dir`: the model (on `device`, with the
/// image size and normalisation it was saved with) and the caller's meta.
pub fn load_checkpoint(
    dir: impl AsRef<Path>,
    stem: &str,
    device: &Device,
) -> Result<(Model, CheckpointMeta)> {
    check_stem(stem)?;
    let (weights, json_path) = checkpoint_paths(dir, stem);
    let text = std::fs::read_to_string(&json_path).map_err(|e| Error::io(&json_path, e))?;
    let json: CheckpointJson = serde_json::from_str(&text)
        .map_err(|e| Error::format(&json_path, format!("not a checkpoint description: {e}")))?;
    if json.format != FORMAT {
        return Err(Error::format(
            &json_path,
            format!("checkpoint format {}, expected {FORMAT}", json.format),
        ));
    }
    let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
    let hash = format!("{:016x}", fnv1a64(&bytes));
    if hash != json.weights_fnv1a64 {
        return Err(Error::format(
            &weights,
            format!(
                "weights hash {hash} differs from {} recorded in {}: the weights were replaced without their description",
                json.weights_fnv1a64,
                json_path.display()
            ),
        ));
    }
    let [_, h, w] = json.input_shape;
    let model = Model::from_bytes(json.config, [h, w], &bytes, &weights, device)?;
    let disagree = |what: &str, file: String, json: String| {
        Error::format(
            &json_path,
            format!("{what} {json} disagrees with the weights' {file}"),
        )
    };
    if model.config() != &json.config {
        return Err(disagree(
            "network",
            format!("{:?}", model.config()),
            format!("{:?}", json.config),
        ));
    }
    if model.input_shape() != json.input_shape {
        return Err(disagree(
            "input shape",
            format!("{:?}", model.input_shape()),
            format!("{:?}", json.input_shape),
        ));
    }
    if model.normalize() != json.normalize.as_ref() {
        return Err(disagree(
            "normalisation",
            format!("{:?}", model.normalize()),
            format!("{:?}", json.normalize),
        ));
    }
    if !json.meta.classes.is_empty() && json.meta.classes.len() != model.num_classes() {
        return Err(disagree(
            "class list of length",
            model.num_classes().to_string(),
            json.meta.classes.len().to_string(),
        ));
    }
    Ok((model, json.meta))
}

fn check_stem(stem: &str) -> Result<()> {
    let plain = !stem.is_empty()
        && !stem.starts_with('.')
        && !stem.contains(['/', '\\'])
        && Path::new(stem).file_name().is_some_and(|n| n == stem);
    if plain {
        Ok(())
    } else {
        Err(Error::invalid(
            "checkpoint name",
            format!("{stem:?}: expected a plain file stem"),
        ))
    }
}
