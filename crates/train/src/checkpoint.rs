//! Checkpoints of a run: the model (weights and BatchNorm statistics), the
//! optimiser's state and the position, so that a resumed run ends
//! bit-identical to an uninterrupted one. Each file is written atomically
//! and the JSON (which holds the position) last, see [`RunDir`].

use crate::config::TrainConfig;
use crate::metrics::EpochMetrics;
use crate::optim::Optimizer;
use crate::run::{io, RunDir};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use sc_data::ImageSet;
use sc_models::{CheckpointMeta, Model};
use std::collections::HashMap;

/// Where a run stands: stored in every checkpoint's JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Progress {
    /// Epoch being trained (0-based).
    pub epoch: u64,
    /// Batches of that epoch already done.
    pub step_in_epoch: u64,
    /// Optimisation steps done.
    pub global_step: u64,
    /// The optimiser's own step count (Adam's bias correction).
    pub optimizer_steps: u64,
    /// Training time so far, across resumes.
    pub elapsed_seconds: f64,
    /// Every metrics line so far.
    pub metrics: Vec<EpochMetrics>,
    /// The configuration the run was trained with up to here.
    pub config: TrainConfig,
}

impl Progress {
    /// The start of a run.
    pub fn start(config: &TrainConfig) -> Self {
        Progress {
            epoch: 0,
            step_in_epoch: 0,
            global_step: 0,
            optimizer_steps: 0,
            elapsed_seconds: 0.0,
            metrics: Vec::new(),
            config: config.clone(),
        }
    }
}

/// A checkpoint read back: the model, where the run stood, the optimiser state.
pub(crate) struct Restored {
    pub model: Model,
    pub progress: Progress,
    pub optimizer_state: HashMap<String, Tensor>,
}

/// Reads checkpoint `stem` of `run`.
pub(crate) fn restore(run: &RunDir, stem: &str, device: &Device) -> Result<Restored> {
    let (model, meta) = sc_models::load_checkpoint(run.checkpoints(), stem, device)?;
    let progress: Progress = serde_json::from_value(meta.training.clone())
        .map_err(|e| Error::Checkpoint(format!("{stem}.json: {e}")))?;
    let optim_path = run.checkpoints().join(format!("{stem}.optim.safetensors"));
    let optimizer_state = candle_core::safetensors::load(&optim_path, device)
        .map_err(|e| Error::Checkpoint(format!("{}: {e}", optim_path.display())))?;
    Ok(Restored {
        model,
        progress,
        optimizer_state,
    })
}

/// Writes the checkpoint after `progress.global_step` steps (optimiser state,
/// then weights, then the JSON), and prunes old ones.
pub(crate) fn save(
    run: &RunDir,
    model: &Model,
    optimizer: &Optimizer,
    progress: &Progress,
    train_set: &ImageSet,
) -> Result<()> {
    let dir = run.checkpoints();
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let stem = RunDir::stem(progress.global_step);
    let (state, _) = optimizer.state()?;
    let optim_path = dir.join(format!("{stem}.optim.safetensors"));
    let cpu: HashMap<String, Tensor> = state
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    sc_core::write_atomic_with(&optim_path, |tmp| {
        candle_core::safetensors::save(&cpu, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| io(&optim_path, e))?;
    let meta = CheckpointMeta {
        classes: train_set.classes().to_vec(),
        dataset: progress.config.data.clone(),
        training: serde_json::to_value(progress).map_err(|e| Error::Checkpoint(e.to_string()))?,
    };
    sc_models::save_checkpoint(&dir, &stem, model, &meta)?;
    run.prune(progress.config.keep_checkpoints)?;
    Ok(())
}
