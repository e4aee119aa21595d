//! ImageNet-style class folders of JPEG/PNG images.
//!
//! Two layouts are recognised:
//!
//! - `DIR/<class>/<image>`: one folder per class. This is a single split and
//!   is returned as [`Dataset::train`] (with `test: None`), so that
//!   [`Dataset::test_or_only`] finds it for evaluation and training code finds
//!   it too.
//! - `DIR/train/<class>/<image>` and/or `DIR/val/<class>/<image>` (or
//!   `DIR/test/...`): split folders, each holding one folder per class. `val/`
//!   is the test split. Either split may be absent (an evaluation-only
//!   `val/` tree is valid), but a folder cannot hold both `val/` and `test/`,
//!   nor split folders next to other (class) folders: both would be ambiguous.
//!
//! Class names are the sorted (byte order) class folder names, and the label
//! of an image is its class's position in that list. When both splits are
//! present they must have the same class folders, since a class missing from
//! one split would shift every later label; the loader names the missing
//! folder instead of guessing.
//!
//! Images are the files ending in `.jpg`, `.jpeg` or `.png` (any case),
//! sorted by file name within their class and then interleaved across
//! classes (the first file of each class, then the second of each, ...), so
//! that every prefix of a split (`--limit N`, `train_limit`) holds the
//! classes about equally, as the shuffled CIFAR files do: in class order, the
//! first 500 images of CIFAR-10's validation folder would all be airplanes.
//! Hidden files (`.name`), other
//! files and nested folders are skipped, so stray `Thumbs.db` or `.DS_Store`
//! files do no harm. The format is detected from the content, not the
//! extension. A class folder without images is an error in the training (or
//! only) split, where it almost always means a broken copy, but is accepted
//! in a test split, where a class may legitimately have no sample.
//!
//! Sizes: when every image has the same size and
//! [`FolderOptions::image_size`] is `None`, images are kept as they are.
//! Otherwise each image's shorter side is resized to `S` (bilinear, i.e.
//! [`FilterType::Triangle`]) and the central `S x S` square is cropped — the
//! usual ImageNet evaluation transform without the mean/std normalisation,
//! which is the model's business. `S` is `image_size`, or
//! [`DEFAULT_IMAGE_SIZE`] when the images differ in size and none was given.
//! The decision is taken from the image headers alone, before any image is
//! decoded, and covers both splits so that they share one shape.
//!
//! Channels: 1 when every image is grayscale (with or without alpha),
//! otherwise 3, grayscale images then being replicated to RGB. Alpha is
//! dropped without compositing, as the models see no transparency.

use crate::{Dataset, Error, ImageSet, Result};
use image::imageops::{self, FilterType};
use image::{ImageBuffer, ImageDecoder, ImageReader, Pixel};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Side of the square images when the images differ in size and no
/// [`FolderOptions::image_size`] was given: the ImageNet standard.
pub const DEFAULT_IMAGE_SIZE: usize = 224;

/// Options of [`load_folder`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FolderOptions {
    /// Resize the shorter side of every image to this size and centre-crop
    /// a square. `None` keeps same-sized images as they are and uses
    /// [`DEFAULT_IMAGE_SIZE`] for images of differing sizes.
    pub image_size: Option<usize>,
}

/// Loads an ImageNet-style folder tree; see the [module documentation](self)
/// for the layouts, class order, sizes and channels. The data set is named
/// `folder`.
pub fn load_folder(dir: &Path, opts: &FolderOptions) -> Result<Dataset> {
    let square = match opts.image_size {
        Some(0) => return Err(Error::arg("image size", "must be at least 1")),
        Some(s) => Some(
            u32::try_from(s).map_err(|_| Error::arg("image size", format!("{s} is too large")))?,
        ),
        None => None,
    };
    if !dir.is_dir() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            expected: "a folder with one subfolder per class, or with train/ and val/ or test/ \
                       split folders"
                .into(),
        });
    }

    let layout = Layout::detect(dir)?;
    let classes = layout.classes()?;
    let train = match &layout.train {
        Some(d) => Some(scan_split(d, &classes, true)?),
        None => None,
    };
    let test = match &layout.test {
        Some(d) => Some(scan_split(d, &classes, false)?),
        None => None,
    };

    let all: Vec<&ImageFile> = train.iter().chain(test.iter()).flatten().collect();
    let plan = Plan::from_headers(&all, square)?;
    let classes: Arc<[String]> = classes.into();
    let build = |files: Vec<ImageFile>| -> Result<ImageSet> {
        let pixels = decode_all(&files, &plan)?;
        let labels = files.iter().map(|f| f.label).collect();
        ImageSet::new(pixels, plan.shape(), labels, classes.clone())
    };
    Ok(Dataset {
        name: "folder".into(),
        train: train.map(build).transpose()?,
        test: test.map(build).transpose()?,
    })
}

