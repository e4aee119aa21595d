//! Colorful sets: a background colour correlated with the split, the
//! spurious feature of the paper's fairness experiment (Sec. 4.7, Table 4:
//! Colorful MNIST, 95% of the training backgrounds red and 95% of the test
//! backgrounds blue).
//!
//! A share `p` of the training images gets colour A on its background and
//! the rest colour B; in the test split the share `p` gets B and the rest A.
//! Which images get which colour is a seeded permutation of each split, so
//! the shares are exact (`round(p * n)` images) and a set is the same bytes
//! on every load.
//!
//! What counts as background:
//! - a set with object masks (`shapes`): every pixel outside the mask (the
//!   flat colour replaces the texture);
//! - a gray set without masks (MNIST, Fashion-MNIST, a gray folder): pixels
//!   of intensity below [`GRAY_FOREGROUND_FROM`] (26 of 255, about 10% of
//!   the maximum). The result carries that foreground as its object mask.
//!
//! Foreground pixels keep their values: a gray stroke its intensity in
//! every channel, a shape its colours. A colour set without masks (CIFAR,
//! SVHN, colour folders) has no background notion and is an error.
//!
//! Every image's colour is its group ([`ImageSet::groups`]: group 0 is A,
//! group 1 is B), so fairness metrics can split accuracy by it, and
//! [`swap_backgrounds`] builds the counterfactual set (only the background
//! colour changed) from the mask with the same painting routine.
//!
//! ```
//! use sc_data::colorful::{colorize, ColorfulOptions};
//!
//! let data = "shapes:n=100,test=20,size=16".parse::<sc_data::DataSpec>()?.load()?;
//! let colorful = colorize(&data, &ColorfulOptions::default())?;
//! let train = colorful.train.as_ref().unwrap();
//! let groups = train.groups().unwrap();
//! assert_eq!(groups.names(), ["red", "blue"]);
//! assert_eq!(groups.of_image().iter().filter(|&&g| g == 0).count(), 95);
//! # Ok::<(), sc_data::Error>(())
//! ```

use crate::{Dataset, Error, ImageSet, Result};
use rand::seq::SliceRandom;
use sc_core::Seed;
use std::fmt;
use std::str::FromStr;

/// Gray pixels of at least this intensity (of 255) are foreground; darker
/// ones are background. 26 is about 10% of the maximum: MNIST's background
/// is 0 and its anti-aliased stroke rims fade through this range, so the
/// rim's faintest pixels become background colour.
pub const GRAY_FOREGROUND_FROM: u8 = 26;

/// An RGB colour: a name (`red`, `green`, `blue`, `yellow`, `cyan`,
/// `magenta`, `white`, `black`, `gray`, `orange`, `purple`) or `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour(pub [u8; 3]);

const NAMED: [(&str, [u8; 3]); 11] = [
    ("red", [255, 0, 0]),
    ("green", [0, 255, 0]),
    ("blue", [0, 0, 255]),
    ("yellow", [255, 255, 0]),
    ("cyan", [0, 255, 255]),
    ("magenta", [255, 0, 255]),
    ("white", [255, 255, 255]),
    ("black", [0, 0, 0]),
    ("gray", [128, 128, 128]),
    ("orange", [255, 165, 0]),
    ("purple", [128, 0, 128]),
];

impl FromStr for Colour {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some((_, rgb)) = NAMED.iter().find(|(n, _)| *n == lower) {
            return Ok(Colour(*rgb));
        }
        let bad = || {
            let names: Vec<&str> = NAMED.iter().map(|(n, _)| *n).collect();
            format!(
                "{s:?} is not a colour: expected one of {} or #rrggbb",
                names.join(", ")
            )
        };
        let hex = lower.strip_prefix('#').ok_or_else(bad)?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad());
        Ok(Colour([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl fmt::Display for Colour {
    /// The name when the colour has one, else `#rrggbb`; parses back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match NAMED.iter().find(|(_, rgb)| *rgb == self.0) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "#{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2]),
        }
    }
}

/// The options of a Colorful set (the `p`, `a` and `b` keys of
/// `colorful:SPEC,p=..,a=..,b=..`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorfulOptions {
    /// Share of training images with colour `a` (and of test images with
    /// colour `b`), in `[0, 1]`; the paper's 0.95 by default.
    pub p: f64,
    /// The majority colour of the training split (default red).
    pub a: Colour,
    /// The majority colour of the test split (default blue).
    pub b: Colour,
}

