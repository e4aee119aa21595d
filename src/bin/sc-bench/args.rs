//! The arguments shared by subcommands, typed so that `--data`,
//! `--image-size` and `--device` mean the same everywhere and a value that
//! cannot be honoured fails while the command line is parsed.

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::Args;
use sc_data::{DataSpec, Dataset, ImageSet, Selection};
use std::fmt;
use std::str::FromStr;

/// The data-set arguments of every command that reads data.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// shapes, shapes:N, shapes:n=N,test=M,size=S,seed=K, mnist:DIR, fashion-mnist:DIR,
    /// cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, svhn:DIR, folder:DIR.
    #[arg(long)]
    pub data: DataSpec,
    /// Resize + centre-crop folder images (or draw shapes) at this size.
    #[arg(long)]
    pub image_size: Option<usize>,
}

impl DataArgs {
    /// `--data` with `--image-size` applied.
    pub fn spec(&self) -> Result<DataSpec> {
        match self.image_size {
            Some(s) => self.data.clone().with_image_size(s).context("--image-size"),
            None => Ok(self.data.clone()),
        }
    }

    /// Loads the whole data set.
    pub fn load(&self) -> Result<Dataset> {
        let spec = self.spec()?;
        spec.load().with_context(|| format!("loading {spec}"))
    }

    /// The images a model is measured on: the test split (or the only
    /// split), its first `limit` images when given (all of them when the
    /// split is smaller).
    pub fn test_split(&self, limit: Option<usize>) -> Result<ImageSet> {
        if limit == Some(0) {
            bail!("--limit must be at least 1");
        }
        let data = self.load()?;
        let set = data
            .test_or_only()
            .with_context(|| format!("{}: the data set has no images", data.name))?;
        Ok(match limit {
            Some(n) => set.take(n),
            None => set.clone(),
        })
    }
}

/// Which test images a probe uses: `--limit N` (the first N) or
/// `--per-class N` (the first N of each class, in data-set order).
#[derive(Args, Clone, Debug, Default)]
pub struct SelectionArgs {
    /// Use the first N test images.
    #[arg(long, conflicts_with = "per_class")]
    pub limit: Option<usize>,
    /// Use the first N test images of each class (in data-set order).
    #[arg(long)]
    pub per_class: Option<usize>,
}

impl SelectionArgs {
    /// The choice these flags make (every image when neither is given).
    pub fn selection(&self) -> Selection {
        match (self.limit, self.per_class) {
            (Some(n), _) => Selection::First(n),
            (None, Some(n)) => Selection::PerClass(n),
            (None, None) => Selection::All,
        }
    }
}

impl DataArgs {
    /// The selected test images and their positions in the evaluated split
    /// (the test split, or the only one).
    pub fn test_selection(&self, sel: &SelectionArgs) -> Result<(ImageSet, Vec<usize>)> {
        let data = self.load()?;
        let set = data
            .test_or_only()
            .with_context(|| format!("{}: the data set has no images", data.name))?;
        let indices = sel.selection().indices(set)?;
        let chosen = set.select(&indices)?;
        Ok((chosen, indices))
    }
}

/// Where a command computes: `cpu`, `cuda` or `cuda:N`.
///
/// Parsing fails at once for CUDA on a build without the `cuda` feature,
/// before any data is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    /// The CPU.
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
}

impl FromStr for DeviceArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let device = match s {
            "cpu" => DeviceArg::Cpu,
            "cuda" => DeviceArg::Cuda(0),
            _ => match s.strip_prefix("cuda:") {
                Some(n) => DeviceArg::Cuda(
                    n.parse()
                        .map_err(|_| format!("{n:?} is not a GPU ordinal (cuda:0, cuda:1, ...)"))?,
                ),
                None => return Err(format!("{s:?}: expected cpu, cuda or cuda:N")),
            },
        };
        if device != DeviceArg::Cpu && !candle_core::utils::cuda_is_available() {
            return Err(format!(
                "{s}: this sc-bench was built without CUDA (rebuild with --features cuda)"
            ));
        }
        Ok(device)
    }
}

impl fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceArg::Cpu => f.write_str("cpu"),
            DeviceArg::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceArg {
    /// Opens the device.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceArg::Cpu => Ok(Device::Cpu),
            DeviceArg::Cuda(n) => Device::new_cuda(n).with_context(|| format!("--device {self}")),
        }
    }
}

/// The `--device` argument of every command that computes with a model.
#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// cpu, cuda or cuda:N (CUDA needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceArg,
}

impl DeviceArgs {
    /// Opens the device.
    pub fn open(&self) -> Result<Device> {
        self.device.device()
    }
}

/// `--batch-size`, at least 1, shared by the commands that run a model in
/// batches.
pub fn batch_size(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("0: expected at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{value:?} is not a positive integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_cuda_fails_without_the_feature() {
        assert_eq!("cpu".parse::<DeviceArg>(), Ok(DeviceArg::Cpu));
        assert!("gpu"
            .parse::<DeviceArg>()
            .unwrap_err()
            .contains("expected cpu"));
        assert!("cuda:x"
            .parse::<DeviceArg>()
            .unwrap_err()
            .contains("GPU ordinal"));
        let cuda = "cuda:1".parse::<DeviceArg>();
        if candle_core::utils::cuda_is_available() {
            assert_eq!(cuda, Ok(DeviceArg::Cuda(1)));
        } else {
            assert!(cuda.unwrap_err().contains("built without CUDA"));
        }
    }

    #[test]
    fn batch_sizes_below_one_are_rejected() {
        assert_eq!(batch_size("3"), Ok(3));
        assert!(batch_size("0").unwrap_err().contains("at least 1"));
        assert!(batch_size("-2").is_err());
    }
}
