use crate::cifar::Cifar100Labels;
use crate::folder::FolderOptions;
use crate::shapes::ShapesConfig;
use crate::{Dataset, Error, Result};
use sc_core::Seed;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which data set to load: the `--data SPEC` argument of every command.
///
/// | SPEC | data set |
/// |---|---|
/// | `shapes` | the embedded set: 10,000 train + 2,000 test images, 32x32 |
/// | `shapes:N` | N training images and N/5 (at least 1) test images |
/// | `shapes:n=N,test=M,size=S,seed=K` | any of these keys, in any order |
/// | `mnist:DIR`, `fashion-mnist:DIR` | IDX files (raw or .gz) in DIR |
/// | `cifar10:DIR` | `cifar-10-batches-bin` (or its parent) |
/// | `cifar100:DIR`, `cifar100-coarse:DIR` | `cifar-100-binary` (or its parent), fine or coarse labels |
/// | `svhn:DIR` | `train_32x32.mat` / `test_32x32.mat` |
/// | `folder:DIR` | one subfolder per class, or `train/` + `val/` or `test/` |
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataSpec {
    /// The embedded procedural set.
    Shapes(ShapesConfig),
    /// MNIST IDX files.
    Mnist(PathBuf),
    /// Fashion-MNIST IDX files.
    FashionMnist(PathBuf),
    /// CIFAR-10 binary version.
    Cifar10(PathBuf),
    /// CIFAR-100 binary version.
    Cifar100(PathBuf, Cifar100Labels),
    /// SVHN cropped digits.
    Svhn(PathBuf),
    /// An ImageNet-style folder tree.
    Folder(PathBuf, FolderOptions),
}

const KINDS: &str =
    "shapes, shapes:N, mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, svhn:DIR or folder:DIR";

impl DataSpec {
    /// Loads the data set.
    pub fn load(&self) -> Result<Dataset> {
        match self {
            DataSpec::Shapes(cfg) => cfg.generate(),
            DataSpec::Mnist(dir) => {
                crate::idx::load_idx_dir(dir, "mnist", crate::idx::mnist_classes())
            }
            DataSpec::FashionMnist(dir) => {
                crate::idx::load_idx_dir(dir, "fashion-mnist", crate::idx::fashion_mnist_classes())
            }
            DataSpec::Cifar10(dir) => crate::cifar::load_cifar10_dir(dir),
            DataSpec::Cifar100(dir, labels) => crate::cifar::load_cifar100_dir(dir, *labels),
            DataSpec::Svhn(dir) => crate::svhn::load_svhn_dir(dir),
            DataSpec::Folder(dir, opts) => crate::folder::load_folder(dir, opts),
        }
    }

    /// Sets the image size of a `folder:` set (resize + centre crop); other
    /// sets have a fixed size, and asking to resize them is an error.
    pub fn with_image_size(self, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::arg("image size", "must be at least 1"));
        }
        match self {
            DataSpec::Folder(dir, mut opts) => {
                opts.image_size = Some(size);
                Ok(DataSpec::Folder(dir, opts))
            }
            DataSpec::Shapes(mut cfg) => {
                cfg.size = size;
                Ok(DataSpec::Shapes(cfg))
            }
            other => Err(Error::Spec {
                spec: other.to_string(),
                problem: "--image-size applies to folder: and shapes sets only".into(),
            }),
        }
    }
}

impl FromStr for DataSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let err = |problem: String| Error::Spec {
            spec: s.to_string(),
            problem,
        };
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        let dir = || -> Result<PathBuf> {
            match arg {
                Some(a) if !a.is_empty() => Ok(PathBuf::from(a)),
                _ => Err(err(format!("{kind} needs a directory: {kind}:DIR"))),
            }
        };
        Ok(match kind {
            "shapes" => DataSpec::Shapes(parse_shapes(arg.unwrap_or("")).map_err(err)?),
            "mnist" => DataSpec::Mnist(dir()?),
            "fashion-mnist" => DataSpec::FashionMnist(dir()?),
            "cifar10" => DataSpec::Cifar10(dir()?),
            "cifar100" => DataSpec::Cifar100(dir()?, Cifar100Labels::Fine),
            "cifar100-coarse" => DataSpec::Cifar100(dir()?, Cifar100Labels::Coarse),
            "svhn" => DataSpec::Svhn(dir()?),
            "folder" => DataSpec::Folder(dir()?, FolderOptions::default()),
            other => return Err(err(format!("unknown data set {other:?}: expected {KINDS}"))),
        })
    }
}

