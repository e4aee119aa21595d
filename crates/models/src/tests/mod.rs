//! Tests of the models against an independent reference, finite
//! differences, and their files.

mod conv;
#[cfg(feature = "cuda")]
mod cuda;
mod files;
mod forward;
mod grad;
mod init;
mod naive;

use crate::{Block, Model, NetConfig, Normalize, ResNetConfig, Stem};
use candle_core::{DType, Device, Tensor};
use naive::Img;
use rand::Rng;
use sc_core::Seed;

/// A ResNet small enough for loops: two blocks in `layer1` (so both an
/// identity and a projected shortcut occur), one in each other stage.
pub fn tiny_resnet_config(block: Block, stem: Stem, num_classes: usize) -> ResNetConfig {
    ResNetConfig {
        block,
        layers: [2, 1, 1, 1],
        widths: [2, 3, 4, 4],
        stem,
        num_classes,
        in_channels: 3,
    }
}

pub fn tiny_resnet(block: Block, stem: Stem, hw: [usize; 2], dtype: DType) -> Model {
    Model::from_config(
        NetConfig::ResNet(tiny_resnet_config(block, stem, 5)),
        [3, hw[0], hw[1]],
        Some(Normalize::cifar10()),
        Seed(11),
        dtype,
        &Device::Cpu,
    )
    .unwrap()
}

/// Gives every BatchNorm non-trivial running statistics and affine
/// parameters, so the reference comparison sees them all.
pub fn randomize_bn(model: &Model, seed: u64) {
    let mut rng = Seed(seed).stream("bn");
    for (name, var) in model.named_vars() {
        if var.rank() != 1 || name.starts_with("fc.") {
            continue;
        }
        let (lo, hi) = if name.ends_with("running_var") {
            (0.5, 2.0)
        } else if name.ends_with("running_mean") {
            (-0.5, 0.5)
        } else if name.ends_with("weight") {
            (0.5, 1.5)
        } else {
            (-0.3, 0.3)
        };
        let v: Vec<f64> = (0..var.elem_count())
            .map(|_| lo + (hi - lo) * rng.random::<f64>())
            .collect();
        let t = Tensor::from_vec(v, var.elem_count(), &Device::Cpu)
            .unwrap()
            .to_dtype(var.dtype())
            .unwrap();
        var.set(&t).unwrap();
    }
}

/// Uniform `[0, 1)` values of any shape (pixels `[n, c, h, w]`).
pub fn pixels<const D: usize>(shape: [usize; D], seed: u64, dtype: DType) -> Tensor {
    let mut rng = Seed(seed).stream("pixels");
    let v: Vec<f64> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random::<f64>())
        .collect();
    Tensor::from_vec(v, shape.to_vec(), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// The images of a batch, for the reference.
pub fn images(x: &Tensor) -> Vec<Img> {
    let (n, c, h, w) = x.dims4().unwrap();
    let v = x
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    (0..n)
        .map(|i| Img {
            c,
            h,
            w,
            data: v[i * c * h * w..(i + 1) * c * h * w].to_vec(),
        })
        .collect()
}

pub fn to_vec2(t: &Tensor) -> Vec<Vec<f64>> {
    t.to_dtype(DType::F64).unwrap().to_vec2::<f64>().unwrap()
}

/// Largest absolute difference between two tensors of the same shape.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Every value of `t` as f64 (exact for f32 and f64), flattened: for
/// comparing two computations bit for bit with `assert_eq!`.
pub fn tensor_values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}