struct Layout {
    /// The folder holding the training (or only) split.
    train: Option<PathBuf>,
    test: Option<PathBuf>,
}

impl Layout {
    fn detect(dir: &Path) -> Result<Layout> {
        let subdirs = subfolders(dir)?;
        let is_split = |n: &str| matches!(n, "train" | "val" | "test");
        if !subdirs.iter().any(|n| is_split(n)) {
            if subdirs.is_empty() {
                let has_images = image_files(dir)?.next().is_some();
                let hint = if has_images {
                    "holds images but no class folders: put the images of each class in a \
                     subfolder named after the class"
                } else {
                    "has no class folders (expected one subfolder of jpg/jpeg/png images per \
                     class, or train/ and val/ or test/ split folders)"
                };
                return Err(Error::format(dir, hint));
            }
            return Ok(Layout {
                train: Some(dir.to_path_buf()),
                test: None,
            });
        }
        if let Some(other) = subdirs.iter().find(|n| !is_split(n)) {
            return Err(Error::format(
                dir,
                format!(
                    "has split folders (train/, val/ or test/) next to `{other}/`: class folders \
                     belong inside the split folders"
                ),
            ));
        }
        let has = |n: &str| subdirs.iter().any(|s| s == n);
        if has("val") && has("test") {
            return Err(Error::format(
                dir,
                "has both val/ and test/: keep one (val/ is used as the test split)",
            ));
        }
        let test = ["val", "test"].into_iter().find(|n| has(n));
        Ok(Layout {
            train: has("train").then(|| dir.join("train")),
            test: test.map(|n| dir.join(n)),
        })
    }

    /// The class names, identical in both splits.
    fn classes(&self) -> Result<Vec<String>> {
        let mut found: Option<(Vec<String>, &Path)> = None;
        for split in self.train.iter().chain(self.test.iter()) {
            let names = subfolders(split)?;
            if names.is_empty() {
                return Err(Error::format(
                    split,
                    "has no class folders (expected one subfolder of jpg/jpeg/png images per \
                     class)",
                ));
            }
            if let Some((first, first_dir)) = &found {
                if let Some(c) = first.iter().find(|c| !names.contains(c)) {
                    return Err(missing_class(split, first_dir, c));
                }
                if let Some(c) = names.iter().find(|c| !first.contains(c)) {
                    return Err(missing_class(first_dir, split, c));
                }
            } else {
                found = Some((names, split));
            }
        }
        Ok(found.map(|(names, _)| names).unwrap_or_default())
    }
}

fn missing_class(lacking: &Path, having: &Path, class: &str) -> Error {
    Error::Mismatch {
        path: lacking.to_path_buf(),
        other: having.to_path_buf(),
        problem: format!(
            "class folder `{class}` exists only in {}: both splits need the same class folders \
             (an empty folder is fine in the test split)",
            having.display()
        ),
    }
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Sorted names of the non-hidden subfolders of `dir` (following links).
fn subfolders(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if is_hidden(&name) || !entry.path().is_dir() {
            continue;
        }
        let name = name.into_string().map_err(|n| {
            Error::format(
                dir.join(&n),
                "folder name is not valid UTF-8 (it would be a class name)",
            )
        })?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// The image files directly in `dir`, unsorted.
fn image_files(dir: &Path) -> Result<impl Iterator<Item = PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let wanted = !is_hidden(&entry.file_name())
            && path.extension().and_then(OsStr::to_str).is_some_and(|e| {
                ["jpg", "jpeg", "png"]
                    .iter()
                    .any(|x| e.eq_ignore_ascii_case(x))
            })
            && path.is_file();
        if wanted {
            files.push(path);
        }
    }
    Ok(files.into_iter())
}

