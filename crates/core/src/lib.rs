//! `sc-core`: the vocabulary every semcon crate shares.
//!
//! - [`Classifier`]: what attacks, probes and attributions need from a model:
//!   eval-mode logits of `[0,1]` NCHW pixels (the paper's representation
//!   `F(x)`, Sec. 2.1). Training-mode forwards live with the models, so no
//!   consumer of this trait can disturb BatchNorm statistics.
//! - [`SpatialFeatures`]: a named feature map, for GradCAM.
//! - [`Seed`]: one `u64` per run, from which every random choice is derived
//!   through named, independent streams.
//! - [`Level`]: a perturbation strength 1-4 of the paper's Table 1; an
//!   invalid level cannot be built.
//! - [`Fraction`]: epsilons and step sizes written as `8/255`.
//! - [`write_atomic`]: files written to a temporary name and renamed, so a
//!   kill never leaves a torn file.
//!
//! ```
//! use sc_core::{Level, Seed};
//! use rand::Rng;
//!
//! let level = Level::new(3)?;
//! assert_eq!(level.get(), 3);
//! assert!(Level::new(5).is_err());
//!
//! // The same seed and purpose give the same stream; another purpose differs.
//! let a: u64 = Seed(7).stream("data-order").random();
//! let b: u64 = Seed(7).stream("data-order").random();
//! let c: u64 = Seed(7).stream("augment").random();
//! assert_eq!(a, b);
//! assert_ne!(a, c);
//! # Ok::<(), sc_core::Error>(())
//! ```

mod atomic;
mod classifier;
mod fraction;
mod level;
mod normal;
mod seed;

pub use atomic::{write_atomic, write_atomic_with};
pub use classifier::{Classifier, SpatialFeatures};
pub use fraction::Fraction;
pub use level::Level;
pub use normal::standard_normals;
pub use seed::Seed;

/// Errors of `sc-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A perturbation level outside the paper's 1-4.
    #[error("level {0} is out of range: expected 1, 2, 3 or 4 (the paper's Table 1)")]
    LevelOutOfRange(i64),
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