impl Default for ColorfulOptions {
    /// The paper's Colorful MNIST: 95% red training and 95% blue test backgrounds.
    fn default() -> Self {
        ColorfulOptions {
            p: 0.95,
            a: Colour([255, 0, 0]),
            b: Colour([0, 0, 255]),
        }
    }
}

impl ColorfulOptions {
    /// Checks `p` in `[0, 1]` and two different colours.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(Error::arg(
                "colorful p",
                format!("{}: expected a share in [0, 1]", self.p),
            ));
        }
        if self.a == self.b {
            return Err(Error::arg(
                "colorful colours",
                format!(
                    "a and b are both {}: expected two different colours",
                    self.a
                ),
            ));
        }
        Ok(())
    }

    /// The colours as group names, group 0 (`a`) first.
    pub fn group_names(&self) -> Vec<String> {
        vec![self.a.to_string(), self.b.to_string()]
    }
}

/// The Colorful version of both splits of `data`: the training split with
/// share `p` of colour `a`, the test split with share `p` of colour `b`.
pub fn colorize(data: &Dataset, options: &ColorfulOptions) -> Result<Dataset> {
    options.validate()?;
    let split = |set: &Option<ImageSet>, name: &str, share_a: f64| -> Result<Option<ImageSet>> {
        set.as_ref()
            .map(|s| colorize_split(s, share_a, options, Seed(0).derive(name)))
            .transpose()
    };
    Ok(Dataset {
        name: format!("colorful-{}", data.name),
        train: split(&data.train, "colorful/train", options.p)?,
        test: split(&data.test, "colorful/test", 1.0 - options.p)?,
    })
}

/// One split with `round(share_a * n)` images of colour `a` (chosen by a
/// permutation drawn from `seed`) and the rest of colour `b`.
pub fn colorize_split(
    set: &ImageSet,
    share_a: f64,
    options: &ColorfulOptions,
    seed: Seed,
) -> Result<ImageSet> {
    options.validate()?;
    let n = set.len();
    let count_a = ((share_a * n as f64).round() as usize).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut seed.stream("colours"));
    let mut group = vec![1u32; n];
    for &i in &order[..count_a] {
        group[i] = 0;
    }
    let masks = foreground_masks(set)?;
    let colours = [options.a, options.b];
    let [_, h, w] = set.image_shape();
    let mut pixels = Vec::with_capacity(n * 3 * h * w);
    for (i, &g) in group.iter().enumerate() {
        let image = set.image(i).unwrap_or_default();
        let mask = &masks[i * h * w..(i + 1) * h * w];
        pixels.extend(paint(image, set.image_shape(), mask, colours[g as usize]));
    }
    ImageSet::new(
        pixels,
        [3, h, w],
        set.labels().to_vec(),
        set.classes().to_vec(),
    )?
    .with_masks(masks)?
    .with_groups(options.group_names(), group)
}

/// The counterfactual of a Colorful split: every image with the other
/// group's colour on its background (the mask decides) and everything else
/// unchanged; its groups are swapped accordingly.
pub fn swap_backgrounds(set: &ImageSet, options: &ColorfulOptions) -> Result<ImageSet> {
    let groups = set
        .groups()
        .ok_or_else(|| Error::arg("colorful set", "it has no groups: expected a Colorful set"))?;
    let [c, h, w] = set.image_shape();
    let masks = set
        .masks()
        .ok_or_else(|| Error::arg("colorful set", "it has no masks: expected a Colorful set"))?;
    if c != 3 || groups.names() != options.group_names() {
        return Err(Error::arg(
            "colorful set",
            format!(
                "{c} channels and groups {:?}: expected 3 channels and groups {:?}",
                groups.names(),
                options.group_names()
            ),
        ));
    }
    let colours = [options.a, options.b];
    let swapped: Vec<u32> = groups.of_image().iter().map(|&g| 1 - g).collect();
    let mut pixels = Vec::with_capacity(set.pixels().len());
    for (i, &g) in swapped.iter().enumerate() {
        let image = set.image(i).unwrap_or_default();
        pixels.extend(paint(
            image,
            [c, h, w],
            &masks[i * h * w..(i + 1) * h * w],
            colours[g as usize],
        ));
    }
    ImageSet::new(
        pixels,
        [3, h, w],
        set.labels().to_vec(),
        set.classes().to_vec(),
    )?
    .with_masks(masks.to_vec())?
    .with_groups(options.group_names(), swapped)
}

