//! CIFAR-10 and CIFAR-100, "binary version" (Krizhevsky 2009,
//! <https://www.cs.toronto.edu/~kriz/cifar.html>).
//!
//! A batch file is a plain sequence of fixed-size records: the label byte(s)
//! then 3072 pixel bytes, the red, green and blue 32x32 planes one after the
//! other, each row-major. That is already CHW, so the pixels are copied as
//! they are. CIFAR-10 records carry one label byte (3073 bytes a record),
//! CIFAR-100 records a coarse then a fine label byte (3074 bytes).

use crate::{Dataset, Error, ImageSet, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes of one 3x32x32 image.
const IMAGE_BYTES: usize = 3 * 32 * 32;

/// The CIFAR-10 class names in label order (as in `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The 100 CIFAR-100 fine class names in label order (as in
/// `fine_label_names.txt`).
pub const CIFAR100_FINE_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

/// The 20 CIFAR-100 superclass names in label order (as in
/// `coarse_label_names.txt`).
pub const CIFAR100_COARSE_CLASSES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

/// Which CIFAR-100 label becomes the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar100Labels {
    /// The 100 fine classes.
    Fine,
    /// The 20 superclasses.
    Coarse,
}

/// A label byte of a record: its name (for messages) and the number of
/// classes it indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelField {
    /// E.g. `"label"`, `"coarse label"`.
    pub name: &'static str,
    /// Valid values are `0..classes`.
    pub classes: usize,
}

const CIFAR10_LABELS: [LabelField; 1] = [LabelField {
    name: "label",
    classes: 10,
}];
const CIFAR100_LABELS: [LabelField; 2] = [
    LabelField {
        name: "coarse label",
        classes: 20,
    },
    LabelField {
        name: "fine label",
        classes: 100,
    },
];

/// Loads CIFAR-10 from `cifar-10-batches-bin` (the folder itself or a parent
/// that contains it): train = the `data_batch_1.bin` .. `data_batch_5.bin`
/// present, in order; test = `test_batch.bin`. Class names come from
/// `batches.meta.txt` when present.
pub fn load_cifar10_dir(dir: &Path) -> Result<Dataset> {
    let dir = resolve(dir, "cifar-10-batches-bin");
    let classes = class_names(&dir.join("batches.meta.txt"), &CIFAR10_CLASSES)?;
    let train: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .filter(|p| p.is_file())
        .collect();
    let test = dir.join("test_batch.bin");
    let test: Vec<PathBuf> = test.is_file().then_some(test).into_iter().collect();
    if train.is_empty() && test.is_empty() {
        return Err(Error::Missing {
            path: dir,
            expected: "CIFAR-10 binary batches: data_batch_1.bin .. data_batch_5.bin and/or \
                       test_batch.bin (the cifar-10-batches-bin folder or its parent)"
                .into(),
        });
    }
    Ok(Dataset {
        name: "cifar10".into(),
        train: load_split(&train, &CIFAR10_LABELS, 0, &classes)?,
        test: load_split(&test, &CIFAR10_LABELS, 0, &classes)?,
    })
}

/// Loads CIFAR-100 from `cifar-100-binary` (the folder itself or a parent
/// that contains it): `train.bin` and `test.bin`, with the fine or coarse
/// label as the class. Class names come from `fine_label_names.txt` /
/// `coarse_label_names.txt` when present. Both label bytes are validated
/// whichever is used. The data set is named `cifar100` or `cifar100-coarse`.
pub fn load_cifar100_dir(dir: &Path, labels: Cifar100Labels) -> Result<Dataset> {
    let dir = resolve(dir, "cifar-100-binary");
    let (name, index, classes) = match labels {
        Cifar100Labels::Fine => (
            "cifar100",
            1,
            class_names(&dir.join("fine_label_names.txt"), &CIFAR100_FINE_CLASSES)?,
        ),
        Cifar100Labels::Coarse => (
            "cifar100-coarse",
            0,
            class_names(
                &dir.join("coarse_label_names.txt"),
                &CIFAR100_COARSE_CLASSES,
            )?,
        ),
    };
    let split = |file: &str| {
        let path = dir.join(file);
        path.is_file()
            .then_some(path)
            .into_iter()
            .collect::<Vec<_>>()
    };
    let (train, test) = (split("train.bin"), split("test.bin"));
    if train.is_empty() && test.is_empty() {
        return Err(Error::Missing {
            path: dir,
            expected: "CIFAR-100 binary files: train.bin and/or test.bin \
                       (the cifar-100-binary folder or its parent)"
                .into(),
        });
    }
    Ok(Dataset {
        name: name.into(),
        train: load_split(&train, &CIFAR100_LABELS, index, &classes)?,
        test: load_split(&test, &CIFAR100_LABELS, index, &classes)?,
    })
}

