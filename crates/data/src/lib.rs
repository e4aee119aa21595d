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
//! - [`colorful`]: Colorful sets, a background colour correlated with the
//!   split (paper Sec. 4.7), with each image's colour as its group
//!   ([`ImageSet::groups`]) and the background-swapped counterfactual.
//! - [`convert`]: gray to RGB and resizing, to feed a set to a model made
//!   for other images (transfer, Sec. 4.6).
//! - [`DataSpec`]: the `--data` strings of the CLI (`shapes:5000`, `mnist:DIR`,
//!   `colorful-mnist:DIR,p=0.9`, `convert:mnist:DIR,channels=3,resize=32`, ...).
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
pub mod colorful;
pub mod convert;
#[cfg(feature = "fetch")]
pub mod fetch;
pub mod folder;
#[cfg(feature = "hub")]
pub mod hub;
pub mod idx;
pub mod shapes;
pub mod svhn;

pub use error::{Error, Result};
pub use imageset::{Batch, Batches, Dataset, Groups, ImageSet, Order};
pub use selection::Selection;
pub use spec::DataSpec;