/// The foreground of every image (`N * H * W`, 1 = foreground): the set's
/// masks, or for a gray set without masks the pixels of intensity at least
/// [`GRAY_FOREGROUND_FROM`].
fn foreground_masks(set: &ImageSet) -> Result<Vec<u8>> {
    if let Some(m) = set.masks() {
        return Ok(m.to_vec());
    }
    let [c, _, _] = set.image_shape();
    if c != 1 {
        return Err(Error::arg(
            "colorful set",
            format!(
                "images of {c} channels without object masks have no background notion: \
                 expected a gray set (mnist, fashion-mnist, a gray folder) or shapes"
            ),
        ));
    }
    Ok(set
        .pixels()
        .iter()
        .map(|&v| u8::from(v >= GRAY_FOREGROUND_FROM))
        .collect())
}

/// One RGB image (CHW): `colour` where `mask` is 0, the image's own values
/// where it is 1 (a gray value in every channel).
fn paint(image: &[u8], [c, h, w]: [usize; 3], mask: &[u8], colour: Colour) -> Vec<u8> {
    let plane = h * w;
    let mut out = vec![0u8; 3 * plane];
    for (p, &m) in mask.iter().enumerate() {
        for ch in 0..3 {
            out[ch * plane + p] = if m == 0 {
                colour.0[ch]
            } else {
                image[ch.min(c - 1) * plane + p]
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gray set of `n` 4x4 images: a bright 2x2 stroke in the middle,
    /// faint noise (below the threshold) around it.
    fn gray(n: usize) -> ImageSet {
        let mut pixels = Vec::new();
        for i in 0..n {
            for p in 0..16 {
                let (x, y) = (p % 4, p / 4);
                let stroke = (1..3).contains(&x) && (1..3).contains(&y);
                pixels.push(if stroke {
                    100 + (i * 7 + p) as u8 % 150
                } else {
                    ((i + p) % 26) as u8
                });
            }
        }
        let labels = (0..n as u32).map(|i| i % 2).collect();
        ImageSet::new(pixels, [1, 4, 4], labels, vec!["a".into(), "b".into()]).unwrap()
    }

    fn count(set: &ImageSet, group: u32) -> usize {
        let groups = set.groups().unwrap();
        groups.of_image().iter().filter(|&&g| g == group).count()
    }

    #[test]
    fn shares_are_exact_for_several_p_and_reversed_in_the_test_split() {
        let base = Dataset {
            name: "g".into(),
            train: Some(gray(200)),
            test: Some(gray(40)),
        };
        for (p, train_a, test_b) in [
            (0.0, 0, 0),
            (0.5, 100, 20),
            (0.9, 180, 36),
            (0.95, 190, 38),
            (1.0, 200, 40),
        ] {
            let options = ColorfulOptions {
                p,
                ..ColorfulOptions::default()
            };
            let d = colorize(&base, &options).unwrap();
            let (train, test) = (d.train.unwrap(), d.test.unwrap());
            assert_eq!(count(&train, 0), train_a, "p = {p}");
            assert_eq!(count(&test, 1), test_b, "p = {p}");
            // Every background pixel has its group's colour.
            for set in [&train, &test] {
                for i in 0..set.len() {
                    let g = set.groups().unwrap().of_image()[i] as usize;
                    let colour = [options.a, options.b][g].0;
                    let img = set.image(i).unwrap();
                    assert_eq!([img[0], img[16], img[32]], colour, "image {i}");
                }
            }
        }
    }

    #[test]
    fn gray_foreground_keeps_its_intensity_in_every_channel() {
        let set = gray(30);
        let out = colorize_split(&set, 0.5, &ColorfulOptions::default(), Seed(1)).unwrap();
        assert_eq!(out.image_shape(), [3, 4, 4]);
        assert_eq!(out.labels(), set.labels());
        for i in 0..set.len() {
            let (before, after) = (set.image(i).unwrap(), out.image(i).unwrap());
            let mask = out.mask(i).unwrap();
            for p in 0..16 {
                let stroke = before[p] >= GRAY_FOREGROUND_FROM;
                assert_eq!(mask[p] == 1, stroke, "image {i} pixel {p}");
                if stroke {
                    for c in 0..3 {
                        assert_eq!(after[c * 16 + p], before[p], "image {i} pixel {p}");
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_keep_the_object_and_lose_the_texture() {
        let data = "shapes:n=40,test=10,size=16"
            .parse::<crate::DataSpec>()
            .unwrap()
            .load()
            .unwrap();
        let set = data.train.unwrap();
        let out = colorize_split(&set, 1.0, &ColorfulOptions::default(), Seed(2)).unwrap();
        let plane = 16 * 16;
        for i in 0..set.len() {
            let (before, after, mask) = (
                set.image(i).unwrap(),
                out.image(i).unwrap(),
                set.mask(i).unwrap(),
            );
            assert_eq!(out.mask(i).unwrap(), mask);
            for p in 0..plane {
                for c in 0..3 {
                    let want = if mask[p] == 1 {
                        before[c * plane + p]
                    } else {
                        [255, 0, 0][c]
                    };
                    assert_eq!(
                        after[c * plane + p],
                        want,
                        "image {i} pixel {p} channel {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn swapping_backgrounds_changes_only_the_background_and_twice_is_identity() {
        let options = ColorfulOptions {
            p: 0.7,
            a: "#102030".parse().unwrap(),
            b: "yellow".parse().unwrap(),
        };
        let set = colorize_split(&gray(20), 0.7, &options, Seed(3)).unwrap();
        let swapped = swap_backgrounds(&set, &options).unwrap();
        for i in 0..set.len() {
            let (a, b, m) = (
                set.image(i).unwrap(),
                swapped.image(i).unwrap(),
                set.mask(i).unwrap(),
            );
            let g = set.groups().unwrap().of_image()[i] as usize;
            let other = [options.a, options.b][1 - g].0;
            for p in 0..16 {
                for c in 0..3 {
                    let want = if m[p] == 1 { a[c * 16 + p] } else { other[c] };
                    assert_eq!(b[c * 16 + p], want);
                }
            }
        }
        assert_eq!(swap_backgrounds(&swapped, &options).unwrap(), set);
    }

    #[test]
    fn colours_parse_and_print_back() {
        for s in ["red", "blue", "#102030", "#ffa500"] {
            let c: Colour = s.parse().unwrap();
            let back: Colour = c.to_string().parse().unwrap();
            assert_eq!(back, c);
        }
        assert_eq!("#ffa500".parse::<Colour>().unwrap().to_string(), "orange");
        assert_eq!("Red".parse::<Colour>().unwrap(), Colour([255, 0, 0]));
        for bad in ["rd", "#12345", "#gg0000", "", "#1234567"] {
            let e = bad.parse::<Colour>().unwrap_err();
            assert!(e.contains("is not a colour"), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_options_and_colour_sets_are_errors() {
        let bad_p = ColorfulOptions {
            p: 1.5,
            ..ColorfulOptions::default()
        };
        assert!(bad_p.validate().unwrap_err().to_string().contains("[0, 1]"));
        let same = ColorfulOptions {
            b: Colour([255, 0, 0]),
            ..ColorfulOptions::default()
        };
        assert!(same
            .validate()
            .unwrap_err()
            .to_string()
            .contains("different"));
        let rgb = ImageSet::new(vec![0; 12], [3, 2, 2], vec![0], vec!["a".into()]).unwrap();
        let e = colorize_split(&rgb, 0.5, &ColorfulOptions::default(), Seed(0)).unwrap_err();
        assert!(e.to_string().contains("no background notion"), "{e}");
    }
}
