//! What a run reports while it trains: per-step progress for observers,
//! the lines of `metrics.jsonl`, and the final report.
//!
//! Training accuracy is always on clean images (`train_accuracy`); the
//! adversarial regimes also report the accuracy on their PGD images
//! (`train_adv_accuracy`), which is what their loss sees.

use crate::config::TrainConfig;
use crate::run::{write_atomic, RunDir};
use crate::{Error, Result};

/// Progress of one optimisation step, for progress bars.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepInfo {
    /// Epoch being trained (0-based).
    pub epoch: u64,
    /// Steps of this epoch done, this one included.
    pub step: u64,
    /// Steps in an epoch.
    pub steps_per_epoch: u64,
    /// Steps of the run done, this one included.
    pub global_step: u64,
    /// Running mean of the epoch's total loss.
    pub loss: f64,
    /// Running mean of the cross-entropy term.
    pub ce: f64,
    /// Running mean of the continuity term before alpha.
    pub continuity: f64,
    /// Running training accuracy of the epoch on clean images.
    pub accuracy: f64,
    /// Running training accuracy on the PGD images (`adv`, `adv-c` only).
    pub adv_accuracy: Option<f64>,
    /// Throughput of this step.
    pub images_per_second: f64,
    /// Learning rate of this step.
    pub lr: f64,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// `epoch` at the end of an epoch, `step` for a line logged mid-epoch.
    pub kind: String,
    /// Epoch (0-based).
    pub epoch: u64,
    /// Optimisation steps done.
    pub global_step: u64,
    /// Mean total loss over the epoch's batches so far.
    pub loss: f64,
    /// Mean cross-entropy term.
    pub ce: f64,
    /// The continuity term (DS or KL batch mean), before alpha; 0 in base/adv.
    pub continuity: f64,
    /// Accuracy on the clean training images, in every regime (in `adv`
    /// from an eval-mode pass on the clean batch before the update).
    pub train_accuracy: f64,
    /// Accuracy on the PGD training images (`adv`, `adv-c`; null otherwise).
    #[serde(default)]
    pub train_adv_accuracy: Option<f64>,
    /// On `eval_limit` test images (end of epoch only).
    pub test_accuracy: Option<f64>,
    /// Mean DS between held-out test images and their random photometric
    /// perturbation at `augment_level` (end of epoch only).
    pub heldout_ds: Option<f64>,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Training time so far, across resumes.
    pub elapsed_seconds: f64,
}

/// Where the starting weights of a run came from (`init`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InitInfo {
    /// The weights file that was loaded.
    pub weights: String,
    /// `Some((from, to))` when the final layer was replaced because the
    /// class count changed; it was then drawn from the seed.
    pub replaced_head: Option<(usize, usize)>,
}

/// What a finished run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    /// The run directory.
    pub run: String,
    /// Epochs done.
    pub epochs: u64,
    /// Optimisation steps done.
    pub global_steps: u64,
    /// Test accuracy after the last epoch.
    pub test_accuracy: Option<f64>,
    /// Held-out DS after the last epoch.
    pub heldout_ds: Option<f64>,
    /// Clean training accuracy of the last epoch.
    pub train_accuracy: Option<f64>,
    /// PGD training accuracy of the last epoch (`adv`, `adv-c`).
    pub train_adv_accuracy: Option<f64>,
    /// Training time, across resumes.
    pub seconds: f64,
    /// Stem of the last checkpoint.
    pub checkpoint: String,
    /// The starting weights, when the run was initialised from others.
    pub init: Option<InitInfo>,
}

/// Receives progress; the library prints nothing itself.
pub trait Observer {
    /// Training starts (or resumes after `resumed_at` steps).
    fn start(&mut self, _config: &TrainConfig, _steps_per_epoch: u64, _resumed_at: u64) {}
    /// The run starts from other weights.
    fn init(&mut self, _init: &InitInfo) {}
    /// A step is done.
    fn step(&mut self, _info: &StepInfo) {}
    /// An epoch is done and evaluated.
    fn epoch(&mut self, _metrics: &EpochMetrics) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Running sums of an epoch.
#[derive(Debug, Default)]
pub(crate) struct Sums {
    pub loss: f64,
    pub ce: f64,
    pub continuity: f64,
    pub correct: usize,
    pub seen: usize,
    pub adv_correct: usize,
    pub adv_seen: usize,
    pub batches: usize,
}

impl Sums {
    fn mean(&self, sum: f64) -> f64 {
        sum / self.batches.max(1) as f64
    }

    /// Clean accuracy so far.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }

    /// PGD accuracy so far, if PGD images were seen.
    pub fn adv_accuracy(&self) -> Option<f64> {
        (self.adv_seen > 0).then(|| self.adv_correct as f64 / self.adv_seen as f64)
    }

    /// A metrics line of these sums.
    pub fn line(
        &self,
        kind: &str,
        epoch: u64,
        global_step: u64,
        lr: f64,
        elapsed_seconds: f64,
    ) -> EpochMetrics {
        EpochMetrics {
            kind: kind.into(),
            epoch,
            global_step,
            loss: self.mean(self.loss),
            ce: self.mean(self.ce),
            continuity: self.mean(self.continuity),
            train_accuracy: self.accuracy(),
            train_adv_accuracy: self.adv_accuracy(),
            test_accuracy: None,
            heldout_ds: None,
            lr,
            elapsed_seconds,
        }
    }
}

/// Rewrites `metrics.jsonl` with `metrics`, one JSON object per line.
pub(crate) fn write_metrics(run: &RunDir, metrics: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in metrics {
        text.push_str(&serde_json::to_string(m).map_err(|e| Error::Checkpoint(e.to_string()))?);
        text.push('\n');
    }
    write_atomic(&run.metrics(), text.as_bytes())
}