/// Splits the content of a CIFAR batch file (`path` is for messages) into
/// CHW pixels and the labels of field `label_index`.
///
/// Each record is `fields.len()` label bytes then 3072 pixel bytes; every
/// label byte is checked against its field's class count.
pub fn parse_cifar_records(
    path: &Path,
    bytes: &[u8],
    fields: &[LabelField],
    label_index: usize,
) -> Result<(Vec<u8>, Vec<u32>)> {
    if label_index >= fields.len() {
        return Err(Error::arg(
            "label index",
            format!("{label_index} with {} label bytes per record", fields.len()),
        ));
    }
    let record = fields.len() + IMAGE_BYTES;
    if bytes.len() % record != 0 {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} bytes is not a multiple of the {record}-byte record",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let (head, image) = rec.split_at(fields.len());
        for (field, &value) in fields.iter().zip(head) {
            if usize::from(value) >= field.classes {
                return Err(Error::format(
                    path,
                    format!(
                        "record {i}: {} {value} is not below {}",
                        field.name, field.classes
                    ),
                ));
            }
        }
        labels.push(u32::from(head[label_index]));
        pixels.extend_from_slice(image);
    }
    Ok((pixels, labels))
}

fn resolve(dir: &Path, sub: &str) -> PathBuf {
    let inner = dir.join(sub);
    if inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}

/// The non-empty lines of `path` when it exists, else `defaults`. The count
/// must match, since labels are validated against the format's class count.
fn class_names(path: &Path, defaults: &[&str]) -> Result<Arc<[String]>> {
    if !path.is_file() {
        return Ok(defaults.iter().map(|s| s.to_string()).collect());
    }
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != defaults.len() {
        return Err(Error::format(
            path,
            format!(
                "expected {} class names (one per line), found {}",
                defaults.len(),
                names.len()
            ),
        ));
    }
    Ok(names.into())
}

