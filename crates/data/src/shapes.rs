//! `shapes`: the embedded procedural data set.
//!
//! Each image shows one filled shape on a textured background. The label is
//! the shape, the only semantic factor. Everything else is a nuisance factor,
//! drawn independently of the label: the object's colour, position, size and
//! rotation, the background's colour and texture (flat, stripes, checkers,
//! noise, gradient), and a global brightness. This makes the paper's
//! distinction between semantic and non-semantic information (Sec. 1, 4.3)
//! exact: photometric perturbations change only nuisance factors, and every
//! image carries its object mask as a ground truth for attributions.
//!
//! Images are a pure function of `(seed, split, index)`, so a set is
//! byte-identical across runs and machines and needs no file or download.
//!
//! ```
//! use sc_data::shapes::{ShapesConfig, CLASSES};
//!
//! let data = ShapesConfig { train: 100, test: 20, ..ShapesConfig::default() }.generate()?;
//! let train = data.train.as_ref().unwrap();
//! assert_eq!(train.classes().len(), CLASSES.len());
//! assert_eq!(train.mask(0).unwrap().len(), 32 * 32);
//! # Ok::<(), sc_data::Error>(())
//! ```

use crate::{Dataset, Error, ImageSet, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use sc_core::Seed;
use std::f32::consts::PI;

/// The shape classes, in label order.
pub const CLASSES: [&str; 10] = [
    "circle", "ring", "triangle", "square", "star", "cross", "crescent", "heart", "arrow", "ell",
];

/// How to generate a `shapes` data set.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapesConfig {
    /// Number of training images.
    pub train: usize,
    /// Number of test images.
    pub test: usize,
    /// Side of the square images, in pixels (at least 16).
    pub size: usize,
    /// Fixes every random choice.
    pub seed: Seed,
}

impl Default for ShapesConfig {
    /// 10,000 training and 2,000 test images of 32x32, seed 0.
    fn default() -> Self {
        ShapesConfig {
            train: 10_000,
            test: 2_000,
            size: 32,
            seed: Seed(0),
        }
    }
}

/// The nuisance factors of one image, drawn at random and recorded so that
/// tests and probes can reason about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Nuisance {
    /// Shape centre, in pixels.
    pub centre: [f32; 2],
    /// Shape radius (its outline spans about this far from the centre), in pixels.
    pub radius: f32,
    /// Rotation, radians.
    pub rotation: f32,
    /// Object colour, RGB in [0, 1].
    pub colour: [f32; 3],
    /// Background base colour, RGB in [0, 1].
    pub background: [f32; 3],
    /// Background texture.
    pub texture: Texture,
    /// Global brightness factor applied to the whole image.
    pub brightness: f32,
}

/// Background textures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Texture {
    /// A flat colour.
    Flat,
    /// Sinusoidal stripes.
    Stripes {
        /// Pixels per cycle.
        period: f32,
        /// Direction of the stripes' normal, radians.
        angle: f32,
        /// Peak colour shift (a sine of this amplitude).
        amplitude: f32,
    },
    /// A checkerboard.
    Checkers {
        /// Side of a square, pixels.
        cell: f32,
        /// Colour shift: `+amplitude` on one parity, `-amplitude` on the other.
        amplitude: f32,
    },
    /// Per-pixel uniform noise (hashed from the image seed).
    Noise {
        /// Largest colour shift (uniform in `[-amplitude, amplitude]`).
        amplitude: f32,
        /// Hash key of the noise pattern.
        key: u64,
    },
    /// A linear gradient.
    Gradient {
        /// Direction of increase, radians.
        angle: f32,
        /// Colour shift at the edge, in the gradient's direction, from the centre.
        amplitude: f32,
    },
}

/// The smallest image side at which every shape stays recognisable.
pub const MIN_SIZE: usize = 16;

/// The most memory a generated set may take (pixels and masks, one byte
/// each): beyond it a typo such as `size=100000` would ask the allocator for
/// terabytes and abort the process instead of returning an error.
pub const MAX_BYTES: usize = 4 << 30;

