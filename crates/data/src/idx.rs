//! MNIST and Fashion-MNIST in the IDX format of LeCun et al.
//! (<http://yann.lecun.com/exdb/mnist/>, "FILE FORMATS FOR THE MNIST
//! DATABASE").
//!
//! An IDX file is a big-endian header, the magic `0x0000_08DD` (`08`:
//! unsigned bytes, `DD`: the number of dimensions) followed by one `u32` per
//! dimension, then the data in row-major order: `0x0000_0803` for
//! `N x rows x cols` images, `0x0000_0801` for `N` labels.
//!
//! Files are read raw or gzip-compressed. Compression is recognised by the
//! content (the gzip magic `1f 8b`), not by the name, because mirrors and
//! browsers decompress or rename the official `.gz` files freely.

use crate::{Dataset, Error, ImageSet, Result};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The MNIST class names, `"0"` to `"9"`.
pub fn mnist_classes() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// The Fashion-MNIST class names in label order (Xiao et al. 2017,
/// <https://github.com/zalandoresearch/fashion-mnist#labels>).
pub fn fashion_mnist_classes() -> Vec<String> {
    [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
    .map(String::from)
    .to_vec()
}

/// Reads an IDX3 image file (magic `0x00000803`), raw or gzip.
///
/// Returns the pixels (row-major, image after image) and `(n, rows, cols)`.
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, usize, usize, usize)> {
    let (dims, data) = read_idx(path, IMAGES_MAGIC, 3)?;
    Ok((data, dims[0], dims[1], dims[2]))
}

/// Reads an IDX1 label file (magic `0x00000801`), raw or gzip.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    let (_, data) = read_idx(path, LABELS_MAGIC, 1)?;
    Ok(data)
}

/// Writes `n` images of `rows x cols` bytes as IDX3, gzip-compressed when
/// `gzip` (the form in which MNIST is distributed).
pub fn write_idx_images(
    path: &Path,
    pixels: &[u8],
    n: usize,
    rows: usize,
    cols: usize,
    gzip: bool,
) -> Result<()> {
    let expected = n.checked_mul(rows).and_then(|x| x.checked_mul(cols));
    if expected != Some(pixels.len()) {
        return Err(Error::arg(
            "pixels",
            format!(
                "{} bytes for {n} images of {rows}x{cols}: expected n*rows*cols",
                pixels.len()
            ),
        ));
    }
    write_idx(path, IMAGES_MAGIC, &[n, rows, cols], pixels, gzip)
}

/// Writes labels as IDX1, gzip-compressed when `gzip`.
pub fn write_idx_labels(path: &Path, labels: &[u8], gzip: bool) -> Result<()> {
    write_idx(path, LABELS_MAGIC, &[labels.len()], labels, gzip)
}

/// Loads an MNIST-layout directory: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
/// `t10k-labels-idx1-ubyte`, each raw or with `.gz`, also with a dot before
/// `idx` (`train-images.idx3-ubyte`, as some mirrors name them).
///
/// A split is loaded when both of its files exist, so a directory with only
/// the test files is a data set with `train: None`. Images are `[1, rows, cols]`.
pub fn load_idx_dir(dir: &Path, name: &str, classes: Vec<String>) -> Result<Dataset> {
    let classes: Arc<[String]> = classes.into();
    let train = load_split(dir, "train", &classes)?;
    let test = load_split(dir, "t10k", &classes)?;
    if train.is_none() && test.is_none() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            expected: "an IDX data set: train-images-idx3-ubyte + train-labels-idx1-ubyte \
                       and/or t10k-images-idx3-ubyte + t10k-labels-idx1-ubyte, each raw or .gz"
                .into(),
        });
    }
    Ok(Dataset {
        name: name.to_string(),
        train,
        test,
    })
}