fn load_split(
    files: &[PathBuf],
    fields: &[LabelField],
    label_index: usize,
    classes: &Arc<[String]>,
) -> Result<Option<ImageSet>> {
    if files.is_empty() {
        return Ok(None);
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        let (p, l) = parse_cifar_records(path, &bytes, fields, label_index)?;
        if pixels.is_empty() {
            pixels = p;
        } else {
            pixels.extend_from_slice(&p);
        }
        labels.extend(l);
    }
    Ok(Some(ImageSet::new(
        pixels,
        [3, 32, 32],
        labels,
        classes.clone(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::tests::shared_data;
    use proptest::prelude::*;
    use tempfile::TempDir;

    /// A deterministic image whose planes and rows all differ.
    fn image(seed: usize) -> Vec<u8> {
        (0..IMAGE_BYTES)
            .map(|i| ((i * 13 + seed * 101) % 256) as u8)
            .collect()
    }

    fn records(labels: &[&[u8]], seed: usize) -> (Vec<u8>, Vec<u8>) {
        let mut file = Vec::new();
        let mut pixels = Vec::new();
        for (k, l) in labels.iter().enumerate() {
            file.extend_from_slice(l);
            let img = image(seed + k);
            file.extend_from_slice(&img);
            pixels.extend_from_slice(&img);
        }
        (file, pixels)
    }

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn cifar10_round_trip_with_gap_parent_dir_and_meta() {
        let root = TempDir::new().unwrap();
        let dir = root.path().join("cifar-10-batches-bin");
        fs::create_dir(&dir).unwrap();
        let (b1, p1) = records(&[&[0], &[9], &[3]], 0);
        let (b3, p3) = records(&[&[5]], 10);
        let (bt, pt) = records(&[&[7], &[1]], 20);
        fs::write(dir.join("data_batch_1.bin"), &b1).unwrap();
        fs::write(dir.join("data_batch_3.bin"), &b3).unwrap();
        fs::write(dir.join("test_batch.bin"), &bt).unwrap();

        for d in [root.path(), dir.as_path()] {
            let ds = load_cifar10_dir(d).unwrap();
            assert_eq!(ds.name, "cifar10");
            let train = ds.train.as_ref().unwrap();
            assert_eq!(train.image_shape(), [3, 32, 32]);
            assert_eq!(train.labels(), &[0, 9, 3, 5]);
            assert_eq!(train.pixels(), &[p1.clone(), p3.clone()].concat()[..]);
            let test = ds.test.as_ref().unwrap();
            assert_eq!(test.labels(), &[7, 1]);
            assert_eq!(test.pixels(), &pt[..]);
            assert_eq!(ds.classes(), &CIFAR10_CLASSES.map(String::from)[..]);
        }
        // The R plane's row 0 col 1 is record byte 1 + 1.
        let ds = load_cifar10_dir(root.path()).unwrap();
        let img = ds.train.as_ref().unwrap().image(0).unwrap();
        assert_eq!(img[1], b1[2]);
        assert_eq!(img[1024 + 32], b1[1 + 1024 + 32]);

        fs::write(
            dir.join("batches.meta.txt"),
            "a\nb\n\nc\nd\ne\nf\ng\nh\ni\nj\n\n",
        )
        .unwrap();
        let ds = load_cifar10_dir(root.path()).unwrap();
        assert_eq!(ds.classes()[2], "c");
        assert_eq!(ds.classes().len(), 10);
        fs::write(dir.join("batches.meta.txt"), "a\nb\n").unwrap();
        let msg = err_text(load_cifar10_dir(root.path()));
        assert!(
            msg.contains("batches.meta.txt") && msg.contains("class names"),
            "{msg}"
        );
    }

    #[test]
    fn cifar100_fine_and_coarse() {
        let root = TempDir::new().unwrap();
        let dir = root.path().join("cifar-100-binary");
        fs::create_dir(&dir).unwrap();
        let (train, p) = records(&[&[19, 99], &[0, 0], &[4, 52]], 3);
        fs::write(dir.join("train.bin"), &train).unwrap();
        let fine = load_cifar100_dir(root.path(), Cifar100Labels::Fine).unwrap();
        assert_eq!(fine.name, "cifar100");
        assert!(fine.test.is_none());
        let t = fine.train.as_ref().unwrap();
        assert_eq!(t.labels(), &[99, 0, 52]);
        assert_eq!(t.pixels(), &p[..]);
        assert_eq!(fine.classes().len(), 100);
        assert_eq!(fine.classes()[99], "worm");
        assert_eq!(fine.classes()[49], "mountain");
        let coarse = load_cifar100_dir(&dir, Cifar100Labels::Coarse).unwrap();
        assert_eq!(coarse.name, "cifar100-coarse");
        assert_eq!(coarse.train.as_ref().unwrap().labels(), &[19, 0, 4]);
        assert_eq!(coarse.classes().len(), 20);
        assert_eq!(coarse.classes()[19], "vehicles_2");

        let names: String = (0..20).map(|i| format!("super{i}\r\n")).collect();
        fs::write(dir.join("coarse_label_names.txt"), names).unwrap();
        let coarse = load_cifar100_dir(&dir, Cifar100Labels::Coarse).unwrap();
        assert_eq!(coarse.classes()[3], "super3");

        let (bad, _) = records(&[&[1, 2], &[20, 5]], 0);
        fs::write(dir.join("test.bin"), &bad).unwrap();
        let msg = err_text(load_cifar100_dir(&dir, Cifar100Labels::Fine));
        assert!(
            msg.contains("test.bin") && msg.contains("record 1") && msg.contains("coarse label 20"),
            "{msg}"
        );
        let (bad, _) = records(&[&[1, 100]], 0);
        fs::write(dir.join("test.bin"), &bad).unwrap();
        let msg = err_text(load_cifar100_dir(&dir, Cifar100Labels::Coarse));
        assert!(
            msg.contains("test.bin") && msg.contains("record 0") && msg.contains("fine label 100"),
            "{msg}"
        );
    }

    #[test]
    fn bad_files_are_named() {
        let dir = TempDir::new().unwrap();
        let err = load_cifar10_dir(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }), "{err}");
        assert!(err.to_string().contains("test_batch.bin"));
        assert!(matches!(
            load_cifar100_dir(dir.path(), Cifar100Labels::Fine).unwrap_err(),
            Error::Missing { .. }
        ));

        let (mut b, _) = records(&[&[1], &[2]], 0);
        b.pop();
        fs::write(dir.path().join("data_batch_2.bin"), &b).unwrap();
        let msg = err_text(load_cifar10_dir(dir.path()));
        assert!(msg.contains("data_batch_2.bin"), "{msg}");
        assert!(
            msg.contains("truncated: 6145 bytes is not a multiple of the 3073-byte record"),
            "{msg}"
        );

        let (b, _) = records(&[&[1], &[2], &[10]], 0);
        fs::write(dir.path().join("data_batch_2.bin"), &b).unwrap();
        let msg = err_text(load_cifar10_dir(dir.path()));
        assert!(
            msg.contains("data_batch_2.bin")
                && msg.contains("record 2")
                && msg.contains("label 10"),
            "{msg}"
        );
    }

    #[test]
    #[ignore = "needs ../shared (run with --include-ignored)"]
    fn real_cifar10_first20() {
        let data = shared_data();
        let ds = load_cifar10_dir(&data.join("cifar10/binary-first20")).unwrap();
        assert!(ds.train.is_none());
        let test = ds.test.as_ref().unwrap();
        assert_eq!(test.len(), 20);
        assert_eq!(
            test.labels(),
            &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]
        );
        let img0 = test.image(0).unwrap();
        assert_eq!((img0[0], img0[1024], img0[2048]), (158, 112, 49));
        let meta =
            fs::read_to_string(data.join("cifar10/binary-first20/batches.meta.txt")).unwrap();
        let names: Vec<&str> = meta.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            ds.classes(),
            &names.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]
        );
        assert_eq!(ds.classes()[3], "cat");

        // Every image agrees with foolbox's lossless PNG decoded independently.
        let samples = data.join("foolbox-samples");
        for (i, &label) in test.labels().iter().enumerate() {
            let png = samples.join(format!("cifar10_{i:02}_{label}.png"));
            let rgb = image::open(&png).unwrap().to_rgb8();
            assert_eq!(rgb.dimensions(), (32, 32));
            let hwc = rgb.into_raw();
            let chw: Vec<u8> = (0..3)
                .flat_map(|c| (0..1024).map(move |p| (c, p)))
                .map(|(c, p)| hwc[p * 3 + c])
                .collect();
            assert_eq!(test.image(i).unwrap(), &chw[..], "{}", png.display());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn parser_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            records in 0usize..3,
            hundred in any::<bool>(),
        ) {
            let path = Path::new("random.bin");
            let fields: &[LabelField] = if hundred { &CIFAR100_LABELS } else { &CIFAR10_LABELS };
            let record = fields.len() + IMAGE_BYTES;
            let mut sized = bytes.clone();
            sized.resize(records * record, 0);
            for content in [&bytes, &sized] {
                for index in 0..=fields.len() {
                    match parse_cifar_records(path, content, fields, index) {
                        Ok((p, l)) => {
                            prop_assert_eq!(p.len(), l.len() * IMAGE_BYTES);
                            prop_assert_eq!(l.len() * record, content.len());
                        }
                        Err(e) => prop_assert!(e.to_string().contains("random.bin") || index == fields.len()),
                    }
                }
            }
        }

        #[test]
        fn loader_never_panics_on_random_files(bytes in proptest::collection::vec(any::<u8>(), 0..8192)) {
            let dir = TempDir::new().unwrap();
            fs::write(dir.path().join("test_batch.bin"), &bytes).unwrap();
            fs::write(dir.path().join("test.bin"), &bytes).unwrap();
            let _ = load_cifar10_dir(dir.path());
            let _ = load_cifar100_dir(dir.path(), Cifar100Labels::Fine);
        }
    }
}
