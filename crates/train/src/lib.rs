//! `sc-train`: training in the paper's four regimes (Sec. 4.1).
//!
//! | regime | loss |
//! |---|---|
//! | `base` | `CE(F(x), y)` |
//! | `c` | `CE(F(x), y) + alpha * DS(F(x), F(P(x)))`, P the random photometric augmentation (`augment`: the paper's one-of-four, or a jitter of all four) |
//! | `adv` | `CE(F(x_adv), y)`, x_adv from PGD (Madry et al. 2018) |
//! | `adv-c` | `CE(F(x), y) + alpha * DS(F(x), F(x_adv))` (Adversarial Logit Pairing) |
//!
//! with the KL divergence as an alternative continuity term. PGD examples
//! are generated in eval mode; the update runs in train mode, with clean and
//! perturbed images in one batch so BatchNorm sees both.
//!
//! A run lives in a directory ([`RunDir`]): the resolved `config.toml`,
//! atomic checkpoints (model, optimiser state, position), `metrics.jsonl`.
//! Every random choice is a pure function of the seed and the step (data
//! order from the epoch, augmentation and PGD starts from the global step),
//! so a run resumed from its last checkpoint ends with exactly the weights
//! of an uninterrupted one.
//!
//! The configuration describes the run: resuming with any other value than
//! the stored one is an error, except `epochs`, which may change where the
//! steps already taken keep their learning rates (`constant` and `step`
//! schedules; `cosine` and `one-cycle` spread the rate over all epochs, so
//! they refuse). `init` starts from trained weights (fine-tuning, transfer;
//! `freeze_backbone` then trains only the final layer);
//! `crop_padding` and `hflip` add the CIFAR augmentation. A final batch of a
//! single image is dropped (a train-mode BatchNorm needs two images).
//!
//! ```no_run
//! use sc_train::{train, NoObserver, TrainConfig};
//! use candle_core::Device;
//!
//! let overrides = [("epochs".to_string(), "1".to_string()), ("regime".into(), "\"c\"".into())];
//! let config = TrainConfig::resolve(None, &overrides)?;
//! let report = train(&config, "runs/example".as_ref(), false, &Device::Cpu, &mut NoObserver)?;
//! println!("test accuracy {:?}", report.test_accuracy);
//! # Ok::<(), sc_train::Error>(())
//! ```
//!
//! ```
//! use sc_train::{Regime, TrainConfig};
//! let c = TrainConfig::resolve(None, &[("regime".into(), "adv-c".into())])?;
//! assert_eq!(c.regime, Regime::AdvC);
//! assert!(TrainConfig::resolve(None, &[("alpha".into(), "-1".into())]).is_err());
//! # Ok::<(), sc_train::Error>(())
//! ```

mod adam_cpu;
mod augment;
mod checkpoint;
mod config;
mod init;
mod loss;
mod metrics;
mod optim;
pub mod parallel;
mod resume;
mod run;
mod schedule;
#[cfg(test)]
mod tests;
mod trainer;

pub use augment::{CropFlip, CropFlipChoice};
pub use config::{AugmentChoice, NormalizeChoice, Regime, TrainConfig};
pub use loss::{regime_loss, StepLoss};
pub use metrics::{EpochMetrics, InitInfo, NoObserver, Observer, StepInfo, TrainReport};
pub use optim::{Hyper, Optimizer, OptimizerKind};
pub use parallel::{shard, Collective};
pub use run::RunDir;
pub use schedule::{Position, Schedule};
pub use trainer::{train, train_data_parallel};

use std::path::PathBuf;

/// Errors of `sc-train`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key that does not exist, a wrong type or a value out of range.
    #[error("configuration: {0}")]
    Config(String),
    /// A run directory that cannot be used as asked.
    #[error("run directory {path}: {problem}")]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A checkpoint that cannot be restored.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The loss became NaN or infinite.
    #[error("the loss is {value} at epoch {epoch}, step {step} (global step {global_step}): training stopped; lower the learning rate or enable grad_clip")]
    NonFinite {
        /// The loss value.
        value: f64,
        /// Epoch (0-based).
        epoch: u64,
        /// Step within the epoch (0-based).
        step: u64,
        /// Step of the run (0-based).
        global_step: u64,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// From sc-data (loading the data set).
    #[error(transparent)]
    Data(#[from] sc_data::Error),
    /// From sc-models (building, loading, saving a model).
    #[error(transparent)]
    Models(#[from] sc_models::Error),
    /// From sc-attack (PGD of the adversarial regimes).
    #[error(transparent)]
    Attack(#[from] sc_attack::Error),
    /// From sc-perturb (the photometric augmentation).
    #[error(transparent)]
    Perturb(#[from] sc_perturb::Error),
    /// From sc-loss.
    #[error(transparent)]
    Loss(#[from] sc_loss::Error),
    /// From sc-core.
    #[error(transparent)]
    Core(#[from] sc_core::Error),
    /// From candle (tensor operations).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