impl ShapesConfig {
    /// Checks that the set can be generated: sides of at least
    /// [`MIN_SIZE`], at least one image, and at most [`MAX_BYTES`] of
    /// pixels and masks. [`ShapesConfig::generate`] and `--data shapes:...`
    /// parsing both call it, so a bad value fails before any work.
    pub fn validate(&self) -> Result<()> {
        if self.size < MIN_SIZE {
            return Err(Error::arg(
                "shapes size",
                format!("{} pixels: expected at least {MIN_SIZE}", self.size),
            ));
        }
        let images = self.train.checked_add(self.test);
        if images == Some(0) {
            return Err(Error::arg("shapes count", "at least one image is needed"));
        }
        // Three colour bytes and one mask byte per pixel.
        let bytes = images
            .and_then(|n| n.checked_mul(self.size))
            .and_then(|n| n.checked_mul(self.size))
            .and_then(|n| n.checked_mul(4));
        match bytes {
            Some(b) if b <= MAX_BYTES => Ok(()),
            _ => Err(Error::arg(
                "shapes size",
                format!(
                    "{} + {} images of {}x{} would take {}; the limit is {} GiB",
                    self.train,
                    self.test,
                    self.size,
                    self.size,
                    bytes.map_or("over 2^64 bytes".into(), |b| {
                        format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
                    }),
                    MAX_BYTES >> 30
                ),
            )),
        }
    }

    /// Generates the train and test splits.
    pub fn generate(&self) -> Result<Dataset> {
        self.validate()?;
        let split = |n: usize, name: &str| -> Result<Option<ImageSet>> {
            if n == 0 {
                return Ok(None);
            }
            generate_split(n, self.size, self.seed.derive(name)).map(Some)
        };
        Ok(Dataset {
            name: "shapes".into(),
            train: split(self.train, "shapes/train")?,
            test: split(self.test, "shapes/test")?,
        })
    }
}

fn generate_split(n: usize, size: usize, seed: Seed) -> Result<ImageSet> {
    let k = CLASSES.len();
    let mut labels: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
    labels.shuffle(&mut seed.stream("labels"));
    let mut pixels = vec![0u8; n * 3 * size * size];
    let mut masks = vec![0u8; n * size * size];
    for (i, &label) in labels.iter().enumerate() {
        let mut rng = seed.index(i as u64).stream("image");
        let nuisance = Nuisance::sample(&mut rng, size);
        render_into(
            label as usize,
            &nuisance,
            size,
            &mut pixels[i * 3 * size * size..(i + 1) * 3 * size * size],
            &mut masks[i * size * size..(i + 1) * size * size],
        );
    }
    let classes: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
    ImageSet::new(pixels, [3, size, size], labels, classes)?.with_masks(masks)
}

impl Nuisance {
    /// Draws the nuisance factors of one image of side `size`.
    pub fn sample(rng: &mut impl Rng, size: usize) -> Nuisance {
        let s = size as f32;
        let radius = rng.random_range(0.24..0.36) * s;
        let margin = radius * 0.95;
        let centre = [
            rng.random_range(margin..s - margin),
            rng.random_range(margin..s - margin),
        ];
        let rotation = rng.random_range(0.0..2.0 * PI);
        // Object and background differ in lightness by at least 0.3, so the
        // shape is always visible, whatever the two hues are.
        let bg_value: f32 = rng.random_range(0.1..0.9);
        let fg_value = if bg_value > 0.5 {
            rng.random_range(0.0..bg_value - 0.3)
        } else {
            rng.random_range(bg_value + 0.3..1.0)
        };
        let colour = hsv_to_rgb(
            rng.random_range(0.0..1.0),
            rng.random_range(0.4..1.0),
            fg_value,
        );
        let background = hsv_to_rgb(
            rng.random_range(0.0..1.0),
            rng.random_range(0.0..0.6),
            bg_value,
        );
        let texture = match rng.random_range(0..5) {
            0 => Texture::Flat,
            1 => Texture::Stripes {
                period: rng.random_range(3.0..9.0),
                angle: rng.random_range(0.0..PI),
                amplitude: rng.random_range(0.04..0.15),
            },
            2 => Texture::Checkers {
                cell: rng.random_range(2.0..7.0),
                amplitude: rng.random_range(0.04..0.15),
            },
            3 => Texture::Noise {
                amplitude: rng.random_range(0.04..0.15),
                key: rng.random(),
            },
            _ => Texture::Gradient {
                angle: rng.random_range(0.0..2.0 * PI),
                amplitude: rng.random_range(0.05..0.2),
            },
        };
        Nuisance {
            centre,
            radius,
            rotation,
            colour,
            background,
            texture,
            brightness: rng.random_range(0.8..1.2),
        }
    }
}