fn load_split(dir: &Path, prefix: &str, classes: &Arc<[String]>) -> Result<Option<ImageSet>> {
    let images = find_idx(dir, prefix, "images", 3);
    let labels = find_idx(dir, prefix, "labels", 1);
    let (images, labels) = match (images, labels) {
        (None, None) => return Ok(None),
        (Some(i), Some(l)) => (i, l),
        (Some(i), None) => {
            return Err(Error::Missing {
                path: dir.join(format!("{prefix}-labels-idx1-ubyte")),
                expected: format!(
                    "the labels of {} ({prefix}-labels-idx1-ubyte, raw or .gz)",
                    i.display()
                ),
            })
        }
        (None, Some(l)) => {
            return Err(Error::Missing {
                path: dir.join(format!("{prefix}-images-idx3-ubyte")),
                expected: format!(
                    "the images of {} ({prefix}-images-idx3-ubyte, raw or .gz)",
                    l.display()
                ),
            })
        }
    };
    let (pixels, n, rows, cols) = read_idx_images(&images)?;
    if rows == 0 || cols == 0 {
        return Err(Error::format(
            &images,
            format!("absurd dimensions: images of {rows}x{cols} pixels"),
        ));
    }
    let label_bytes = read_idx_labels(&labels)?;
    if label_bytes.len() != n {
        return Err(Error::Mismatch {
            path: images,
            other: labels,
            problem: format!("{n} images but {} labels", label_bytes.len()),
        });
    }
    if let Some((i, &l)) = label_bytes
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= classes.len())
    {
        return Err(Error::format(
            &labels,
            format!(
                "label {l} at index {i} is not below the class count {}",
                classes.len()
            ),
        ));
    }
    let labels = label_bytes.into_iter().map(u32::from).collect();
    Ok(Some(ImageSet::new(
        pixels,
        [1, rows, cols],
        labels,
        classes.clone(),
    )?))
}

fn find_idx(dir: &Path, prefix: &str, kind: &str, ndims: usize) -> Option<PathBuf> {
    let stems = [
        format!("{prefix}-{kind}-idx{ndims}-ubyte"),
        format!("{prefix}-{kind}.idx{ndims}-ubyte"),
    ];
    stems
        .iter()
        .flat_map(|s| [s.clone(), format!("{s}.gz")])
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// Reads an IDX file of `ndims` dimensions. The declared data size is
/// checked against the bytes actually present before any buffer of that size
/// exists, so a corrupt header cannot trigger a huge allocation; a gzip
/// stream is decompressed with a cap of the declared size plus one byte,
/// which detects trailing data without reading it all.
fn read_idx(path: &Path, magic: u32, ndims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let header_len = 4 + 4 * ndims;
    let mut file = fs::read(path).map_err(|e| Error::io(path, e))?;
    if file.starts_with(&GZIP_MAGIC) {
        let gz_error = |e: std::io::Error| {
            Error::format(path, format!("corrupt or truncated gzip stream: {e}"))
        };
        let mut gz = MultiGzDecoder::new(file.as_slice());
        let mut header = Vec::with_capacity(header_len);
        (&mut gz)
            .take(header_len as u64)
            .read_to_end(&mut header)
            .map_err(gz_error)?;
        let dims = parse_header(path, &header, magic, ndims)?;
        let declared = data_len(path, &dims)?;
        let mut data = Vec::new();
        gz.take((declared as u64).saturating_add(1))
            .read_to_end(&mut data)
            .map_err(gz_error)?;
        if data.len() < declared {
            return Err(truncated(path, declared, data.len()));
        }
        if data.len() > declared {
            return Err(Error::format(
                path,
                format!(
                    "trailing bytes after the {declared} bytes of data that the header declares"
                ),
            ));
        }
        Ok((dims, data))
    } else {
        let dims = parse_header(path, &file[..header_len.min(file.len())], magic, ndims)?;
        let declared = data_len(path, &dims)?;
        let found = file.len() - header_len;
        if found < declared {
            return Err(truncated(path, declared, found));
        }
        if found > declared {
            return Err(Error::format(
                path,
                format!(
                    "{found} bytes of data where the header declares {declared}: {} trailing bytes",
                    found - declared
                ),
            ));
        }
        file.drain(..header_len);
        Ok((dims, file))
    }
}

fn truncated(path: &Path, declared: usize, found: usize) -> Error {
    Error::format(
        path,
        format!("truncated: expected {declared} bytes of data, found {found}"),
    )
}

fn parse_header(path: &Path, header: &[u8], magic: u32, ndims: usize) -> Result<Vec<usize>> {
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if header.len() < 4 {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} bytes, too short for the 4-byte IDX magic",
                header.len()
            ),
        ));
    }
    let found = word(0);
    if found != magic {
        let what = |m: u32| match m {
            IMAGES_MAGIC => " (IDX3 images)",
            LABELS_MAGIC => " (IDX1 labels)",
            _ => "",
        };
        return Err(Error::format(
            path,
            format!(
                "wrong magic 0x{found:08x}{}, expected 0x{magic:08x}{}",
                what(found),
                what(magic)
            ),
        ));
    }
    if header.len() < 4 + 4 * ndims {
        return Err(Error::format(
            path,
            format!(
                "truncated: the header needs {} bytes, found {}",
                4 + 4 * ndims,
                header.len()
            ),
        ));
    }
    Ok((0..ndims).map(|d| word(4 + 4 * d) as usize).collect())
}

