//! `sc-perturb`: perturbations of image batches, the `P(x)` of the paper.
//!
//! Every perturbation maps a batch `[N, C, H, W]` of f32 pixels in `[0, 1]`
//! to a batch of the same shape in `[0, 1]`, with candle tensor ops only, so
//! it runs on CPU and CUDA alike.
//!
//! - Non-semantic, photometric ([`photometric`]): brightness, contrast,
//!   saturation and hue at the levels of the paper's Table 1, and the random
//!   augmentation [`RandomPhotometric`] that the continuity-constrained
//!   regime C trains with (Sec. 2.1, 4.1).
//! - Semantic-destroying ([`spatial`]): RGB channel translation (Sec. 4.3.1),
//!   randomised centre area (Sec. 4.3.2) and sliding puzzle (Sec. 4.3.3),
//!   each a per-image pixel permutation that can be inverted.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use sc_core::{Level, Seed};
//! use sc_perturb::{Perturbation, PerturbationKind};
//!
//! let x = Tensor::full(0.5f32, (2, 3, 8, 8), &Device::Cpu)?;
//! let bright = PerturbationKind::Brightness.at_level(Level::new(2)?)?;
//! let y = bright.apply(&x, &mut Seed(0).stream("perturb"))?;
//! let v: f32 = y.mean_all()?.to_scalar()?;
//! assert!((v - (0.5 + 32.0 / 255.0)).abs() < 1e-6);
//! assert_eq!(bright.name(), "brightness");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod photometric;
pub mod spatial;

mod kind;
#[cfg(test)]
mod props;

pub use kind::PerturbationKind;
pub use photometric::{Brightness, Contrast, Hue, RandomPhotometric, Saturation};
pub use spatial::{CentreShuffle, ChannelTranslation, PixelPermutation, SlidingPuzzle};

use candle_core::{DType, Tensor};

/// Errors of `sc-perturb`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input batch is not `[N, C, H, W]` f32 in `[0, 1]` with 1 or 3 channels.
    #[error("invalid input images: {0}")]
    InvalidInput(String),
    /// A parameter outside its valid range.
    #[error("invalid {name}: {problem}")]
    InvalidParameter {
        /// The argument or parameter.
        name: &'static str,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// An error from sc-core (e.g. a level outside 1-4).
    #[error(transparent)]
    Core(#[from] sc_core::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A perturbation of a batch of images.
///
/// Randomised perturbations draw from `rng`; deterministic ones ignore it.
pub trait Perturbation: Send + Sync + std::fmt::Debug {
    /// A stable name for reports, e.g. `contrast`.
    fn name(&self) -> &'static str;
    /// The parameters, for reports, e.g. `[("factor", 1.5)]`.
    fn params(&self) -> Vec<(&'static str, f64)>;
    /// Perturbs `x` (`[N, C, H, W]`, f32 in `[0, 1]`).
    fn apply(&self, x: &Tensor, rng: &mut dyn rand::RngCore) -> Result<Tensor>;
}

/// Checks that `x` is a batch of images in `[0, 1]` and returns its dims.
pub fn check_images(x: &Tensor) -> Result<(usize, usize, usize, usize)> {
    let (n, c, h, w) = x
        .dims4()
        .map_err(|_| Error::InvalidInput(format!("shape {:?}: expected [N, C, H, W]", x.dims())))?;
    if x.dtype() != DType::F32 && x.dtype() != DType::F64 {
        return Err(Error::InvalidInput(format!(
            "dtype {:?}: expected f32",
            x.dtype()
        )));
    }
    if c != 1 && c != 3 {
        return Err(Error::InvalidInput(format!(
            "{c} channels: expected 1 (gray) or 3 (RGB)"
        )));
    }
    if x.elem_count() > 0 {
        let lo: f64 = x.min_all()?.to_dtype(DType::F64)?.to_scalar()?;
        let hi: f64 = x.max_all()?.to_dtype(DType::F64)?.to_scalar()?;
        if !(lo >= 0.0 && hi <= 1.0) {
            return Err(Error::InvalidInput(format!(
                "pixel values span [{lo}, {hi}]: expected [0, 1] (scale u8 images by 1/255)"
            )));
        }
    }
    Ok((n, c, h, w))
}