struct ImageFile {
    path: PathBuf,
    label: u32,
}

fn scan_split(split: &Path, classes: &[String], require_images: bool) -> Result<Vec<ImageFile>> {
    let mut per_class = Vec::with_capacity(classes.len());
    for (label, class) in classes.iter().enumerate() {
        let dir = split.join(class);
        let mut files: Vec<PathBuf> = image_files(&dir)?.collect();
        if files.is_empty() && require_images {
            return Err(Error::format(
                &dir,
                "class folder holds no image (.jpg, .jpeg or .png)",
            ));
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        let label = u32::try_from(label).map_err(|_| Error::format(split, "too many classes"))?;
        per_class.push(files.into_iter().map(move |path| ImageFile { path, label }));
    }
    let mut out = Vec::new();
    loop {
        let before = out.len();
        out.extend(per_class.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            break;
        }
    }
    if out.is_empty() {
        return Err(Error::format(
            split,
            "holds no image (.jpg, .jpeg or .png) in any class folder",
        ));
    }
    Ok(out)
}

/// How every image is turned into `[C, H, W]` bytes.
struct Plan {
    channels: usize,
    size: Size,
}

#[derive(Clone, Copy)]
enum Size {
    /// Keep the images as they are: all are `width x height`.
    Native { width: u32, height: u32 },
    /// Shorter side to `S`, then the central `S x S` square.
    Square(u32),
}

impl Plan {
    /// Decides size and channels from the headers alone (no pixel decoding).
    fn from_headers(files: &[&ImageFile], square: Option<u32>) -> Result<Plan> {
        let mut gray = true;
        let mut common: Option<(u32, u32)> = None;
        let mut same = true;
        for f in files {
            let (dims, color) = probe(&f.path)?;
            gray &= !color.has_color();
            match common {
                None => common = Some(dims),
                Some(c) => same &= c == dims,
            }
        }
        let size = match (square, common) {
            (Some(s), _) => Size::Square(s),
            (None, Some((width, height))) if same => Size::Native { width, height },
            (None, _) => Size::Square(DEFAULT_IMAGE_SIZE as u32),
        };
        Ok(Plan {
            channels: if gray { 1 } else { 3 },
            size,
        })
    }

    fn shape(&self) -> [usize; 3] {
        match self.size {
            Size::Native { width, height } => [self.channels, height as usize, width as usize],
            Size::Square(s) => [self.channels, s as usize, s as usize],
        }
    }
}

fn cannot_decode(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("cannot decode: {e}"))
}

fn open(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| Error::io(path, e))
}

fn probe(path: &Path) -> Result<((u32, u32), image::ColorType)> {
    let decoder = open(path)?
        .into_decoder()
        .map_err(|e| cannot_decode(path, e))?;
    Ok((decoder.dimensions(), decoder.color_type()))
}

/// Decodes `files` in order into NCHW bytes, spreading the work over the
/// available cores (decoding dominates the loading time of JPEG trees).
fn decode_all(files: &[ImageFile], plan: &Plan) -> Result<Vec<u8>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len())
        .max(1);
    let chunk = files.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    for f in part {
                        out.extend(decode(&f.path, plan)?);
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut pixels = Vec::with_capacity(files.len() * plan.shape().iter().product::<usize>());
    for part in parts {
        pixels.extend(part?);
    }
    Ok(pixels)
}

/// One image as `[C, H, W]` bytes.
fn decode(path: &Path, plan: &Plan) -> Result<Vec<u8>> {
    let img = open(path)?.decode().map_err(|e| cannot_decode(path, e))?;
    if plan.channels == 1 {
        let g = fit(img.to_luma8(), plan.size, path)?;
        Ok(g.into_raw())
    } else {
        let rgb = fit(img.to_rgb8(), plan.size, path)?;
        let (w, h) = rgb.dimensions();
        let plane = w as usize * h as usize;
        let mut chw = vec![0u8; 3 * plane];
        for (i, px) in rgb.pixels().enumerate() {
            for (c, &v) in px.0.iter().enumerate() {
                chw[c * plane + i] = v;
            }
        }
        Ok(chw)
    }
}