/// Renders shape `class` (an index into [`CLASSES`]) with the given nuisance
/// factors: returns CHW RGB pixels and the HW object mask (1 where at least
/// half of the pixel is covered by the shape).
pub fn render(class: usize, nuisance: &Nuisance, size: usize) -> (Vec<u8>, Vec<u8>) {
    let mut pixels = vec![0u8; 3 * size * size];
    let mut mask = vec![0u8; size * size];
    render_into(class, nuisance, size, &mut pixels, &mut mask);
    (pixels, mask)
}

fn render_into(class: usize, n: &Nuisance, size: usize, pixels: &mut [u8], mask: &mut [u8]) {
    const SUB: [f32; 2] = [0.25, 0.75];
    let (sin, cos) = n.rotation.sin_cos();
    let inv_r = 1.0 / n.radius;
    let plane = size * size;
    for y in 0..size {
        for x in 0..size {
            let mut covered = 0u32;
            for sy in SUB {
                for sx in SUB {
                    let dx = (x as f32 + sx - n.centre[0]) * inv_r;
                    let dy = (y as f32 + sy - n.centre[1]) * inv_r;
                    // Rotate into the shape's frame; v points up.
                    let u = cos * dx + sin * dy;
                    let v = -(-sin * dx + cos * dy);
                    if inside(class, u, v) {
                        covered += 1;
                    }
                }
            }
            let coverage = covered as f32 / 4.0;
            let bg = background_at(n, x as f32, y as f32, size as f32);
            let p = y * size + x;
            mask[p] = u8::from(covered >= 2);
            for c in 0..3 {
                let v = (coverage * n.colour[c] + (1.0 - coverage) * bg[c]) * n.brightness;
                pixels[c * plane + p] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
}

fn background_at(n: &Nuisance, x: f32, y: f32, size: f32) -> [f32; 3] {
    let shift = match n.texture {
        Texture::Flat => 0.0,
        Texture::Stripes {
            period,
            angle,
            amplitude,
        } => amplitude * (2.0 * PI * (x * angle.cos() + y * angle.sin()) / period).sin(),
        Texture::Checkers { cell, amplitude } => {
            let parity = ((x / cell).floor() + (y / cell).floor()) as i64 & 1;
            if parity == 0 {
                amplitude
            } else {
                -amplitude
            }
        }
        Texture::Noise { amplitude, key } => {
            let h = Seed(key).index((y as u64) << 32 | x as u64).0;
            amplitude * ((h >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
        }
        Texture::Gradient { angle, amplitude } => {
            let t = ((x - size / 2.0) * angle.cos() + (y - size / 2.0) * angle.sin()) / size;
            amplitude * 2.0 * t
        }
    };
    n.background.map(|c| c + shift)
}

/// Whether the point `(u, v)` of the shape's frame (radius 1, v up) lies in
/// shape `class`.
fn inside(class: usize, u: f32, v: f32) -> bool {
    let r2 = u * u + v * v;
    if r2 > 1.7 {
        return false;
    }
    match class {
        0 => r2 <= 0.85 * 0.85,
        1 => (0.5 * 0.5..=0.95 * 0.95).contains(&r2),
        2 => in_regular_polygon(u, v + 0.2, 3, 1.05),
        3 => in_regular_polygon(u, v, 4, 1.0),
        4 => in_polygon(u, v, &STAR),
        5 => (u.abs() <= 0.3 && v.abs() <= 0.95) || (v.abs() <= 0.3 && u.abs() <= 0.95),
        6 => r2 <= 0.95 * 0.95 && (u - 0.45) * (u - 0.45) + v * v > 0.75 * 0.75,
        7 => {
            let (x, y) = (1.2 * u, 1.2 * v + 0.15);
            let a = x * x + y * y - 1.0;
            a * a * a - x * x * y * y * y <= 0.0
        }
        8 => in_polygon(u, v, &ARROW),
        _ => in_polygon(u, v, &ELL),
    }
}

const STAR: [[f32; 2]; 10] = star_vertices();
const ARROW: [[f32; 2]; 7] = [
    [-0.95, -0.22],
    [0.1, -0.22],
    [0.1, -0.65],
    [0.95, 0.0],
    [0.1, 0.65],
    [0.1, 0.22],
    [-0.95, 0.22],
];
const ELL: [[f32; 2]; 6] = [
    [-0.6, -0.9],
    [0.75, -0.9],
    [0.75, -0.45],
    [-0.15, -0.45],
    [-0.15, 0.95],
    [-0.6, 0.95],
];

const fn star_vertices() -> [[f32; 2]; 10] {
    // cos/sin of k * 36 degrees from the top, alternating outer radius 1.05
    // and inner 0.45 (sin/cos are not const fns, so the table is written out).
    const COS: [f32; 10] = [
        1.0, 0.809_017, 0.309_017, -0.309_017, -0.809_017, -1.0, -0.809_017, -0.309_017, 0.309_017,
        0.809_017,
    ];
    const SIN: [f32; 10] = [
        0.0, 0.587_785, 0.951_057, 0.951_057, 0.587_785, 0.0, -0.587_785, -0.951_057, -0.951_057,
        -0.587_785,
    ];
    let mut out = [[0.0; 2]; 10];
    let mut k = 0;
    while k < 10 {
        let r = if k % 2 == 0 { 1.05 } else { 0.45 };
        out[k] = [r * SIN[k], r * COS[k]];
        k += 1;
    }
    out
}

fn in_regular_polygon(u: f32, v: f32, sides: usize, circumradius: f32) -> bool {
    // Inside when within the apothem along every edge normal (first vertex up).
    let apothem = circumradius * (PI / sides as f32).cos();
    (0..sides).all(|k| {
        let a = PI / 2.0 + PI / sides as f32 + 2.0 * PI * k as f32 / sides as f32;
        u * a.cos() + v * a.sin() <= apothem
    })
}

/// Even-odd rule point-in-polygon test.
fn in_polygon(u: f32, v: f32, poly: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let [xi, yi] = poly[i];
        let [xj, yj] = poly[j];
        if (yi > v) != (yj > v) && u < (xj - xi) * (v - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let i = h6.floor();
    let f = h6 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match i as i32 % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Dataset {
        ShapesConfig {
            train: 300,
            test: 100,
            size: 32,
            seed: Seed(seed),
        }
        .generate()
        .unwrap()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_differs() {
        let a = small(1);
        let b = small(1);
        let c = small(2);
        assert_eq!(a, b);
        let (ta, tc) = (a.train.unwrap(), c.train.unwrap());
        assert_ne!(ta.pixels(), tc.pixels());
        assert_ne!(ta.labels(), tc.labels());
        // Train and test are different draws.
        assert_ne!(ta.image(0), a.test.as_ref().unwrap().image(0));
    }

    #[test]
    fn classes_are_balanced() {
        let d = small(3);
        let counts = d.train.unwrap().label_counts();
        assert_eq!(counts, vec![30; 10]);
        let counts = d.test.unwrap().label_counts();
        assert_eq!(counts, vec![10; 10]);
    }

    #[test]
    fn masks_are_non_empty_and_lie_where_the_shape_is_drawn() {
        let d = small(4);
        let set = d.train.unwrap();
        let hw = 32 * 32;
        for i in 0..set.len() {
            let mask = set.mask(i).unwrap();
            let area = mask.iter().filter(|&&m| m == 1).count();
            assert!(area >= 20, "image {i}: mask area {area}");
            // Re-render the same image with the object in a colour far from
            // anything and check the changed pixels are the mask's pixels.
            let mut rng = Seed(4)
                .derive("shapes/train")
                .index(i as u64)
                .stream("image");
            let n = Nuisance::sample(&mut rng, 32);
            let (pixels, mask2) = render(set.labels()[i] as usize, &n, 32);
            assert_eq!(
                &pixels[..],
                set.image(i).unwrap(),
                "render is not the generator"
            );
            assert_eq!(mask, &mask2[..]);
            let mut flipped = n.clone();
            flipped.colour = n.colour.map(|c| 1.0 - c);
            let (other, _) = render(set.labels()[i] as usize, &flipped, 32);
            for p in 0..hw {
                let changed = (0..3).any(|c| pixels[c * hw + p] != other[c * hw + p]);
                if mask[p] == 1 {
                    // Mostly covered pixels show the object colour.
                    assert!(changed || n.colour.iter().all(|c| (c - 0.5).abs() < 0.01));
                } else {
                    // Outside the mask at most the anti-aliased rim changes,
                    // and by at most half the colour difference.
                    for c in 0..3 {
                        let d = (pixels[c * hw + p] as f32 - other[c * hw + p] as f32).abs();
                        let full = ((1.0 - 2.0 * n.colour[c]) * n.brightness * 255.0).abs();
                        assert!(
                            d <= 0.5 * full + 1.0,
                            "image {i} pixel {p}: {d} > half of {full}"
                        );
                    }
                }
            }
        }
    }

    /// Rotation-, scale- and translation-invariant descriptors of a mask:
    /// the magnitudes of the Fourier series of the outline's radius around
    /// the centroid, a hole indicator, elongation and compactness.
    fn mask_features(mask: &[u8], size: usize) -> Vec<f32> {
        let pts: Vec<(f32, f32)> = (0..size * size)
            .filter(|&p| mask[p] == 1)
            .map(|p| ((p % size) as f32 + 0.5, (p / size) as f32 + 0.5))
            .collect();
        let a = pts.len() as f32;
        let (cx, cy) = pts
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.0 / a, y + p.1 / a));
        let scale = a.sqrt();
        const BINS: usize = 36;
        let mut radius = [0f32; BINS];
        let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
        let mut near = 0.0;
        for &(x, y) in &pts {
            let (dx, dy) = (x - cx, y - cy);
            let r = (dx * dx + dy * dy).sqrt() / scale;
            let bin = (((dy.atan2(dx) + PI) / (2.0 * PI)) * BINS as f32) as usize % BINS;
            radius[bin] = radius[bin].max(r);
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
            if r < 0.2 {
                near += 1.0;
            }
        }
        let mut f = Vec::new();
        for k in 0..8 {
            let (mut re, mut im) = (0.0, 0.0);
            for (b, r) in radius.iter().enumerate() {
                let t = 2.0 * PI * (k * b) as f32 / BINS as f32;
                re += r * t.cos();
                im += r * t.sin();
            }
            f.push((re * re + im * im).sqrt() / BINS as f32 * 4.0);
        }
        let tr = sxx + syy;
        let det = sxx * syy - sxy * sxy;
        let disc = (tr * tr / 4.0 - det).max(0.0).sqrt();
        f.push(((tr / 2.0 - disc) / (tr / 2.0 + disc)).sqrt() * 2.0);
        f.push(tr / (a * a) * 4.0);
        let hole_area = (0.2 * scale).powi(2) * PI;
        f.push(near / hole_area.max(1.0) * 2.0);
        let boundary = (0..size * size)
            .filter(|&p| {
                mask[p] == 1 && {
                    let (x, y) = (p % size, p / size);
                    x == 0
                        || y == 0
                        || x + 1 == size
                        || y + 1 == size
                        || mask[p - 1] == 0
                        || mask[p + 1] == 0
                        || mask[p - size] == 0
                        || mask[p + size] == 0
                }
            })
            .count() as f32;
        f.push(boundary / scale);
        f
    }

    fn knn_accuracy(train: &[(Vec<f32>, u32)], test: &[(Vec<f32>, u32)], k: usize) -> f32 {
        let mut correct = 0;
        for (x, y) in test {
            let mut d: Vec<(f32, u32)> = train
                .iter()
                .map(|(t, l)| (t.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum(), *l))
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut votes = [0usize; 10];
            for (_, l) in &d[..k] {
                votes[*l as usize] += 1;
            }
            let best = (0..10).max_by_key(|&c| votes[c]).unwrap_or(0);
            correct += usize::from(best as u32 == *y);
        }
        correct as f32 / test.len() as f32
    }

    #[test]
    fn learnable_but_not_trivial() {
        let d = ShapesConfig {
            train: 2000,
            test: 500,
            size: 32,
            seed: Seed(5),
        }
        .generate()
        .unwrap();
        let (train, test) = (d.train.unwrap(), d.test.unwrap());
        let per = 3 * 32 * 32;

        // A model-free baseline on raw pixels: nearest class mean.
        let mut means = vec![vec![0f32; per]; 10];
        let counts = train.label_counts();
        for i in 0..train.len() {
            let l = train.labels()[i] as usize;
            for (m, &p) in means[l].iter_mut().zip(train.image(i).unwrap()) {
                *m += p as f32 / counts[l] as f32;
            }
        }
        let pixel_features = |set: &ImageSet, i: usize| -> Vec<f32> {
            set.image(i).unwrap().iter().map(|&p| p as f32).collect()
        };
        let mut correct = 0;
        for i in 0..test.len() {
            let x = pixel_features(&test, i);
            let best = (0..10)
                .min_by(|&a, &b| {
                    let da: f32 = means[a]
                        .iter()
                        .zip(&x)
                        .map(|(m, v)| (m - v) * (m - v))
                        .sum();
                    let db: f32 = means[b]
                        .iter()
                        .zip(&x)
                        .map(|(m, v)| (m - v) * (m - v))
                        .sum();
                    da.total_cmp(&db)
                })
                .unwrap();
            correct += usize::from(best as u32 == test.labels()[i]);
        }
        let pixel_acc = correct as f32 / test.len() as f32;

        // The label is recoverable from the mask's shape alone.
        let feats = |set: &ImageSet| -> Vec<(Vec<f32>, u32)> {
            (0..set.len())
                .map(|i| (mask_features(set.mask(i).unwrap(), 32), set.labels()[i]))
                .collect()
        };
        let mask_acc = knn_accuracy(&feats(&train), &feats(&test), 5);
        eprintln!("nearest class mean on pixels: {pixel_acc:.3}; kNN on mask shape: {mask_acc:.3}");
        assert!(pixel_acc < 0.35, "pixel baseline too good: {pixel_acc}");
        assert!(
            mask_acc > 0.85,
            "mask shape does not determine the label: {mask_acc}"
        );
    }

    #[test]
    fn rejects_bad_configuration() {
        let tiny = ShapesConfig {
            size: 8,
            ..ShapesConfig::default()
        };
        assert!(tiny
            .generate()
            .unwrap_err()
            .to_string()
            .contains("at least 16"));
        let none = ShapesConfig {
            train: 0,
            test: 0,
            ..ShapesConfig::default()
        };
        assert!(none.generate().is_err());
    }

    #[test]
    fn sets_too_large_for_memory_are_rejected_before_allocating() {
        let at = |train: usize, size: usize| ShapesConfig {
            train,
            test: 0,
            size,
            seed: Seed(0),
        };
        // 4 bytes per pixel: 2^30 pixels fit exactly, one image more does not.
        assert!(at(1 << 20, 32).validate().is_ok());
        let over = at((1 << 20) + 1, 32).validate().unwrap_err().to_string();
        assert!(over.contains("the limit is 4 GiB"), "{over}");
        let huge = at(1, 100_000).generate().unwrap_err().to_string();
        assert!(huge.contains("100000x100000"), "{huge}");
        // Products past usize::MAX are caught, not wrapped.
        let wrap = at(usize::MAX, 1 << 40).validate().unwrap_err().to_string();
        assert!(wrap.contains("over 2^64 bytes"), "{wrap}");
    }

    #[test]
    fn other_sizes_work() {
        let d = ShapesConfig {
            train: 20,
            test: 0,
            size: 64,
            seed: Seed(0),
        }
        .generate()
        .unwrap();
        assert!(d.test.is_none());
        assert_eq!(d.train.unwrap().image_shape(), [3, 64, 64]);
    }
}
