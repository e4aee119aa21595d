//! Data augmentation of the training batch: random crop after zero padding
//! and random horizontal flip, the standard CIFAR recipe (He et al. 2016;
//! torchvision's `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`).
//!
//! Applied to the batch before the regime sees it, so the photometric pair
//! of regime C and the PGD examples of the adversarial regimes are taken on
//! the augmented images. Every choice comes from the step's seed stream, so
//! a resumed run draws exactly what an uninterrupted one drew.

use crate::{Error, Result};
use candle_core::Tensor;
use rand::Rng;

/// What was drawn for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropFlipChoice {
    /// Top row of the crop window in the padded image (`0..=2 * padding`).
    pub top: usize,
    /// Left column of the crop window in the padded image.
    pub left: usize,
    /// Whether the image is mirrored left-right (after the crop).
    pub flip: bool,
}

/// Random crop with `padding` zero pixels on each side, then a horizontal
/// flip with probability 1/2 when `hflip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropFlip {
    /// Zero padding on each side before the crop; 0 = no crop.
    pub padding: usize,
    /// Whether to flip at random.
    pub hflip: bool,
}

impl CropFlip {
    /// Whether the augmentation changes anything.
    pub fn is_identity(&self) -> bool {
        self.padding == 0 && !self.hflip
    }

    /// Draws the window and flip of each of `n` images (per image: top,
    /// left, flip; only the parts that are enabled draw).
    pub fn choose(&self, n: usize, rng: &mut dyn rand::RngCore) -> Vec<CropFlipChoice> {
        (0..n)
            .map(|_| {
                let (top, left) = if self.padding > 0 {
                    (
                        rng.random_range(0..=2 * self.padding),
                        rng.random_range(0..=2 * self.padding),
                    )
                } else {
                    (0, 0)
                };
                CropFlipChoice {
                    top,
                    left,
                    flip: self.hflip && rng.random_bool(0.5),
                }
            })
            .collect()
    }

