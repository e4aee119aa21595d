//! Semantic-destroying transforms of the paper's Sec. 4.3.
//!
//! Each one moves pixels without changing their values: it is a
//! [`PixelPermutation`] per image and channel, so each channel keeps its
//! multiset of values (colour statistics survive, the object does not) and
//! the transform can be undone given the permutation. A model that keeps its
//! accuracy under them relies on that non-semantic information.

use crate::{check_images, Error, Perturbation, Result};
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;

/// Channel translation: R shifted by N pixels, G by N/2, N a fraction of the side.
pub const CHANNEL_FRACTIONS: [f64; 4] = [1.0 / 32.0, 1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0];
/// Randomised centre area: the fraction of the image area that is shuffled.
pub const CENTRE_AREAS: [f64; 4] = [0.25, 0.5, 0.75, 1.0];
/// Sliding puzzle: blocks per side.
pub const PUZZLE_GRIDS: [usize; 4] = [2, 4, 8, 16];

/// A rearrangement of the pixels of every image and channel:
/// `out[n, c, p] = in[n, c, source[n, c, p]]`, with `p` the row-major pixel index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelPermutation {
    dims: [usize; 4],
    source: Vec<u32>,
}

impl PixelPermutation {
    /// Builds a permutation for batches of `dims = [N, C, H, W]`; `source`
    /// holds `N * C` permutations of `0..H*W`, one after the other.
    pub fn new(dims: [usize; 4], source: Vec<u32>) -> Result<Self> {
        let [n, c, h, w] = dims;
        let hw = h * w;
        if source.len() != n * c * hw {
            return Err(Error::InvalidParameter {
                name: "permutation",
                problem: format!(
                    "{} indices for dims {dims:?}: expected {}",
                    source.len(),
                    n * c * hw
                ),
            });
        }
        let mut seen = vec![false; hw];
        for (k, block) in source.chunks(hw.max(1)).enumerate() {
            seen.iter_mut().for_each(|s| *s = false);
            for &s in block {
                let s = s as usize;
                if s >= hw || seen[s] {
                    return Err(Error::InvalidParameter {
                        name: "permutation",
                        problem: format!(
                            "block {k} (image {}, channel {}) is not a permutation of 0..{hw}",
                            k / c,
                            k % c
                        ),
                    });
                }
                seen[s] = true;
            }
        }
        Ok(PixelPermutation { dims, source })
    }

    /// `[N, C, H, W]` of the batches this permutation applies to.
    pub fn dims(&self) -> [usize; 4] {
        self.dims
    }

    /// The source index of every output pixel.
    pub fn source(&self) -> &[u32] {
        &self.source
    }

    /// Rearranges `x`, which must have this permutation's dims.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let [n, c, h, w] = self.dims;
        if x.dims() != self.dims {
            return Err(Error::InvalidInput(format!(
                "shape {:?}: this permutation is for {:?}",
                x.dims(),
                self.dims
            )));
        }
        let index = Tensor::from_vec(self.source.clone(), (n, c, h * w), &Device::Cpu)?
            .to_device(x.device())?;
        Ok(x.contiguous()?
            .reshape((n, c, h * w))?
            .gather(&index, 2)?
            .reshape((n, c, h, w))?)
    }

    /// The permutation that undoes this one.
    pub fn inverse(&self) -> PixelPermutation {
        let hw = self.dims[2] * self.dims[3];
        let mut inv = vec![0u32; self.source.len()];
        for (k, block) in self.source.chunks(hw.max(1)).enumerate() {
            for (p, &s) in block.iter().enumerate() {
                inv[k * hw + s as usize] = p as u32;
            }
        }
        PixelPermutation {
            dims: self.dims,
            source: inv,
        }
    }
}

fn fraction(name: &'static str, v: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&v) {
        return Err(Error::InvalidParameter {
            name,
            problem: format!("{v}: expected a fraction in [0, 1]"),
        });
    }
    Ok(())
}

/// RGB channel translation (Sec. 4.3.1): the R channel moves `N` pixels
/// towards the lower right and the G channel `N/2` (rounded down), wrapping
/// around; `N = round(fraction * side)`. Colour and translation-invariant
/// statistics remain; shapes split into misaligned coloured copies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelTranslation {
    /// Shift of the R channel as a fraction of the image side (Sec. 4.3).
    pub fraction: f64,
}

