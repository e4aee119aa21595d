//! `sc-probes`: measurements of a trained classifier, through
//! [`sc_core::Classifier`] only (probes never depend on the model zoo).
//!
//! - [`continuity`]: the distance score `DS(x, P(x))` per perturbation kind
//!   and level (paper Sec. 4.2, Fig. 3), and accuracy under each
//!   perturbation (the semantic-feature probes of Sec. 4.3 use the same
//!   pass: a model that relies on semantics loses accuracy when they are
//!   destroyed). Perturbations that cannot act on the images (hue on gray
//!   images) are listed as not applicable, never measured as DS = 0.
//! - [`discontinuity`]: the paper's evidence of discontinuity (Sec. 2.2):
//!   Fig. 1's share of images with a same-class image closer (in DS) than
//!   their own perturbed version, and Fig. 2's 2-D pictures of one class's
//!   logits with an anchor image and its perturbed versions.
//! - [`embedding`]: PCA, exact t-SNE, UMAP and trustworthiness, for those
//!   pictures, implemented from their papers and seeded.
//! - [`margin`]: the distance to the decision boundary along diagonal bands
//!   of the 2-D DCT spectrum ([`dct`]), by DeepFool restricted to each band
//!   (Ortiz-Jimenez et al. 2020, "Hold me tight!"); images that do not flip
//!   are reported as such, never averaged in.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use sc_core::{Classifier, Seed};
//! use sc_perturb::PerturbationKind;
//! use sc_probes::continuity::{perturbation_sweep, SweepOptions};
//!
//! /// Logits = the gray values of the first ten pixels: a toy classifier
//! /// for the ten classes of `shapes`.
//! struct FirstPixels;
//! impl Classifier for FirstPixels {
//!     fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
//!         x.mean(1)?.flatten_from(1)?.narrow(1, 0, 10)
//!     }
//!     fn num_classes(&self) -> usize { 10 }
//!     fn input_shape(&self) -> [usize; 3] { [3, 32, 32] }
//!     fn name(&self) -> &str { "first-pixels" }
//! }
//!
//! let data = "shapes:50".parse::<sc_data::DataSpec>()?.load()?;
//! let opts = SweepOptions { kinds: vec![PerturbationKind::Brightness], ..SweepOptions::default() };
//! let report = perturbation_sweep(&FirstPixels, data.test.as_ref().unwrap(), &opts, &Device::Cpu)?;
//! // Brightness moves every pixel up: DS grows with the level.
//! assert!(report.entries[3].mean_ds > report.entries[0].mean_ds);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod continuity;
pub mod dct;
pub mod discontinuity;
pub mod embedding;
pub mod margin;
mod stats;

/// Errors of `sc-probes`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Arguments that cannot be used (an empty set, a model made for other
    /// images).
    #[error("invalid {name}: {problem}")]
    InvalidArgument {
        /// What was wrong, e.g. `image set`.
        name: &'static str,
        /// Why, with the values.
        problem: String,
    },
    /// From reading the images.
    #[error(transparent)]
    Data(#[from] sc_data::Error),
    /// From a perturbation.
    #[error(transparent)]
    Perturb(#[from] sc_perturb::Error),
    /// From the distance score.
    #[error(transparent)]
    Loss(#[from] sc_loss::Error),
    /// From sc-core (levels, seeds).
    #[error(transparent)]
    Core(#[from] sc_core::Error),
    /// From an attack (DeepFool of the margin probe).
    #[error(transparent)]
    Attack(#[from] sc_attack::Error),
    /// From candle (the model's forward pass).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
