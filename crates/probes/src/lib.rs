//! `sc-probes`: measurements of a trained classifier, through
//! [`sc_core::Classifier`] only (probes never depend on the model zoo).
//!
//! - [`continuity`]: the distance score `DS(x, P(x))` per perturbation kind
//!   and level (paper Sec. 4.2, Fig. 3), and accuracy under each
//!   perturbation (the semantic-feature probes of Sec. 4.3 use the same
//!   pass: a model that relies on semantics loses accuracy when they are
//!   destroyed).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use sc_core::{Classifier, Seed};
//! use sc_perturb::PerturbationKind;
//! use sc_probes::continuity::{perturbation_sweep, SweepOptions};
//!
//! /// Logits = per-channel means: a toy classifier.
//! struct MeanColour;
//! impl Classifier for MeanColour {
//!     fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> { x.mean((2, 3)) }
//!     fn num_classes(&self) -> usize { 3 }
//!     fn input_shape(&self) -> [usize; 3] { [3, 32, 32] }
//!     fn name(&self) -> &str { "mean-colour" }
//! }
//!
//! let data = "shapes:50".parse::<sc_data::DataSpec>()?.load()?;
//! let opts = SweepOptions { kinds: vec![PerturbationKind::Brightness], ..SweepOptions::default() };
//! let report = perturbation_sweep(&MeanColour, data.test.as_ref().unwrap(), &opts, &Device::Cpu)?;
//! // Brightness moves every channel mean up: DS grows with the level.
//! assert!(report.entries[3].mean_ds > report.entries[0].mean_ds);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod continuity;

/// Errors of `sc-probes`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Arguments that cannot be used.
    #[error("invalid {name}: {problem}")]
    InvalidArgument { name: &'static str, problem: String },
    #[error(transparent)]
    Data(#[from] sc_data::Error),
    #[error(transparent)]
    Perturb(#[from] sc_perturb::Error),
    #[error(transparent)]
    Loss(#[from] sc_loss::Error),
    #[error(transparent)]
    Core(#[from] sc_core::Error),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
