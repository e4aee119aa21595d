//! `sc-fairness`: how much a classifier relies on a spurious attribute,
//! measured through [`sc_core::Classifier`] only (it never depends on the
//! model zoo).
//!
//! The paper's Sec. 4.7 (Table 4) trains on Colorful MNIST, where 95% of
//! the training backgrounds are red and 95% of the test backgrounds blue
//! ([`sc_data::colorful`]), and compares test accuracies: a model that
//! learnt the colour fails on the blue majority. [`evaluate`] gives that
//! accuracy and splits it open:
//!
//! - accuracy per group (background colour) and the gap between the best
//!   and the worst group;
//! - the counterfactual flip rate: the share of images whose predicted
//!   class changes when only the background colour is swapped
//!   ([`sc_data::colorful::swap_backgrounds`]); 0 for a model blind to the
//!   background colour, whatever its accuracy;
//! - the accuracy on the counterfactual images.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use sc_core::Classifier;
//! use sc_data::colorful::{colorize, swap_backgrounds, ColorfulOptions};
//!
//! /// Reads only the background: class 0 when the corner pixel is redder
//! /// than it is blue, else class 1.
//! struct CornerColour;
//! impl Classifier for CornerColour {
//!     fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
//!         let corner = x.narrow(2, 0, 1)?.narrow(3, 0, 1)?.flatten_from(1)?;
//!         let (red, blue) = (corner.narrow(1, 0, 1)?, corner.narrow(1, 2, 1)?);
//!         let zeros = Tensor::zeros((x.dim(0)?, 8), x.dtype(), x.device())?;
//!         Tensor::cat(&[red, blue, zeros], 1)
//!     }
//!     fn num_classes(&self) -> usize { 10 }
//!     fn input_shape(&self) -> [usize; 3] { [3, 4, 4] }
//!     fn name(&self) -> &str { "corner-colour" }
//! }
//!
//! // Twenty gray 4x4 digits: a bright stroke in the middle column.
//! let pixels = (0..20 * 16).map(|p| if p % 4 == 1 { 200 } else { 0 }).collect();
//! let classes: Vec<String> = (0..10).map(|c| c.to_string()).collect();
//! let gray = sc_data::ImageSet::new(pixels, [1, 4, 4], (0..20).map(|i| i % 10).collect(), classes)?;
//! let data = sc_data::Dataset { name: "digits".into(), train: None, test: Some(gray) };
//! let options = ColorfulOptions::default();
//! let test = colorize(&data, &options)?.test.unwrap();
//! let counterfactual = swap_backgrounds(&test, &options)?;
//! let report = sc_fairness::evaluate(&CornerColour, &test, &counterfactual, 16, &Device::Cpu)?;
//! assert_eq!(report.flip_rate, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod metrics;

pub use metrics::{evaluate, predictions, FairnessReport, GroupAccuracy};

/// Errors of `sc-fairness`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Arguments that cannot be used (a set without groups, a
    /// counterfactual set that does not match, a model made for other
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
    /// From candle (the model's forward pass).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