impl ChannelTranslation {
    /// The pixel permutation for batches of `dims` (needs 3 channels).
    pub fn permutation(&self, dims: [usize; 4]) -> Result<PixelPermutation> {
        fraction("channel-translation fraction", self.fraction)?;
        let [n, c, h, w] = dims;
        if c != 3 {
            return Err(Error::InvalidInput(format!(
                "channel translation shifts R and G against B: it needs 3 channels, got {c}"
            )));
        }
        let (dy, dx) = (
            (self.fraction * h as f64).round() as usize,
            (self.fraction * w as f64).round() as usize,
        );
        let shifts = [(dy, dx), (dy / 2, dx / 2), (0, 0)];
        let mut source = Vec::with_capacity(n * c * h * w);
        for _ in 0..n {
            for &(sy, sx) in &shifts {
                for y in 0..h {
                    for x in 0..w {
                        let (yy, xx) = ((y + h - sy % h) % h, (x + w - sx % w) % w);
                        source.push((yy * w + xx) as u32);
                    }
                }
            }
        }
        PixelPermutation::new(dims, source)
    }
}

/// Randomised centre area (Sec. 4.3.2): the pixels of a central rectangle
/// covering `area` of the image (same aspect as the image) are permuted at
/// random, the same way in every channel; pixels outside are untouched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CentreShuffle {
    /// Share of the image area that is shuffled (Sec. 4.3).
    pub area: f64,
}

impl CentreShuffle {
    /// `(top, left, height, width)` of the shuffled rectangle in an `h x w` image.
    pub fn region(&self, h: usize, w: usize) -> (usize, usize, usize, usize) {
        let s = self.area.clamp(0.0, 1.0).sqrt();
        let (rh, rw) = (
            (s * h as f64).round() as usize,
            (s * w as f64).round() as usize,
        );
        ((h - rh) / 2, (w - rw) / 2, rh, rw)
    }

    /// A random pixel permutation for batches of `dims`.
    pub fn permutation(
        &self,
        dims: [usize; 4],
        rng: &mut dyn rand::RngCore,
    ) -> Result<PixelPermutation> {
        fraction("centre-shuffle area", self.area)?;
        let [n, c, h, w] = dims;
        let (top, left, rh, rw) = self.region(h, w);
        let inside: Vec<u32> = (top..top + rh)
            .flat_map(|y| (left..left + rw).map(move |x| (y * w + x) as u32))
            .collect();
        let mut source = Vec::with_capacity(n * c * h * w);
        for _ in 0..n {
            let mut shuffled = inside.clone();
            shuffled.shuffle(rng);
            let mut image: Vec<u32> = (0..(h * w) as u32).collect();
            for (dst, src) in inside.iter().zip(&shuffled) {
                image[*dst as usize] = *src;
            }
            for _ in 0..c {
                source.extend_from_slice(&image);
            }
        }
        PixelPermutation::new(dims, source)
    }
}

/// Sliding puzzle (Sec. 4.3.3): the image is cut into `grid x grid` blocks
/// whose positions are shuffled at random (the same way in every channel).
/// Texture within a block survives; the object's layout does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingPuzzle {
    /// Blocks per side (Sec. 4.3).
    pub grid: usize,
}

impl SlidingPuzzle {
    /// A random block permutation for batches of `dims`; `grid` must divide
    /// the height and the width.
    pub fn permutation(
        &self,
        dims: [usize; 4],
        rng: &mut dyn rand::RngCore,
    ) -> Result<PixelPermutation> {
        let [n, c, h, w] = dims;
        let k = self.grid;
        if k == 0 || h % k != 0 || w % k != 0 {
            return Err(Error::InvalidParameter {
                name: "sliding-puzzle grid",
                problem: format!("{k} does not divide {h}x{w} images into equal blocks"),
            });
        }
        let (bh, bw) = (h / k, w / k);
        let mut source = Vec::with_capacity(n * c * h * w);
        for _ in 0..n {
            let mut blocks: Vec<usize> = (0..k * k).collect();
            blocks.shuffle(rng);
            let mut image = vec![0u32; h * w];
            for (dst_block, &src_block) in blocks.iter().enumerate() {
                let (dy, dx) = ((dst_block / k) * bh, (dst_block % k) * bw);
                let (sy, sx) = ((src_block / k) * bh, (src_block % k) * bw);
                for y in 0..bh {
                    for x in 0..bw {
                        image[(dy + y) * w + dx + x] = ((sy + y) * w + sx + x) as u32;
                    }
                }
            }
            for _ in 0..c {
                source.extend_from_slice(&image);
            }
        }
        PixelPermutation::new(dims, source)
    }
}

fn dims_of(x: &Tensor) -> Result<[usize; 4]> {
    let (n, c, h, w) = check_images(x)?;
    Ok([n, c, h, w])
}

impl Perturbation for ChannelTranslation {
    fn name(&self) -> &'static str {
        "channel-translation"
    }
    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("fraction", self.fraction)]
    }
    fn apply(&self, x: &Tensor, _rng: &mut dyn rand::RngCore) -> Result<Tensor> {
        self.permutation(dims_of(x)?)?.apply(x)
    }
}

