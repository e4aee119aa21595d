//! Interop with `candle-datasets` (feature `hub`, off by default).
//!
//! candle-datasets reads raw MNIST IDX and CIFAR-10 binary from disk and
//! downloads MNIST, Fashion-MNIST and CIFAR-10 from the Hugging Face hub as
//! parquet. Its dependency tree (hf-hub, an HTTP/TLS stack, arrow, parquet,
//! tokenizers) adds some twenty minutes to a cold build on two cores, so
//! semcon's own loaders are the default and this module only converts.

use crate::{Dataset, Error, ImageSet, Result};
use candle_core::{DType, Tensor};

/// Converts a candle-datasets `vision::Dataset` (f32 pixels in `[0, 1]`,
/// flat `[N, C*H*W]` or `[N, C, H, W]`; u8 or u32 labels) into a [`Dataset`]
/// of images of `shape = [C, H, W]`.
pub fn from_candle(
    ds: &candle_datasets::vision::Dataset,
    name: &str,
    shape: [usize; 3],
    classes: Vec<String>,
) -> Result<Dataset> {
    if classes.len() != ds.labels {
        return Err(Error::arg(
            "classes",
            format!(
                "{} names for a data set of {} classes",
                classes.len(),
                ds.labels
            ),
        ));
    }
    let split = |images: &Tensor, labels: &Tensor| -> Result<ImageSet> {
        let n = images.dim(0)?;
        let pixels: Vec<u8> = images
            .reshape((n, shape[0] * shape[1] * shape[2]))
            .map_err(|e| Error::arg("images", format!("{e}: expected {shape:?} per image")))?
            .affine(255.0, 0.0)?
            .round()?
            .clamp(0f32, 255f32)?
            .to_dtype(DType::U8)?
            .flatten_all()?
            .to_vec1()?;
        let labels: Vec<u32> = labels.to_dtype(DType::U32)?.to_vec1()?;
        ImageSet::new(pixels, shape, labels, classes.clone())
    };
    Ok(Dataset {
        name: name.to_string(),
        train: Some(split(&ds.train_images, &ds.train_labels)?),
        test: Some(split(&ds.test_images, &ds.test_labels)?),
    })
}

/// Downloads `mnist`, `fashion-mnist` or `cifar10` from the Hugging Face hub
/// through candle-datasets (needs a network).
pub fn load(name: &str) -> Result<Dataset> {
    let hub_err = |e: candle_core::Error| Error::Download {
        url: format!("hf-hub:{name}"),
        problem: e.to_string(),
    };
    match name {
        "mnist" => from_candle(
            &candle_datasets::vision::mnist::load().map_err(hub_err)?,
            name,
            [1, 28, 28],
            crate::idx::mnist_classes(),
        ),
        "fashion-mnist" => from_candle(
            &candle_datasets::vision::fashion_mnist::load().map_err(hub_err)?,
            name,
            [1, 28, 28],
            crate::idx::fashion_mnist_classes(),
        ),
        "cifar10" => from_candle(
            &candle_datasets::vision::cifar::load().map_err(hub_err)?,
            name,
            [3, 32, 32],
            crate::cifar::CIFAR10_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        other => Err(Error::arg(
            "hub data set",
            format!("{other:?}: expected mnist, fashion-mnist or cifar10"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn converts_flat_f32_images_back_to_bytes() {
        let px: Vec<f32> = (0..2 * 4).map(|i| i as f32 * 30.0 / 255.0).collect();
        let ds = candle_datasets::vision::Dataset {
            train_images: Tensor::from_vec(px.clone(), (2, 4), &Device::Cpu).unwrap(),
            train_labels: Tensor::new(&[0u8, 1], &Device::Cpu).unwrap(),
            test_images: Tensor::from_vec(px, (2, 4), &Device::Cpu).unwrap(),
            test_labels: Tensor::new(&[1u8, 1], &Device::Cpu).unwrap(),
            labels: 2,
        };
        let d = from_candle(&ds, "toy", [1, 2, 2], vec!["a".into(), "b".into()]).unwrap();
        let train = d.train.unwrap();
        assert_eq!(train.pixels(), &[0, 30, 60, 90, 120, 150, 180, 210]);
        assert_eq!(d.test.unwrap().labels(), &[1, 1]);
        assert!(from_candle(&ds, "toy", [1, 3, 3], vec!["a".into(), "b".into()]).is_err());
    }
}