type Buffer<P> = ImageBuffer<P, Vec<<P as Pixel>::Subpixel>>;

fn fit<P: Pixel + 'static>(img: Buffer<P>, size: Size, path: &Path) -> Result<Buffer<P>> {
    let (w, h) = img.dimensions();
    match size {
        Size::Native { width, height } => {
            if (w, h) != (width, height) {
                return Err(Error::format(
                    path,
                    format!("decoded as {w}x{h}, but its header said {width}x{height}"),
                ));
            }
            Ok(img)
        }
        Size::Square(s) if (w, h) == (s, s) => Ok(img),
        Size::Square(s) => {
            let (nw, nh) = shorter_side_to(w, h, s);
            let resized = if (nw, nh) == (w, h) {
                img
            } else {
                imageops::resize(&img, nw, nh, FilterType::Triangle)
            };
            let x = (nw - s) / 2;
            let y = (nh - s) / 2;
            Ok(imageops::crop_imm(&resized, x, y, s, s).to_image())
        }
    }
}

/// The size with the shorter side `s` and the aspect ratio kept (rounded,
/// never below `s`).
fn shorter_side_to(w: u32, h: u32, s: u32) -> (u32, u32) {
    let scale = |long: u32, short: u32| -> u32 {
        let v = (u64::from(long) * u64::from(s) + u64::from(short) / 2) / u64::from(short);
        u32::try_from(v).unwrap_or(u32::MAX).max(s)
    };
    if w <= h {
        (s, scale(h, w))
    } else {
        (scale(w, h), s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::tests::shared_data;
    use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
    use tempfile::TempDir;

    fn mkdir(p: &Path) {
        std::fs::create_dir_all(p).unwrap();
    }

    fn rgb(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb(f(x, y)))
    }

    fn gray(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| Luma([f(x, y)]))
    }

    fn opts(s: Option<usize>) -> FolderOptions {
        FolderOptions { image_size: s }
    }

    #[test]
    fn class_folders_give_sorted_classes_labels_and_exact_pixels() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        for c in ["dog", "cat", "bird"] {
            mkdir(&d.join(c));
        }
        rgb(2, 2, |x, y| [x as u8, y as u8, 7])
            .save(d.join("cat/b.png"))
            .unwrap();
        rgb(2, 2, |_, _| [10, 20, 30])
            .save(d.join("cat/a.PNG"))
            .unwrap();
        rgb(2, 2, |x, _| [200, 100, x as u8 * 50])
            .save(d.join("dog/z.png"))
            .unwrap();
        RgbaImage::from_fn(2, 2, |_, _| Rgba([1, 2, 3, 0]))
            .save(d.join("bird/x.png"))
            .unwrap();
        std::fs::write(d.join("cat/.hidden.png"), b"not an image").unwrap();
        std::fs::write(d.join("cat/notes.txt"), b"skip me").unwrap();
        mkdir(&d.join(".git"));

        let ds = load_folder(d, &opts(None)).unwrap();
        assert_eq!(ds.name, "folder");
        assert!(ds.test.is_none());
        let set = ds.train.unwrap();
        assert_eq!(set.classes(), ["bird", "cat", "dog"]);
        // Interleaved: bird/x, cat/a, dog/z, then cat/b.
        assert_eq!(set.labels(), [0, 1, 2, 1]);
        assert_eq!(set.image_shape(), [3, 2, 2]);
        assert_eq!(set.image(0).unwrap(), [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        assert_eq!(
            set.image(1).unwrap(),
            [10, 10, 10, 10, 20, 20, 20, 20, 30, 30, 30, 30]
        );
        assert_eq!(
            set.image(2).unwrap(),
            [200, 200, 200, 200, 100, 100, 100, 100, 0, 50, 0, 50]
        );
        assert_eq!(set.image(3).unwrap(), [0, 1, 0, 1, 0, 0, 1, 1, 7, 7, 7, 7]);
    }

    #[test]
    fn every_prefix_holds_the_classes_about_equally() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        // Classes of 5, 3 and 1 images.
        for (c, n) in [("a", 5), ("b", 3), ("c", 1)] {
            mkdir(&d.join(c));
            for i in 0..n {
                gray(2, 2, |_, _| i as u8)
                    .save(d.join(c).join(format!("{i}.png")))
                    .unwrap();
            }
        }
        let set = load_folder(d, &opts(None)).unwrap().train.unwrap();
        assert_eq!(set.labels(), [0, 1, 2, 0, 1, 0, 1, 0, 0]);
        assert_eq!(set.label_counts(), [5, 3, 1]);
        // Within a class, file-name order is kept.
        let firsts: Vec<u8> = (0..set.len())
            .filter(|&i| set.labels()[i] == 0)
            .map(|i| set.image(i).unwrap()[0])
            .collect();
        assert_eq!(firsts, [0, 1, 2, 3, 4]);
        // A prefix of 3 holds one of each class.
        assert_eq!(set.take(3).label_counts(), [1, 1, 1]);
    }

    #[test]
    fn split_folders_share_classes_and_val_is_test() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        for s in ["train", "val"] {
            for c in ["a", "b"] {
                mkdir(&d.join(s).join(c));
            }
        }
        gray(3, 2, |x, _| x as u8)
            .save(d.join("train/a/1.png"))
            .unwrap();
        gray(3, 2, |_, y| y as u8)
            .save(d.join("train/b/1.png"))
            .unwrap();
        gray(3, 2, |_, _| 9).save(d.join("train/b/2.png")).unwrap();
        gray(3, 2, |_, _| 5).save(d.join("val/b/1.png")).unwrap();

        let ds = load_folder(d, &opts(None)).unwrap();
        let (train, test) = (ds.train.unwrap(), ds.test.unwrap());
        assert_eq!(train.classes(), ["a", "b"]);
        assert_eq!(test.classes(), ["a", "b"]);
        assert_eq!(train.labels(), [0, 1, 1]);
        assert_eq!(
            test.labels(),
            [1],
            "an empty class folder is accepted in val/"
        );
        assert_eq!(train.image_shape(), [1, 2, 3]);
        assert_eq!(train.image(0).unwrap(), [0, 1, 2, 0, 1, 2]);
        assert_eq!(train.image(1).unwrap(), [0, 0, 0, 1, 1, 1]);
        assert_eq!(test.image(0).unwrap(), [5; 6]);

        mkdir(&d.join("val/c"));
        let err = load_folder(d, &opts(None)).unwrap_err().to_string();
        assert!(err.contains("`c`") && err.contains("train"), "{err}");
        std::fs::remove_dir(d.join("val/c")).unwrap();

        mkdir(&d.join("train/c"));
        let err = load_folder(d, &opts(None)).unwrap_err().to_string();
        assert!(err.contains("`c`") && err.contains("val"), "{err}");
        gray(3, 2, |_, _| 0).save(d.join("train/c/1.png")).unwrap();
        mkdir(&d.join("val/c"));
        assert_eq!(
            load_folder(d, &opts(None)).unwrap().classes(),
            ["a", "b", "c"]
        );

        mkdir(&d.join("test/a"));
        let err = load_folder(d, &opts(None)).unwrap_err().to_string();
        assert!(err.contains("both val/ and test/"), "{err}");
        std::fs::remove_dir_all(d.join("test")).unwrap();
        mkdir(&d.join("extra"));
        let err = load_folder(d, &opts(None)).unwrap_err().to_string();
        assert!(err.contains("`extra/`"), "{err}");
    }

    #[test]
    fn test_split_alone_and_empty_training_class() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        mkdir(&d.join("test/x"));
        mkdir(&d.join("test/y"));
        gray(1, 1, |_, _| 3).save(d.join("test/y/1.png")).unwrap();
        let ds = load_folder(d, &opts(None)).unwrap();
        assert!(ds.train.is_none());
        assert_eq!(ds.test.as_ref().unwrap().labels(), [1]);

        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        mkdir(&d.join("x"));
        mkdir(&d.join("y"));
        gray(1, 1, |_, _| 3).save(d.join("y/1.png")).unwrap();
        let err = load_folder(d, &opts(None)).unwrap_err().to_string();
        assert!(
            err.contains("class folder holds no image") && err.contains('x'),
            "{err}"
        );
    }

    #[test]
    fn flat_or_missing_folders_are_explained() {
        let tmp = TempDir::new().unwrap();
        gray(1, 1, |_, _| 0).save(tmp.path().join("a.png")).unwrap();
        let err = load_folder(tmp.path(), &opts(None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no class folders"), "{err}");
        let err = load_folder(&tmp.path().join("nope"), &opts(None)).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }), "{err}");
        assert!(load_folder(tmp.path(), &opts(Some(0))).is_err());
    }

    #[test]
    fn channels_are_one_only_when_every_image_is_gray() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        mkdir(&d.join("a"));
        gray(2, 1, |x, _| 40 + x as u8)
            .save(d.join("a/1.png"))
            .unwrap();
        image::GrayAlphaImage::from_fn(2, 1, |_, _| image::LumaA([90, 10]))
            .save(d.join("a/2.png"))
            .unwrap();
        let set = load_folder(d, &opts(None)).unwrap().train.unwrap();
        assert_eq!(set.image_shape(), [1, 1, 2]);
        assert_eq!(set.pixels(), [40, 41, 90, 90]);

        rgb(2, 1, |_, _| [1, 2, 3]).save(d.join("a/3.png")).unwrap();
        let set = load_folder(d, &opts(None)).unwrap().train.unwrap();
        assert_eq!(set.image_shape(), [3, 1, 2]);
        assert_eq!(set.image(0).unwrap(), [40, 41, 40, 41, 40, 41]);
        assert_eq!(set.image(1).unwrap(), [90; 6]);
        assert_eq!(set.image(2).unwrap(), [1, 1, 2, 2, 3, 3]);
    }

    #[test]
    fn resize_shorter_side_then_centre_crop() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        mkdir(&d.join("a"));
        // 12x4, three vertical bands: the shorter side is already 4, so the
        // crop alone decides, and must keep exactly the green middle band.
        rgb(12, 4, |x, _| match x / 4 {
            0 => [255, 0, 0],
            1 => [0, 255, 0],
            _ => [0, 0, 255],
        })
        .save(d.join("a/1.png"))
        .unwrap();
        let set = load_folder(d, &opts(Some(4))).unwrap().train.unwrap();
        assert_eq!(set.image_shape(), [3, 4, 4]);
        let img = set.image(0).unwrap();
        assert!(img[..16].iter().all(|&v| v == 0));
        assert!(img[16..32].iter().all(|&v| v == 255));
        assert!(img[32..].iter().all(|&v| v == 0));

        // 8x16, top half black, bottom half white, to S = 4: resized to
        // 4x8, then rows 2..6 are kept. Row 2 only sees black input rows,
        // row 5 only white ones, rows 3 and 4 straddle the edge.
        std::fs::remove_file(d.join("a/1.png")).unwrap();
        gray(8, 16, |_, y| if y < 8 { 0 } else { 255 })
            .save(d.join("a/1.png"))
            .unwrap();
        let set = load_folder(d, &opts(Some(4))).unwrap().train.unwrap();
        assert_eq!(set.image_shape(), [1, 4, 4]);
        let rows: Vec<&[u8]> = set.image(0).unwrap().chunks(4).collect();
        assert_eq!(rows[0], [0; 4]);
        assert_eq!(rows[3], [255; 4]);
        for r in &rows[1..3] {
            assert!(r.iter().all(|&v| v == r[0]), "{rows:?}");
        }
        assert!(
            0 < rows[1][0] && rows[1][0] < rows[2][0] && rows[2][0] < 255,
            "{rows:?}"
        );
    }

    #[test]
    fn differing_sizes_default_to_224_squares() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        mkdir(&d.join("a"));
        gray(3, 5, |_, _| 100).save(d.join("a/1.png")).unwrap();
        gray(5, 3, |_, _| 100).save(d.join("a/2.png")).unwrap();
        let set = load_folder(d, &opts(None)).unwrap().train.unwrap();
        assert_eq!(set.image_shape(), [1, 224, 224]);
        assert!(set.pixels().iter().all(|&v| v == 100));
    }

    #[test]
    fn corrupt_image_error_names_the_file() {
        let tmp = TempDir::new().unwrap();
        let d = tmp.path();
        mkdir(&d.join("a"));
        gray(2, 2, |_, _| 0).save(d.join("a/1.png")).unwrap();
        std::fs::write(d.join("a/2.jpg"), b"\xff\xd8\xff garbage").unwrap();
        let err = load_folder(d, &opts(None)).unwrap_err().to_string();
        assert!(err.contains("2.jpg: cannot decode"), "{err}");

        // A valid header with a truncated body fails at decoding time.
        let mut png = Vec::new();
        gray(64, 64, |x, y| (x * y) as u8)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        std::fs::write(d.join("a/2.jpg"), &png[..png.len() / 2]).unwrap();
        let err = load_folder(d, &opts(Some(2))).unwrap_err().to_string();
        assert!(err.contains("2.jpg: cannot decode"), "{err}");
    }

    #[test]
    fn shorter_side_keeps_aspect() {
        assert_eq!(shorter_side_to(500, 375, 224), (299, 224));
        assert_eq!(shorter_side_to(375, 500, 224), (224, 299));
        assert_eq!(shorter_side_to(4, 8, 4), (4, 8));
        assert_eq!(shorter_side_to(1000, 1, 2), (2000, 2));
    }

    #[test]
    #[ignore = "needs ../shared (run with --include-ignored)"]
    fn real_imagenet_jpegs_including_grayscale() {
        let src = shared_data().join("imagenet-sample/images");
        let entries = std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let mut all: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        all.sort();
        let gray: Vec<&PathBuf> = all
            .iter()
            .filter(|p| !probe(p).unwrap().1.has_color())
            .collect();
        assert_eq!(gray.len(), 3, "SOURCE.md lists 3 grayscale JPEGs");
        let mut picked: Vec<&PathBuf> = vec![gray[0]];
        picked.extend(all.iter().filter(|p| !gray.contains(p)).take(9));

        let tmp = TempDir::new().unwrap();
        for (i, p) in picked.iter().enumerate() {
            let class = tmp.path().join(format!("class{}", i % 3));
            mkdir(&class);
            std::fs::copy(p, class.join(p.file_name().unwrap())).unwrap();
        }
        let set = load_folder(tmp.path(), &opts(Some(64)))
            .unwrap()
            .train
            .unwrap();
        assert_eq!(set.len(), 10);
        assert_eq!(set.image_shape(), [3, 64, 64]);
        assert_eq!(set.label_counts(), [4, 3, 3]);
        // The grayscale JPEG is replicated to RGB, and is the only image
        // whose three planes are equal.
        let plane = 64 * 64;
        let is_gray = |i: usize| {
            let g = set.image(i).unwrap();
            g[..plane] == g[plane..2 * plane] && g[..plane] == g[2 * plane..]
        };
        let mut class0: Vec<&OsStr> = picked
            .iter()
            .step_by(3)
            .map(|p| p.file_name().unwrap())
            .collect();
        class0.sort();
        let within = class0
            .iter()
            .position(|n| *n == gray[0].file_name().unwrap())
            .unwrap();
        // Its position in the interleaved order: the within-th image of class 0.
        let at = (0..set.len())
            .filter(|&i| set.labels()[i] == 0)
            .nth(within)
            .unwrap();
        assert!(is_gray(at), "image {at} is not gray");
        assert_eq!((0..10).filter(|&i| is_gray(i)).count(), 1);
        let g = &set.image(at).unwrap()[..plane];
        assert!(g.iter().any(|&v| v != g[0]), "blank image");
    }

    #[test]
    #[ignore = "needs ../shared (run with --include-ignored)"]
    fn real_mnist_pngs_stay_one_channel_28x28() {
        let src = shared_data().join("foolbox-samples");
        assert!(src.is_dir(), "{} not found", src.display());
        let tmp = TempDir::new().unwrap();
        for i in 0..4 {
            for prefix in ["mnist", "fashionMNIST"] {
                let name = std::fs::read_dir(&src)
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .find(|n| n.starts_with(&format!("{prefix}_{i:02}_")))
                    .unwrap();
                let class = tmp.path().join(prefix);
                mkdir(&class);
                std::fs::copy(src.join(&name), class.join(&name)).unwrap();
            }
        }
        let set = load_folder(tmp.path(), &opts(None)).unwrap().train.unwrap();
        assert_eq!(set.classes(), ["fashionMNIST", "mnist"]);
        assert_eq!(set.image_shape(), [1, 28, 28]);
        assert_eq!(set.label_counts(), [4, 4]);
    }
}
