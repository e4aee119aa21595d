//! `sc-data`: the image sets semcon studies.
//!
//! - [`ImageSet`] / [`Dataset`]: labelled `u8` NCHW images (optional object
//!   masks) with train/test splits and seeded mini-batches on any candle
//!   device, as `[0, 1]` f32 tensors.
//! - Loaders for the standard on-disk formats, each of which names the file
//!   and the problem when a file is truncated, corrupt or inconsistent:
//!   MNIST / Fashion-MNIST IDX ([`idx`]), CIFAR-10 / CIFAR-100 binary
//!   ([`cifar`]), SVHN cropped digits `.mat` v5 ([`svhn`]), and ImageNet-style
//!   class folders ([`folder`]).
//! - [`shapes`]: the embedded procedural data set: the label is the shape,
//!   colour, brightness, position, size, rotation and background texture are
//!   nuisance factors, and every image carries its object mask.
//! - [`DataSpec`]: the `--data` strings of the CLI (`shapes:5000`, `mnist:DIR`, ...).
//! - `fetch` (feature `fetch`): download of the standard sets from their
//!   official sources, checksum-verified, resumable and atomic.
//!
//! ```
//! use sc_data::{DataSpec, Order};
//! use sc_core::Seed;
//! use candle_core::Device;
//!
//! let data = "shapes:200".parse::<DataSpec>()?.load()?;
//! let train = data.train.as_ref().unwrap();
//! assert_eq!(train.len(), 200);
//! assert_eq!(train.image_shape(), [3, 32, 32]);
//! let batch = train
//!     .batches(64, Order::Shuffled { seed: Seed(0), epoch: 0 }, false, &Device::Cpu)?
//!     .next()
//!     .unwrap()?;
//! assert_eq!(batch.images.dims(), [64, 3, 32, 32]);
//! # Ok::<(), sc_data::Error>(())
//! ```

mod error;
mod imageset;
mod selection;
mod spec;

pub mod cifar;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod folder;
#[cfg(feature = "hub")]
pub mod hub;
pub mod idx;
pub mod shapes;
pub mod svhn;

pub use error::{Error, Result};
pub use imageset::{Batch, Batches, Dataset, ImageSet, Order};
pub use selection::Selection;
pub use spec::DataSpec;