fn parse_shapes(arg: &str) -> std::result::Result<ShapesConfig, String> {
    let mut cfg = ShapesConfig::default();
    if arg.is_empty() {
        return Ok(cfg);
    }
    let number = |key: &str, v: &str| -> std::result::Result<usize, String> {
        v.trim()
            .parse::<usize>()
            .map_err(|_| format!("{key} = {v:?} is not a non-negative integer"))
    };
    if !arg.contains('=') {
        let n = number("N", arg)?;
        if n == 0 {
            return Err("shapes:N needs N >= 1".into());
        }
        cfg.train = n;
        cfg.test = (n / 5).max(1);
        return Ok(cfg);
    }
    let mut test_given = false;
    for pair in arg.split(',') {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value (keys: n, test, size, seed)"))?;
        match k.trim() {
            "n" | "train" => cfg.train = number(k, v)?,
            "test" => {
                cfg.test = number(k, v)?;
                test_given = true;
            }
            "size" => cfg.size = number(k, v)?,
            "seed" => {
                cfg.seed = Seed(
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("seed = {v:?} is not an unsigned integer"))?,
                )
            }
            other => return Err(format!("unknown key {other:?} (keys: n, test, size, seed)")),
        }
    }
    if !test_given {
        cfg.test = (cfg.train / 5).max(1);
    }
    Ok(cfg)
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::Shapes(c) => write!(
                f,
                "shapes:n={},test={},size={},seed={}",
                c.train, c.test, c.size, c.seed.0
            ),
            DataSpec::Mnist(d) => write!(f, "mnist:{}", d.display()),
            DataSpec::FashionMnist(d) => write!(f, "fashion-mnist:{}", d.display()),
            DataSpec::Cifar10(d) => write!(f, "cifar10:{}", d.display()),
            DataSpec::Cifar100(d, Cifar100Labels::Fine) => write!(f, "cifar100:{}", d.display()),
            DataSpec::Cifar100(d, Cifar100Labels::Coarse) => {
                write!(f, "cifar100-coarse:{}", d.display())
            }
            DataSpec::Svhn(d) => write!(f, "svhn:{}", d.display()),
            DataSpec::Folder(d, _) => write!(f, "folder:{}", d.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_round_trips() {
        for s in [
            "shapes:n=10,test=3,size=32,seed=4",
            "mnist:/a/b",
            "fashion-mnist:x",
            "cifar10:c",
            "cifar100:d",
            "cifar100-coarse:d",
            "svhn:s",
            "folder:f",
        ] {
            let spec: DataSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        match "shapes:500".parse::<DataSpec>().unwrap() {
            DataSpec::Shapes(c) => assert_eq!((c.train, c.test, c.size), (500, 100, 32)),
            other => panic!("{other:?}"),
        }
        match "shapes".parse::<DataSpec>().unwrap() {
            DataSpec::Shapes(c) => assert_eq!(c, ShapesConfig::default()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let e = |s: &str| s.parse::<DataSpec>().unwrap_err().to_string();
        assert!(e("imagenet:x").contains("unknown data set"));
        assert!(e("mnist").contains("needs a directory"));
        assert!(e("shapes:abc").contains("not a non-negative integer"));
        assert!(e("shapes:0").contains("N >= 1"));
        assert!(e("shapes:n=5,colour=red").contains("unknown key"));
        let cifar: DataSpec = "cifar10:x".parse().unwrap();
        assert!(cifar.with_image_size(64).is_err());
    }
}