impl Perturbation for CentreShuffle {
    fn name(&self) -> &'static str {
        "centre-shuffle"
    }
    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("area", self.area)]
    }
    fn apply(&self, x: &Tensor, rng: &mut dyn rand::RngCore) -> Result<Tensor> {
        self.permutation(dims_of(x)?, rng)?.apply(x)
    }
}

impl Perturbation for SlidingPuzzle {
    fn name(&self) -> &'static str {
        "sliding-puzzle"
    }
    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("grid", self.grid as f64)]
    }
    fn apply(&self, x: &Tensor, rng: &mut dyn rand::RngCore) -> Result<Tensor> {
        self.permutation(dims_of(x)?, rng)?.apply(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_core::Seed;

    fn ramp(dims: (usize, usize, usize, usize)) -> Tensor {
        let n = dims.0 * dims.1 * dims.2 * dims.3;
        Tensor::from_vec(
            (0..n).map(|i| i as f32 / n as f32).collect::<Vec<_>>(),
            dims,
            &Device::Cpu,
        )
        .unwrap()
    }

    fn flat(x: &Tensor) -> Vec<f32> {
        x.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn at(x: &Tensor, n: usize, c: usize, y: usize, xx: usize) -> f32 {
        x.get(n)
            .unwrap()
            .get(c)
            .unwrap()
            .get(y)
            .unwrap()
            .get(xx)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn channel_translation_moves_red_down_right_and_green_half_as_far() {
        let x = ramp((1, 3, 8, 8));
        let y = ChannelTranslation { fraction: 0.25 }
            .apply(&x, &mut Seed(0).stream("t"))
            .unwrap();
        // N = 2: red pixel (1, 1) moved to (3, 3); green (1, 1) to (2, 2); blue stays.
        assert_eq!(at(&y, 0, 0, 3, 3), at(&x, 0, 0, 1, 1));
        assert_eq!(at(&y, 0, 1, 2, 2), at(&x, 0, 1, 1, 1));
        assert_eq!(at(&y, 0, 2, 1, 1), at(&x, 0, 2, 1, 1));
        // Wraps around: red (7, 7) lands at (1, 1).
        assert_eq!(at(&y, 0, 0, 1, 1), at(&x, 0, 0, 7, 7));
        let gray = ramp((1, 1, 8, 8));
        assert!(ChannelTranslation { fraction: 0.25 }
            .apply(&gray, &mut Seed(0).stream("t"))
            .is_err());
    }

    #[test]
    fn centre_shuffle_keeps_the_border() {
        let x = ramp((2, 3, 8, 8));
        let p = CentreShuffle { area: 0.25 };
        assert_eq!(p.region(8, 8), (2, 2, 4, 4));
        let y = p.apply(&x, &mut Seed(1).stream("t")).unwrap();
        for n in 0..2 {
            for yy in 0..8 {
                for xx in 0..8 {
                    let inside = (2..6).contains(&yy) && (2..6).contains(&xx);
                    if !inside {
                        assert_eq!(at(&y, n, 0, yy, xx), at(&x, n, 0, yy, xx));
                    }
                }
            }
        }
        assert_ne!(flat(&y), flat(&x), "nothing was shuffled");
    }

    #[test]
    fn sliding_puzzle_moves_whole_blocks() {
        let x = ramp((1, 1, 4, 4));
        let perm = SlidingPuzzle { grid: 2 }
            .permutation([1, 1, 4, 4], &mut Seed(3).stream("t"))
            .unwrap();
        for block in 0..4 {
            let (by, bx) = ((block / 2) * 2, (block % 2) * 2);
            let s0 = perm.source()[by * 4 + bx] as usize;
            // The other three pixels of the block come from the same source block.
            assert_eq!(perm.source()[by * 4 + bx + 1] as usize, s0 + 1);
            assert_eq!(perm.source()[(by + 1) * 4 + bx] as usize, s0 + 4);
        }
        let y = perm.apply(&x).unwrap();
        let back = perm.inverse().apply(&y).unwrap();
        assert_eq!(flat(&back), flat(&x));
        let e = SlidingPuzzle { grid: 3 }
            .apply(&x, &mut Seed(0).stream("t"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 does not divide 4x4"), "{e}");
    }

    #[test]
    fn permutation_rejects_non_permutations() {
        assert!(PixelPermutation::new([1, 1, 2, 2], vec![0, 1, 1, 3]).is_err());
        assert!(PixelPermutation::new([1, 1, 2, 2], vec![0, 1, 2]).is_err());
        assert!(PixelPermutation::new([1, 1, 2, 2], vec![0, 1, 2, 4]).is_err());
        let e = CentreShuffle { area: -0.5 }
            .apply(&ramp((1, 3, 4, 4)), &mut Seed(0).stream("t"))
            .unwrap_err();
        assert!(e.to_string().contains("[0, 1]"));
    }
}
