use crate::cifar::Cifar100Labels;
use crate::colorful::{ColorfulOptions, Colour};
use crate::convert::ConvertOptions;
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
/// | `colorful:SPEC[,p=P][,a=COLOUR][,b=COLOUR]` | SPEC (gray digits or shapes) with coloured backgrounds ([`crate::colorful`]); default p=0.95, a=red, b=blue |
/// | `colorful-mnist:DIR`, `colorful-fashion-mnist:DIR`, `colorful-shapes[:...]` | `colorful:` of that set |
/// | `convert:SPEC[,channels=3][,resize=S]` | SPEC as RGB and/or resized to SxS ([`crate::convert`]) |
///
/// The options of `colorful:` and `convert:` come last, after SPEC's own.
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
    /// A set with a background colour correlated with the split (Sec. 4.7).
    Colorful(Box<DataSpec>, ColorfulOptions),
    /// A set converted to other channels or size (transfer, Sec. 4.6).
    Convert(Box<DataSpec>, ConvertOptions),
}

/// The largest side `--image-size` may resize folder images to: four
/// times ResNet50's 224 (Sec. 4.1), far below what would exhaust memory
/// with a typo such as `--image-size 100000`.
pub const MAX_FOLDER_IMAGE_SIZE: usize = 1024;

const KINDS: &str =
    "shapes, shapes:N, mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, svhn:DIR, folder:DIR, colorful:SPEC, colorful-mnist:DIR, colorful-fashion-mnist:DIR, colorful-shapes or convert:SPEC";

/// The keys of `colorful:` options.
const COLORFUL_KEYS: [&str; 3] = ["p", "a", "b"];
/// The keys of `convert:` options.
const CONVERT_KEYS: [&str; 2] = ["channels", "resize"];

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
            DataSpec::Colorful(inner, options) => {
                crate::colorful::colorize(&inner.load()?, options)
            }
            DataSpec::Convert(inner, options) => {
                let data = inner.load()?;
                let split = |s: &Option<crate::ImageSet>| {
                    s.as_ref()
                        .map(|s| crate::convert::convert(s, options))
                        .transpose()
                };
                Ok(Dataset {
                    train: split(&data.train)?,
                    test: split(&data.test)?,
                    name: data.name,
                })
            }
        }
    }

    /// The Colorful options when this is a Colorful set (possibly converted).
    pub fn colorful(&self) -> Option<&ColorfulOptions> {
        match self {
            DataSpec::Colorful(_, options) => Some(options),
            DataSpec::Convert(inner, _) => inner.colorful(),
            _ => None,
        }
    }

    /// Sets the image size of a `folder:` set (resize + centre crop); other
    /// sets have a fixed size, and asking to resize them is an error.
    ///
    /// A size that cannot be honoured is an error here, before any image is
    /// read: 0, above `MAX_FOLDER_IMAGE_SIZE` (1024) for folders, or what
    /// [`ShapesConfig::validate`] rejects for `shapes`.
    pub fn with_image_size(self, size: usize) -> Result<Self> {
        if size == 0 {
            return Err(Error::arg("image size", "must be at least 1"));
        }
        match self {
            DataSpec::Folder(dir, mut opts) => {
                if size > MAX_FOLDER_IMAGE_SIZE {
                    return Err(Error::arg(
                        "image size",
                        format!(
                            "{size}: expected at most {MAX_FOLDER_IMAGE_SIZE} \
                             (resized folder images are held in memory)"
                        ),
                    ));
                }
                opts.image_size = Some(size);
                Ok(DataSpec::Folder(dir, opts))
            }
            DataSpec::Shapes(mut cfg) => {
                cfg.size = size;
                cfg.validate()?;
                Ok(DataSpec::Shapes(cfg))
            }
            DataSpec::Colorful(inner, options) => Ok(DataSpec::Colorful(
                Box::new(inner.with_image_size(size)?),
                options,
            )),
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
        match kind {
            "colorful" | "convert" => {
                let inner = arg
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| err(format!("{kind} needs a data set: {kind}:SPEC")))?;
                return wrapper(kind, inner).map_err(err);
            }
            "colorful-mnist" | "colorful-fashion-mnist" | "colorful-shapes" => {
                let inner_kind = &kind["colorful-".len()..];
                let inner = match arg {
                    Some(a) => format!("{inner_kind}:{a}"),
                    None => inner_kind.to_string(),
                };
                return wrapper("colorful", &inner).map_err(err);
            }
            _ => {}
        }
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

/// `colorful:INNER` or `convert:INNER` with their trailing options.
fn wrapper(kind: &str, inner: &str) -> std::result::Result<DataSpec, String> {
    let keys: &[&str] = if kind == "colorful" {
        &COLORFUL_KEYS
    } else {
        &CONVERT_KEYS
    };
    let (inner, options) = split_trailing_options(inner, keys);
    let mut seen: Vec<&str> = Vec::new();
    for (k, _) in &options {
        if seen.contains(k) {
            return Err(format!("{k} is given twice"));
        }
        seen.push(k);
    }
    let inner_spec: DataSpec = inner.parse().map_err(|e: Error| match e {
        Error::Spec { problem, .. } => format!("in {inner:?}: {problem}"),
        other => other.to_string(),
    })?;
    if kind == "colorful" {
        match &inner_spec {
            DataSpec::Shapes(_)
            | DataSpec::Mnist(_)
            | DataSpec::FashionMnist(_)
            | DataSpec::Folder(..) => {}
            other => {
                return Err(format!(
                    "{other} has no background notion (colour images without object masks): \
                     colorful needs gray digits (mnist, fashion-mnist, a gray folder) or shapes"
                ))
            }
        }
        let mut colorful = ColorfulOptions::default();
        for (k, v) in options {
            match k {
                "p" => {
                    colorful.p = v
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| format!("p = {v:?} is not a number"))?;
                    if !(0.0..=1.0).contains(&colorful.p) {
                        return Err(format!("p = {v}: expected a share in [0, 1]"));
                    }
                }
                "a" => colorful.a = colour(k, v)?,
                _ => colorful.b = colour(k, v)?,
            }
        }
        colorful.validate().map_err(|e| e.to_string())?;
        Ok(DataSpec::Colorful(Box::new(inner_spec), colorful))
    } else {
        let mut convert = ConvertOptions::default();
        for (k, v) in options {
            let n = v
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{k} = {v:?} is not a non-negative integer"))?;
            match k {
                "channels" => convert.channels = Some(n),
                _ => convert.resize = Some(n),
            }
        }
        convert.validate().map_err(|e| e.to_string())?;
        Ok(DataSpec::Convert(Box::new(inner_spec), convert))
    }
}

