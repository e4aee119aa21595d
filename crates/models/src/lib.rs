//! `sc-models`: the model zoo of semcon.
//!
//! - [`Model`]: a classifier with its weights, architecture and input
//!   normalisation. Consumers see it as an [`sc_core::Classifier`]
//!   (eval-mode logits of `[0, 1]` pixels, detached weights, so input
//!   gradients never pay for weight gradients) and
//!   [`sc_core::SpatialFeatures`] (for GradCAM); the trainer alone uses
//!   [`Model::forward_train`] and [`Model::trainable_vars`].
//! - [`Arch`]: `small-cnn` (ours, fast on CPU), `resnet18` (32x32 inputs, the
//!   paper's CIFAR-100 model) and `resnet50` (torchvision's, the paper's
//!   ImageNet model, Sec. 4.1); [`ResNetConfig`] builds any ResNet of
//!   torchvision's layout.
//! - Weights are safetensors with torchvision's parameter names
//!   (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.bias`, ...), so
//!   PyTorch state dicts load directly; the normalisation is stored beside
//!   them as `normalize.mean` / `normalize.std`.
//! - [`save_checkpoint`] / [`load_checkpoint`]: weights + a JSON description
//!   with the trainer's state, both written atomically.
//! - [`Normalize`]: per-channel `(x - mean) / std`, the model's first layer,
//!   with the standard presets.
//! - [`conv`]: the convolution of the models on the CPU (f32, f64), im2col
//!   and GEMM, 1.1-14x faster than candle's `conv2d` per pass; its
//!   backward computes no weight gradient for detached weights; the eval
//!   path also folds each BatchNorm into its conv. [`ConvImpl`] selects
//!   it (the default on the CPU) or candle's ops (the default elsewhere,
//!   and a reference: [`Model::with_conv_impl`]).
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use sc_core::{Classifier, Seed};
//! use sc_models::{Arch, Model, Normalize};
//!
//! let model = Model::new(
//!     Arch::SmallCnn,
//!     10,
//!     [3, 32, 32],
//!     Some(Normalize::cifar10()),
//!     Seed(0),
//!     DType::F32,
//!     &Device::Cpu,
//! )?;
//! let pixels = Tensor::rand(0f32, 1f32, (2, 3, 32, 32), &Device::Cpu)?;
//! let logits = model.logits(&pixels)?;
//! assert_eq!(logits.dims(), [2, 10]);
//! assert_eq!(model.name(), "small-cnn");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arch;
mod bn;
mod checkpoint;
pub mod conv;
mod cpu;
mod error;
mod io;
mod layers;
mod model;
mod net;
mod normalize;
mod params;
mod resnet;
mod small_cnn;

pub use arch::{Arch, Block, NetConfig, ResNetConfig, Stem};
pub use checkpoint::{checkpoint_paths, load_checkpoint, save_checkpoint, CheckpointMeta};
pub use conv::ConvImpl;
pub use error::{Error, Result};
pub use model::Model;
pub use normalize::Normalize;

#[cfg(test)]
mod tests;
