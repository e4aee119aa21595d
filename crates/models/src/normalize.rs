use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// Per-channel input normalisation `(x - mean[c]) / std[c]`, the first
/// layer of every model: inputs stay `[0, 1]` pixels, so attack epsilons
/// are in pixel units (DESIGN: core contracts).
///
/// Stored in weights files as the `[C]` tensors `normalize.mean` and
/// `normalize.std` (f64, so they round-trip exactly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawNormalize")]
pub struct Normalize {
    mean: Vec<f64>,
    std: Vec<f64>,
}

#[derive(Deserialize)]
struct RawNormalize {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl TryFrom<RawNormalize> for Normalize {
    type Error = Error;
    fn try_from(r: RawNormalize) -> Result<Self> {
        Normalize::new(r.mean, r.std)
    }
}

impl Normalize {
    /// A normalisation with one mean and one standard deviation per channel;
    /// the deviations must be positive and finite.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(Error::invalid(
                "normalisation",
                format!(
                    "{} means and {} standard deviations: need the same positive number",
                    mean.len(),
                    std.len()
                ),
            ));
        }
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::invalid(
                "normalisation",
                format!("standard deviation {s} is not positive and finite"),
            ));
        }
        if let Some(m) = mean.iter().find(|m| !m.is_finite()) {
            return Err(Error::invalid(
                "normalisation",
                format!("mean {m} is not finite"),
            ));
        }
        Ok(Normalize { mean, std })
    }

    /// CIFAR-10 training-set statistics (per-pixel population std, not the
    /// often-copied 0.2023/0.1994/0.2010, which are per-image averages).
    pub fn cifar10() -> Self {
        Normalize {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }

    /// CIFAR-100 training-set statistics.
    pub fn cifar100() -> Self {
        Normalize {
            mean: vec![0.5071, 0.4865, 0.4409],
            std: vec![0.2673, 0.2564, 0.2762],
        }
    }

    /// The ImageNet statistics of torchvision's pretrained models.
    pub fn imagenet() -> Self {
        Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    /// MNIST training-set statistics (one channel).
    pub fn mnist() -> Self {
        Normalize {
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }

    /// Per-channel mean and population standard deviation of a batch
    /// `[N, C, H, W]`, for data sets without a preset.
    pub fn from_data(images: &Tensor) -> Result<Self> {
        let (n, c, h, w) = images.dims4().map_err(|_| {
            Error::invalid(
                "images",
                format!("shape {:?}: expected [N, C, H, W]", images.dims()),
            )
        })?;
        if n * h * w == 0 {
            return Err(Error::invalid("images", "no pixels"));
        }
        let x = images
            .to_dtype(DType::F64)?
            .transpose(0, 1)?
            .flatten_from(1)?;
        let mean = x.mean_keepdim(1)?;
        let var = x.broadcast_sub(&mean)?.sqr()?.mean(1)?;
        let mean = mean.flatten_all()?.to_vec1::<f64>()?;
        let std: Vec<f64> = var.to_vec1::<f64>()?.into_iter().map(f64::sqrt).collect();
        debug_assert_eq!(std.len(), c);
        Normalize::new(mean, std).map_err(|_| {
            Error::invalid(
                "images",
                "a channel is constant or not finite: no standard deviation to normalise by",
            )
        })
    }

    /// Per-channel means.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Per-channel standard deviations.
    pub fn std(&self) -> &[f64] {
        &self.std
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// `mean` and `std` as `[1, C, 1, 1]` tensors for broadcasting.
    pub(crate) fn tensors(&self, dtype: DType, device: &Device) -> Result<(Tensor, Tensor)> {
        let shape = (1, self.channels(), 1, 1);
        let t = |v: &[f64]| -> Result<Tensor> {
            Ok(Tensor::from_slice(v, shape, device)?.to_dtype(dtype)?)
        };
        Ok((t(&self.mean)?, t(&self.std)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_from_data_recovers_statistics() {
        for n in [
            Normalize::cifar10(),
            Normalize::cifar100(),
            Normalize::imagenet(),
            Normalize::mnist(),
        ] {
            assert_eq!(Normalize::new(n.mean.clone(), n.std.clone()).unwrap(), n);
        }
        // Channel 0: 0, 1 -> mean 0.5, std 0.5; channel 1: 0.2, 0.6 -> 0.4, 0.2.
        let x = Tensor::new(&[[[[0.0f32, 1.0]], [[0.2, 0.6]]]], &Device::Cpu).unwrap();
        let n = Normalize::from_data(&x).unwrap();
        for (got, want) in n.mean().iter().zip([0.5, 0.4]) {
            assert!((got - want).abs() < 1e-6, "{got} {want}");
        }
        for (got, want) in n.std().iter().zip([0.5, 0.2]) {
            assert!((got - want).abs() < 1e-6, "{got} {want}");
        }
        let flat = Tensor::ones((2, 1, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(Normalize::from_data(&flat).is_err());
    }

    #[test]
    fn invalid_normalisations_are_refused() {
        assert!(Normalize::new(vec![0.5], vec![0.0]).is_err());
        assert!(Normalize::new(vec![0.5, 0.5], vec![0.2]).is_err());
        assert!(Normalize::new(vec![], vec![]).is_err());
        assert!(Normalize::new(vec![f64::NAN], vec![1.0]).is_err());
        assert!(serde_json::from_str::<Normalize>(r#"{"mean":[0.5],"std":[-1.0]}"#).is_err());
        let n = Normalize::cifar10();
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Normalize>(&json).unwrap(), n);
    }
}