fn colour(key: &str, value: &str) -> std::result::Result<Colour, String> {
    value.parse().map_err(|e| format!("{key} = {e}"))
}

/// Splits `key=value` options with one of `keys` off the end of `s`
/// (separated by `,`, or by the `:` of a set's own argument as in
/// `shapes:p=0.9`): the rest is the inner specification. Options are
/// returned in the order written.
fn split_trailing_options<'a>(s: &'a str, keys: &[&str]) -> (&'a str, Vec<(&'a str, &'a str)>) {
    let mut rest = s;
    let mut options = Vec::new();
    loop {
        let cut = rest.rfind([',', ':']);
        let last = cut.map_or(rest, |i| &rest[i + 1..]);
        match last.split_once('=') {
            Some((k, v)) if keys.contains(&k.trim()) => {
                options.push((k.trim(), v));
                match cut {
                    Some(i) => rest = &rest[..i],
                    None => {
                        rest = "";
                        break;
                    }
                }
            }
            _ => break,
        }
    }
    options.reverse();
    (rest, options)
}

/// Parses the argument of `shapes:...` and checks that the set can be
/// generated ([`ShapesConfig::validate`]), so `--data` fails at once.
fn parse_shapes(arg: &str) -> std::result::Result<ShapesConfig, String> {
    let cfg = parse_shapes_keys(arg)?;
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

fn parse_shapes_keys(arg: &str) -> std::result::Result<ShapesConfig, String> {
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
    let mut seen: Vec<&str> = Vec::new();
    for pair in arg.split(',') {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value (keys: n, test, size, seed)"))?;
        let key = match k.trim() {
            "train" => "n",
            other => other,
        };
        if seen.contains(&key) {
            return Err(format!("{key} is given twice"));
        }
        seen.push(key);
        match key {
            "n" => {
                cfg.train = number(k, v)?;
                if cfg.train == 0 {
                    return Err(format!(
                        "{} = 0: expected at least 1 training image",
                        k.trim()
                    ));
                }
            }
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
            DataSpec::Colorful(inner, o) => {
                write!(f, "colorful:{inner},p={},a={},b={}", o.p, o.a, o.b)
            }
            DataSpec::Convert(inner, o) => {
                write!(f, "convert:{inner}")?;
                if let Some(c) = o.channels {
                    write!(f, ",channels={c}")?;
                }
                if let Some(s) = o.resize {
                    write!(f, ",resize={s}")?;
                }
                Ok(())
            }
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
    fn colorful_and_convert_parse_their_trailing_options_and_round_trip() {
        let spec: DataSpec = "colorful-shapes:n=50,test=10,p=0.9,b=#00ff80"
            .parse()
            .unwrap();
        match &spec {
            DataSpec::Colorful(inner, o) => {
                assert_eq!(inner.to_string(), "shapes:n=50,test=10,size=32,seed=0");
                assert_eq!(
                    (o.p, o.a, o.b),
                    (0.9, Colour([255, 0, 0]), Colour([0, 255, 128]))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(spec.to_string().parse::<DataSpec>().unwrap(), spec);
        for (s, inner) in [
            ("colorful-shapes", "shapes:n=10000,test=2000,size=32,seed=0"),
            (
                "colorful-shapes:p=0.5",
                "shapes:n=10000,test=2000,size=32,seed=0",
            ),
            ("colorful-mnist:/a/b", "mnist:/a/b"),
            ("colorful:fashion-mnist:/x,a=green", "fashion-mnist:/x"),
        ] {
            let spec: DataSpec = s.parse().unwrap();
            match &spec {
                DataSpec::Colorful(i, _) => assert_eq!(i.to_string(), inner, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
            assert_eq!(spec.to_string().parse::<DataSpec>().unwrap(), spec, "{s}");
            assert!(spec.colorful().is_some());
        }
        let conv: DataSpec = "convert:colorful-mnist:/m,p=0.8,channels=3,resize=32"
            .parse()
            .unwrap();
        match &conv {
            DataSpec::Convert(inner, o) => {
                assert_eq!((o.channels, o.resize), (Some(3), Some(32)));
                assert_eq!(inner.colorful().unwrap().p, 0.8);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(conv.to_string().parse::<DataSpec>().unwrap(), conv);
        assert!("mnist:/m".parse::<DataSpec>().unwrap().colorful().is_none());
    }

    #[test]
    fn bad_colorful_and_convert_specs_are_one_line_errors() {
        for (spec, needle) in [
            ("colorful-mnist:/m,p=1.5", "expected a share in [0, 1]"),
            ("colorful-mnist:/m,p=-0.1", "expected a share in [0, 1]"),
            ("colorful-mnist:/m,p=x", "is not a number"),
            ("colorful-shapes:a=reddish", "is not a colour"),
            ("colorful-shapes:a=blue", "two different colours"),
            ("colorful-shapes:p=0.5,p=0.6", "p is given twice"),
            ("colorful:cifar10:/c", "no background notion"),
            ("colorful:svhn:/s", "no background notion"),
            ("colorful", "needs a data set"),
            ("colorful:nope", "unknown data set"),
            ("convert:mnist:/m,channels=2", "expected 1 or 3"),
            ("convert:mnist:/m,resize=0", "from 1 to"),
            ("convert:mnist:/m,resize=big", "not a non-negative integer"),
        ] {
            let got = spec.parse::<DataSpec>().unwrap_err().to_string();
            assert!(got.contains(needle), "{spec}: {got}");
            assert_eq!(got.lines().count(), 1, "{spec}: {got}");
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

    #[test]
    fn values_that_cannot_be_honoured_fail_at_parse_time() {
        let e = |s: &str| s.parse::<DataSpec>().unwrap_err().to_string();
        for (spec, needle) in [
            ("shapes:n=0", "expected at least 1 training image"),
            (
                "shapes:train=0,test=5",
                "expected at least 1 training image",
            ),
            ("shapes:size=0", "expected at least 16"),
            ("shapes:size=8", "expected at least 16"),
            ("shapes:size=100000", "the limit is 4 GiB"),
            ("shapes:n=10,size=18446744073709551615", "over 2^64 bytes"),
            ("shapes:n=2000000", "the limit is 4 GiB"),
            ("shapes:n=5,n=6", "n is given twice"),
            ("shapes:n=5,train=6", "n is given twice"),
            ("shapes:n=-1", "not a non-negative integer"),
            (
                "shapes:n=5,size=99999999999999999999",
                "not a non-negative integer",
            ),
        ] {
            let got = e(spec);
            assert!(got.contains(needle), "{spec}: {got}");
            assert_eq!(got.lines().count(), 1, "{spec}: {got}");
        }
        // At the boundary, accepted: the smallest side, one image, no test split.
        assert!("shapes:n=1,test=0,size=16".parse::<DataSpec>().is_ok());
        let shapes: DataSpec = "shapes:10".parse().unwrap();
        let big = shapes
            .clone()
            .with_image_size(100_000)
            .unwrap_err()
            .to_string();
        assert!(big.contains("the limit is 4 GiB"), "{big}");
        assert!(shapes.clone().with_image_size(8).is_err());
        assert!(shapes.with_image_size(0).is_err());
        let folder: DataSpec = "folder:x".parse().unwrap();
        assert!(folder
            .clone()
            .with_image_size(MAX_FOLDER_IMAGE_SIZE)
            .is_ok());
        let e = folder
            .with_image_size(MAX_FOLDER_IMAGE_SIZE + 1)
            .unwrap_err();
        assert!(e.to_string().contains("at most 1024"), "{e}");
    }
}