    /// Applies one drawn choice per image of the `[N, C, H, W]` batch `x`.
    pub fn apply_choices(&self, x: &Tensor, choices: &[CropFlipChoice]) -> Result<Tensor> {
        let (n, _, h, w) = x.dims4()?;
        if choices.len() != n {
            return Err(Error::Config(format!(
                "{} crop/flip choices for a batch of {n} images",
                choices.len()
            )));
        }
        let p = self.padding;
        if let Some(c) = choices.iter().find(|c| c.top > 2 * p || c.left > 2 * p) {
            return Err(Error::Config(format!(
                "crop window at ({}, {}) outside the padding {p}",
                c.top, c.left
            )));
        }
        let padded = if p > 0 {
            x.pad_with_zeros(2, p, p)?.pad_with_zeros(3, p, p)?
        } else {
            x.clone()
        };
        let reversed: Vec<u32> = (0..w as u32).rev().collect();
        let reversed = Tensor::new(reversed.as_slice(), x.device())?;
        let images = choices
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let one = padded
                    .narrow(0, i, 1)?
                    .narrow(2, c.top, h)?
                    .narrow(3, c.left, w)?;
                if c.flip {
                    one.contiguous()?.index_select(&reversed, 3)
                } else {
                    Ok(one)
                }
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Tensor::cat(&images, 0)?)
    }

    /// Draws and applies the augmentation; the identity when off.
    pub fn apply(&self, x: &Tensor, rng: &mut dyn rand::RngCore) -> Result<Tensor> {
        if self.is_identity() {
            return Ok(x.clone());
        }
        let choices = self.choose(x.dim(0)?, rng);
        self.apply_choices(x, &choices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use sc_core::Seed;

    /// `[N, C, H, W]` with distinct values: pixel (n, c, y, x) = 1 + index.
    fn numbered(n: usize, c: usize, h: usize, w: usize) -> Tensor {
        let v: Vec<f32> = (0..n * c * h * w).map(|i| 1.0 + i as f32).collect();
        Tensor::from_vec(v, (n, c, h, w), &Device::Cpu).unwrap()
    }

    fn pixels(t: &Tensor) -> Vec<Vec<Vec<Vec<f32>>>> {
        let (n, c, ..) = t.dims4().unwrap();
        (0..n)
            .map(|i| {
                (0..c)
                    .map(|k| t.get(i).unwrap().get(k).unwrap().to_vec2().unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // indices are the definition checked
    fn the_crop_is_a_shifted_window_with_zero_fill_and_the_flip_mirrors() {
        let (n, c, h, w, p) = (6, 2, 5, 7, 2);
        let x = numbered(n, c, h, w);
        let aug = CropFlip {
            padding: p,
            hflip: true,
        };
        let choices = aug.choose(n, &mut Seed(3).stream("crop-flip"));
        let y = pixels(&aug.apply_choices(&x, &choices).unwrap());
        let x = pixels(&x);
        // Independently, by the definition: output (r, s) is padded pixel
        // (top + r, left + s') with s' = s or its mirror, 0 off the image.
        for (i, ch) in choices.iter().enumerate() {
            for k in 0..c {
                for r in 0..h {
                    for s in 0..w {
                        let s2 = if ch.flip { w - 1 - s } else { s };
                        let (yy, xx) = (ch.top + r, ch.left + s2);
                        let want = if (p..p + h).contains(&yy) && (p..p + w).contains(&xx) {
                            x[i][k][yy - p][xx - p]
                        } else {
                            0.0
                        };
                        assert_eq!(y[i][k][r][s], want, "image {i} {ch:?} at ({r}, {s})");
                    }
                }
            }
        }
    }

    #[test]
    fn the_flip_alone_is_exact_and_its_own_inverse() {
        let x = numbered(1, 3, 4, 5);
        let aug = CropFlip {
            padding: 0,
            hflip: true,
        };
        let flip = [CropFlipChoice {
            top: 0,
            left: 0,
            flip: true,
        }];
        let once = aug.apply_choices(&x, &flip).unwrap();
        let row: Vec<f32> = once
            .get(0)
            .unwrap()
            .get(1)
            .unwrap()
            .get(2)
            .unwrap()
            .to_vec1()
            .unwrap();
        let orig: Vec<f32> = x
            .get(0)
            .unwrap()
            .get(1)
            .unwrap()
            .get(2)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(row, orig.into_iter().rev().collect::<Vec<_>>());
        let twice = aug.apply_choices(&once, &flip).unwrap();
        assert_eq!(pixels(&twice), pixels(&x));
    }

    #[test]
    fn seeded_varied_per_image_and_off_by_default() {
        let aug = CropFlip {
            padding: 4,
            hflip: true,
        };
        let a = aug.choose(64, &mut Seed(1).stream("crop-flip"));
        assert_eq!(a, aug.choose(64, &mut Seed(1).stream("crop-flip")));
        assert_ne!(a, aug.choose(64, &mut Seed(2).stream("crop-flip")));
        let flips = a.iter().filter(|c| c.flip).count();
        assert!((16..=48).contains(&flips), "{flips} of 64 flipped");
        let tops: std::collections::HashSet<usize> = a.iter().map(|c| c.top).collect();
        let lefts: std::collections::HashSet<usize> = a.iter().map(|c| c.left).collect();
        assert!(tops.len() >= 5 && lefts.len() >= 5, "{tops:?} {lefts:?}");
        assert!(a.iter().all(|c| c.top <= 8 && c.left <= 8));

        let off = CropFlip {
            padding: 0,
            hflip: false,
        };
        assert!(off.is_identity());
        let x = numbered(2, 1, 3, 3);
        let mut rng = Seed(1).stream("crop-flip");
        assert_eq!(pixels(&off.apply(&x, &mut rng).unwrap()), pixels(&x));
        let e = aug.apply_choices(&x, &a[..1]).unwrap_err().to_string();
        assert!(e.contains("1 crop/flip choices for a batch of 2"), "{e}");
    }
}