fn data_len(path: &Path, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            Error::format(
                path,
                format!("absurd dimensions {dims:?}: the data size overflows"),
            )
        })
}

fn write_idx(path: &Path, magic: u32, dims: &[usize], data: &[u8], gzip: bool) -> Result<()> {
    let mut header = magic.to_be_bytes().to_vec();
    for &d in dims {
        let d = u32::try_from(d)
            .map_err(|_| Error::arg("IDX dimension", format!("{d} does not fit in a u32")))?;
        header.extend_from_slice(&d.to_be_bytes());
    }
    let io = |e| Error::io(path, e);
    let out = BufWriter::new(File::create(path).map_err(io)?);
    if gzip {
        let mut gz = GzEncoder::new(out, Compression::default());
        gz.write_all(&header).map_err(io)?;
        gz.write_all(data).map_err(io)?;
        gz.finish().map_err(io)?.flush().map_err(io)
    } else {
        let mut out = out;
        out.write_all(&header).map_err(io)?;
        out.write_all(data).map_err(io)?;
        out.flush().map_err(io)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use tempfile::TempDir;

    /// The shared real-data folder (`<ancestor>/shared/data`). Tests that
    /// call it are `#[ignore]`d (listed as ignored, never passed silently);
    /// run with `--include-ignored` they fail when the folder is missing.
    pub(crate) fn shared_data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared").join("data"))
            .find(|p| p.is_dir())
            .expect("this test needs ../shared/data beside the checkout")
    }

    fn pattern(len: usize, salt: usize) -> Vec<u8> {
        (0..len)
            .map(|i| ((i * 31 + salt * 7) % 251) as u8)
            .collect()
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn round_trip_raw_and_gzip_with_both_name_styles() {
        for (gzip, dotted) in [(false, false), (true, false), (false, true), (true, true)] {
            let dir = TempDir::new().unwrap();
            let ext = if gzip { ".gz" } else { "" };
            let sep = if dotted { "." } else { "-" };
            let (n_train, n_test, rows, cols) = (7, 3, 5, 4);
            let train_px = pattern(n_train * rows * cols, 1);
            let test_px = pattern(n_test * rows * cols, 2);
            let train_lb: Vec<u8> = (0..n_train as u8).map(|i| i % 10).collect();
            let test_lb = vec![9, 0, 4];
            let p = |f: &str| dir.path().join(format!("{f}{ext}"));
            write_idx_images(
                &p(&format!("train-images{sep}idx3-ubyte")),
                &train_px,
                n_train,
                rows,
                cols,
                gzip,
            )
            .unwrap();
            write_idx_labels(&p(&format!("train-labels{sep}idx1-ubyte")), &train_lb, gzip).unwrap();
            write_idx_images(
                &p(&format!("t10k-images{sep}idx3-ubyte")),
                &test_px,
                n_test,
                rows,
                cols,
                gzip,
            )
            .unwrap();
            write_idx_labels(&p(&format!("t10k-labels{sep}idx1-ubyte")), &test_lb, gzip).unwrap();
            let bytes = fs::read(p(&format!("t10k-labels{sep}idx1-ubyte"))).unwrap();
            assert_eq!(bytes.starts_with(&GZIP_MAGIC), gzip);

            let ds = load_idx_dir(dir.path(), "toy", mnist_classes()).unwrap();
            assert_eq!(ds.name, "toy");
            let train = ds.train.as_ref().unwrap();
            let test = ds.test.as_ref().unwrap();
            assert_eq!(train.image_shape(), [1, rows, cols]);
            assert_eq!(train.pixels(), &train_px[..]);
            assert_eq!(
                train.labels(),
                &train_lb.iter().map(|&l| l as u32).collect::<Vec<_>>()[..]
            );
            assert_eq!(test.pixels(), &test_px[..]);
            assert_eq!(test.labels(), &[9, 0, 4]);
            assert_eq!(ds.classes(), &mnist_classes()[..]);
        }
    }

    #[test]
    fn compression_is_detected_by_content_not_name() {
        let dir = TempDir::new().unwrap();
        let gz_named_raw = dir.path().join("a.gz");
        let raw_named_gz = dir.path().join("b");
        write_idx_labels(&gz_named_raw, &[1, 2, 3], false).unwrap();
        write_idx_labels(&raw_named_gz, &[4, 5], true).unwrap();
        assert_eq!(read_idx_labels(&gz_named_raw).unwrap(), vec![1, 2, 3]);
        assert_eq!(read_idx_labels(&raw_named_gz).unwrap(), vec![4, 5]);
    }

    #[test]
    fn exact_header_bytes() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("x");
        write_idx_images(&path, &[1, 2, 3, 4, 5, 6], 1, 2, 3, false).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            [0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]
        );
        assert_eq!(
            read_idx_images(&path).unwrap(),
            (vec![1, 2, 3, 4, 5, 6], 1, 2, 3)
        );
        assert!(write_idx_images(&path, &[1, 2, 3], 1, 2, 3, false).is_err());
    }

    #[test]
    fn test_only_directory_has_no_train_split() {
        let dir = TempDir::new().unwrap();
        write_idx_images(
            &dir.path().join("t10k-images-idx3-ubyte.gz"),
            &[0; 8],
            2,
            2,
            2,
            true,
        )
        .unwrap();
        write_idx_labels(&dir.path().join("t10k-labels-idx1-ubyte.gz"), &[1, 2], true).unwrap();
        let ds = load_idx_dir(dir.path(), "fashion", fashion_mnist_classes()).unwrap();
        assert!(ds.train.is_none());
        assert_eq!(ds.test.unwrap().labels(), &[1, 2]);
    }

    #[test]
    fn truncated_and_trailing_data_are_reported() {
        let dir = TempDir::new().unwrap();
        for gzip in [false, true] {
            let good = dir.path().join(format!("good{gzip}"));
            write_idx_images(&good, &pattern(2 * 3 * 3, 0), 2, 3, 3, false).unwrap();
            let bytes = fs::read(&good).unwrap();
            let write = |name: &str, content: &[u8]| {
                let path = dir.path().join(format!("{name}-{gzip}"));
                if gzip {
                    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
                    e.write_all(content).unwrap();
                    fs::write(&path, e.finish().unwrap()).unwrap();
                } else {
                    fs::write(&path, content).unwrap();
                }
                path
            };
            let short = write("short-images", &bytes[..bytes.len() - 5]);
            let msg = err_text(read_idx_images(&short));
            assert!(
                msg.contains("short-images") && msg.contains("truncated"),
                "{msg}"
            );
            assert!(msg.contains("expected 18 bytes of data, found 13"), "{msg}");

            let header_only = write("header-cut", &bytes[..9]);
            let msg = err_text(read_idx_images(&header_only));
            assert!(
                msg.contains("header-cut") && msg.contains("truncated"),
                "{msg}"
            );

            let mut long = bytes.clone();
            long.extend_from_slice(&[7, 7]);
            let long = write("long-images", &long);
            let msg = err_text(read_idx_images(&long));
            assert!(
                msg.contains("long-images") && msg.contains("trailing"),
                "{msg}"
            );
        }
        // A gzip stream cut in the middle.
        let gz = dir.path().join("cut.gz");
        write_idx_images(&gz, &pattern(4000, 3), 10, 20, 20, true).unwrap();
        let bytes = fs::read(&gz).unwrap();
        fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
        let msg = err_text(read_idx_images(&gz));
        assert!(
            msg.contains("cut.gz") && (msg.contains("truncated") || msg.contains("gzip")),
            "{msg}"
        );
    }

    #[test]
    fn wrong_magic_names_found_and_expected() {
        let dir = TempDir::new().unwrap();
        let labels = dir.path().join("labels-not-images");
        write_idx_labels(&labels, &[1, 2], false).unwrap();
        let msg = err_text(read_idx_images(&labels));
        assert!(
            msg.contains("labels-not-images") && msg.contains("wrong magic"),
            "{msg}"
        );
        assert!(
            msg.contains("0x00000801") && msg.contains("0x00000803"),
            "{msg}"
        );
        let junk = dir.path().join("junk");
        fs::write(&junk, b"hello world").unwrap();
        let msg = err_text(read_idx_labels(&junk));
        assert!(msg.contains("junk") && msg.contains("wrong magic"), "{msg}");
    }

    #[test]
    fn absurd_dimensions_fail_without_allocating() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("huge");
        let mut bytes = vec![0, 0, 8, 3];
        for _ in 0..3 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        bytes.extend_from_slice(&[1, 2, 3]);
        fs::write(&path, &bytes).unwrap();
        let msg = err_text(read_idx_images(&path));
        assert!(
            msg.contains("huge") && (msg.contains("absurd") || msg.contains("truncated")),
            "{msg}"
        );
        // Within range but far larger than the data: truncated, for raw and gzip.
        let mut big = vec![0, 0, 8, 3];
        for d in [60_000u32, 1000, 1000] {
            big.extend_from_slice(&d.to_be_bytes());
        }
        big.extend_from_slice(&[0; 100]);
        fs::write(&path, &big).unwrap();
        assert!(err_text(read_idx_images(&path)).contains("truncated"));
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&big).unwrap();
        fs::write(&path, e.finish().unwrap()).unwrap();
        assert!(err_text(read_idx_images(&path)).contains("truncated"));
    }

    #[test]
    fn directory_errors_name_the_files() {
        let dir = TempDir::new().unwrap();
        let err = load_idx_dir(dir.path(), "x", mnist_classes()).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }));
        assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");

        write_idx_images(
            &dir.path().join("train-images-idx3-ubyte"),
            &[0; 12],
            3,
            2,
            2,
            false,
        )
        .unwrap();
        let err = load_idx_dir(dir.path(), "x", mnist_classes()).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }));
        assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");

        write_idx_labels(
            &dir.path().join("train-labels-idx1-ubyte.gz"),
            &[0, 1],
            true,
        )
        .unwrap();
        let err = load_idx_dir(dir.path(), "x", mnist_classes()).unwrap_err();
        assert!(matches!(err, Error::Mismatch { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte") && msg.contains("train-labels-idx1-ubyte.gz"),
            "{msg}"
        );
        assert!(msg.contains("3 images but 2 labels"), "{msg}");

        write_idx_labels(
            &dir.path().join("train-labels-idx1-ubyte.gz"),
            &[0, 1, 10],
            true,
        )
        .unwrap();
        let err = load_idx_dir(dir.path(), "x", mnist_classes()).unwrap_err();
        assert!(matches!(err, Error::Format { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("train-labels-idx1-ubyte.gz") && msg.contains("label 10"),
            "{msg}"
        );

        let only_labels = TempDir::new().unwrap();
        write_idx_labels(
            &only_labels.path().join("t10k-labels-idx1-ubyte"),
            &[0],
            false,
        )
        .unwrap();
        let err = load_idx_dir(only_labels.path(), "x", mnist_classes()).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }));
        assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");
    }

    /// A grayscale PNG decoded by the `image` crate, independently of IDX.
    fn png_gray(path: &Path) -> Vec<u8> {
        image::open(path).unwrap().to_luma8().into_raw()
    }

    fn check_against_pngs(set: &ImageSet, samples: &Path, prefix: &str) {
        let mut checked = 0;
        for entry in fs::read_dir(samples).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let Some(rest) = name
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".png"))
            else {
                continue;
            };
            let (i, label) = rest.split_once('_').unwrap();
            let (i, label): (usize, u32) = (i.parse().unwrap(), label.parse().unwrap());
            assert_eq!(
                set.image(i).unwrap(),
                &png_gray(&samples.join(&name))[..],
                "{name}"
            );
            assert_eq!(set.labels()[i], label, "{name}");
            checked += 1;
        }
        assert_eq!(checked, 20);
    }

    #[test]
    #[ignore = "needs ../shared (run with --include-ignored)"]
    fn real_mnist() {
        let data = shared_data();
        let ds = load_idx_dir(&data.join("mnist"), "mnist", mnist_classes()).unwrap();
        let test = ds.test.as_ref().unwrap();
        assert_eq!(test.len(), 10_000);
        assert_eq!(test.image_shape(), [1, 28, 28]);
        assert_eq!(
            test.label_counts(),
            [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        );
        let train = ds.train.as_ref().unwrap();
        assert_eq!(train.len(), 5_000);
        assert_eq!(train.label_counts(), [500; 10]);
        assert_eq!(
            test.image(0).unwrap(),
            &png_gray(&data.join("foolbox-samples/mnist_00_7.png"))[..]
        );
        check_against_pngs(test, &data.join("foolbox-samples"), "mnist_");
    }

    #[test]
    #[ignore = "needs ../shared (run with --include-ignored)"]
    fn real_fashion_mnist() {
        let data = shared_data();
        let ds = load_idx_dir(
            &data.join("fashion-mnist"),
            "fashion-mnist",
            fashion_mnist_classes(),
        )
        .unwrap();
        assert!(ds.train.is_none());
        let test = ds.test.as_ref().unwrap();
        assert_eq!(test.len(), 10_000);
        assert_eq!(test.image_shape(), [1, 28, 28]);
        assert_eq!(test.label_counts(), [1000; 10]);
        assert_eq!(ds.classes()[9], "Ankle boot");
        check_against_pngs(test, &data.join("foolbox-samples"), "fashionMNIST_");
        let extra =
            read_idx_labels(&data.join("fashion-mnist/extra/train-labels-idx1-ubyte.gz")).unwrap();
        assert_eq!(extra.len(), 60_000);
    }

    fn valid_header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut h = magic.to_be_bytes().to_vec();
        for d in dims {
            h.extend_from_slice(&d.to_be_bytes());
        }
        h
    }

    fn gzipped(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn readers_never_panic_on_random_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            dims in proptest::collection::vec(prop_oneof![0u32..8, any::<u32>()], 3),
            gzip in any::<bool>(),
        ) {
            let dir = TempDir::new().unwrap();
            let path = dir.path().join("f");
            let images = [valid_header(IMAGES_MAGIC, &dims), bytes.clone()].concat();
            let labels = [valid_header(LABELS_MAGIC, &dims[..1]), bytes.clone()].concat();
            for content in [bytes.clone(), images, labels] {
                let content = if gzip { gzipped(&content) } else { content };
                fs::write(&path, &content).unwrap();
                let _ = read_idx_images(&path);
                let _ = read_idx_labels(&path);
            }
            // A gzip magic followed by garbage.
            fs::write(&path, [&GZIP_MAGIC[..], &bytes].concat()).unwrap();
            let _ = read_idx_images(&path);
            let _ = read_idx_labels(&path);
        }

        #[test]
        fn round_trip_any_shape(n in 0usize..6, rows in 1usize..6, cols in 1usize..6, gzip in any::<bool>(), salt in 0usize..100) {
            let dir = TempDir::new().unwrap();
            let path = dir.path().join("img");
            let px = pattern(n * rows * cols, salt);
            write_idx_images(&path, &px, n, rows, cols, gzip).unwrap();
            prop_assert_eq!(read_idx_images(&path).unwrap(), (px, n, rows, cols));
        }
    }
}
