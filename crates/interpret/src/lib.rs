//! `sc-interpret`: attribution maps of image classifiers (paper Sec. 4.5,
//! Fig. 6), through [`sc_core::Classifier`] only.
//!
//! - [`Saliency`]: the input gradient of the target logit (Simonyan et al.
//!   2014), mapped as the largest absolute value over channels.
//! - [`IntegratedGradients`]: Sundararajan et al. (2017), the path integral
//!   of the gradient from a baseline, by the midpoint rule. Its map carries
//!   its completeness gap `sum(attr) - (F_t(x) - F_t(baseline))` per image,
//!   the numerical error of the integral that a user should check.
//! - [`SmoothGrad`]: Smilkov et al. (2017), saliency (or IG) averaged over
//!   noisy copies of the image.
//! - [`GradCam`]: Selvaraju et al. (2017), on the feature map a
//!   [`sc_core::SpatialFeatures`] model exposes.
//! - [`faithfulness`]: deletion and insertion curves (Petsiuk et al. 2018).
//! - [`Lime`]: Ribeiro et al. (2016) over [`slic`] superpixels, with a
//!   weighted [`ridge`] surrogate.
//! - [`metrics`]: numbers for what the paper only shows as pictures: total
//!   variation (smoothness, the paper's "more continuous" maps) and the
//!   share of attribution mass inside a mask.
//! - [`summary::summarize`]: any method over an image set, with those
//!   numbers per image and on average (mass on the object for `shapes`).
//!
//! Pixels are `[N, C, H, W]` in `[0, 1]`; targets are `u32` class indices
//! `[N]`. Models are run in eval mode and only input gradients are taken.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use sc_core::Classifier;
//! use sc_interpret::{Attribution, IntegratedGradients};
//!
//! /// Logit k = sum of channel k's pixels: a linear toy classifier.
//! struct ChannelSums;
//! impl Classifier for ChannelSums {
//!     fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> { x.sum((2, 3)) }
//!     fn num_classes(&self) -> usize { 3 }
//!     fn input_shape(&self) -> [usize; 3] { [3, 4, 4] }
//!     fn name(&self) -> &str { "channel-sums" }
//! }
//!
//! let x = Tensor::rand(0f32, 1f32, (2, 3, 4, 4), &Device::Cpu)?;
//! let target = Tensor::new(&[0u32, 2], &Device::Cpu)?;
//! let map = IntegratedGradients::new(16)?.attribute(&ChannelSums, &x, &target)?;
//! assert_eq!(map.map.dims(), &[2, 4, 4]);
//! // For a linear model IG is exact: the completeness gap is rounding only.
//! assert!(map.completeness_gap.unwrap().iter().all(|g| g.abs() < 1e-4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod faithfulness;
mod gradcam;
mod ig;
mod lime;
pub mod metrics;
mod raw_maps;
pub mod ridge;
mod saliency;
pub mod slic;
mod smoothgrad;
pub mod summary;

pub use gradcam::GradCam;
pub use ig::{Baseline, IntegratedGradients};
pub use lime::{Lime, LimeFill, LimeFit};
pub use saliency::Saliency;
pub use smoothgrad::{SmoothGrad, SmoothGradBase};

use candle_core::{DType, Tensor, Var};
use sc_core::Classifier;

/// Errors of `sc-interpret`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Arguments that cannot be used.
    #[error("invalid {name}: {problem}")]
    InvalidArgument {
        /// The argument or parameter.
        name: &'static str,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error of the data crate.
    #[error(transparent)]
    Data(#[from] sc_data::Error),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &'static str, problem: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name,
        problem: problem.into(),
    }
}

/// Attributions of a batch of images to their target classes.
#[derive(Debug, Clone)]
pub struct AttributionMap {
    /// Per input value, `[N, C, H, W]` (for GradCAM the map repeated over channels).
    pub attributions: Tensor,
    /// One map per image, `[N, H, W]`, as the method's paper draws it.
    pub map: Tensor,
    /// Integrated Gradients only: per image, `sum(attributions) - (F_t(x) - F_t(baseline))`.
    pub completeness_gap: Option<Vec<f64>>,
    /// GradCAM only: the map `[N, h, w]` at the feature layer's resolution,
    /// before bilinear upsampling.
    pub coarse: Option<Tensor>,
    /// LIME only: each image's surrogate fit (coefficients, R^2, top superpixels).
    pub lime: Option<Vec<LimeFit>>,
}

/// A method that explains the target logit of each image by its pixels.
pub trait Attribution {
    /// Stable name for reports, e.g. `integrated-gradients`.
    fn name(&self) -> &'static str;
    /// Attributions of `x` (`[N, C, H, W]` in `[0,1]`) to `target` (`[N]` u32).
    fn attribute(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<AttributionMap>;
}

/// Checks `x` against the model and `target` against `x`; returns the batch size.
pub(crate) fn check_inputs(model: &dyn Classifier, x: &Tensor, target: &Tensor) -> Result<usize> {
    let dims = x.dims();
    if dims.len() != 4 || dims[1..] != model.input_shape() {
        return Err(invalid(
            "images",
            format!(
                "shape {dims:?}: model {} expects [N, {}, {}, {}]",
                model.name(),
                model.input_shape()[0],
                model.input_shape()[1],
                model.input_shape()[2]
            ),
        ));
    }
    let n = dims[0];
    if target.dims() != [n] || target.dtype() != DType::U32 {
        return Err(invalid(
            "target",
            format!(
                "shape {:?} of {:?}: expected [{n}] u32 class indices",
                target.dims(),
                target.dtype()
            ),
        ));
    }
    let classes = model.num_classes();
    if let Some(bad) = target
        .to_vec1::<u32>()?
        .into_iter()
        .find(|&t| t as usize >= classes)
    {
        return Err(invalid(
            "target",
            format!(
                "class {bad} does not exist: model {} has {classes} classes",
                model.name()
            ),
        ));
    }
    Ok(n)
}

/// The target logit per image, `[N]`.
pub(crate) fn target_logit(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok(logits.gather(&target.unsqueeze(1)?, 1)?.squeeze(1)?)
}

/// Gradient of the summed target logits with respect to the input, and the
/// target logits. Images of an eval-mode batch are independent, so each
/// image's gradient is its own.
pub(crate) fn target_gradient(
    model: &dyn Classifier,
    x: &Tensor,
    target: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let var = Var::from_tensor(&x.detach())?;
    let logits = model.logits(var.as_tensor())?;
    let n = x.dim(0)?;
    if logits.dims() != [n, model.num_classes()] {
        return Err(invalid(
            "model",
            format!(
                "{} returned logits of shape {:?} for {n} images: expected [{n}, {}]",
                model.name(),
                logits.dims(),
                model.num_classes()
            ),
        ));
    }
    let scores = target_logit(&logits, target)?;
    let grads = scores.sum_all()?.backward()?;
    let grad = match grads.get(var.as_tensor()) {
        Some(g) => g.detach(),
        // A model whose target logit does not depend on the input.
        None => x.zeros_like()?,
    };
    Ok((grad, scores.detach()))
}

#[cfg(test)]
mod tests;
