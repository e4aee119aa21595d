//! The orthonormal 2-D DCT-II basis and its diagonal frequency bands, the
//! subspaces along which Ortiz-Jimenez et al. 2020 ("Hold me tight!
//! Influence of discriminative features on deep network boundaries",
//! Sec. 3) measure margins: band `b` holds the `size x size` basis images
//! with vertical and horizontal frequencies in `[start, start + size)`,
//! `start = b * step`, on every channel, so low bands are smooth patterns
//! and high bands fine checkerboards.
//!
//! The basis is the orthonormal DCT-II (scipy's `dct(norm="ortho")`, which
//! the companion code uses): `C[k][n] = s_k cos(pi (2n + 1) k / (2N))` with
//! `s_0 = sqrt(1/N)`, `s_k = sqrt(2/N)`; basis image `(u, v)` of an `H x W`
//! plane is `C_H[u][i] * C_W[v][j]`.

use crate::{Error, Result};
use candle_core::{Device, Tensor};
use std::ops::Range;

/// The orthonormal DCT-II matrix of length `n`, row-major: row `k` is the
/// `k`-th basis vector (frequency `k`), so the transform of `x` is `C x`.
pub fn dct_matrix(n: usize) -> Vec<f64> {
    let nf = n as f64;
    let mut c = Vec::with_capacity(n * n);
    for k in 0..n {
        let scale = if k == 0 {
            (1.0 / nf).sqrt()
        } else {
            (2.0 / nf).sqrt()
        };
        for i in 0..n {
            let angle = std::f64::consts::PI * (2 * i + 1) as f64 * k as f64 / (2.0 * nf);
            c.push(scale * angle.cos());
        }
    }
    c
}

/// One diagonal band of the DCT spectrum: frequencies `[start, start + size)`
/// on both axes, on every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DctBand {
    /// Position of the band, 0 = lowest frequencies.
    pub index: usize,
    /// First frequency (row and column) of the band.
    pub start: usize,
    /// Frequencies per axis.
    pub size: usize,
}

impl DctBand {
    /// The dimension of the band's subspace for `channels` channels:
    /// `size^2 * channels`.
    pub fn dim(&self, channels: usize) -> usize {
        self.size * self.size * channels
    }

    /// The frequencies of the band along one axis.
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.size
    }

    /// The band's orthonormal basis, see [`block_basis`].
    pub fn basis(&self, shape: [usize; 3], device: &Device) -> Result<Tensor> {
        block_basis(shape, self.range(), self.range(), device)
    }
}

/// The diagonal bands of images of `shape` `[C, H, W]`, as the companion
/// code lists them: `size x size` blocks starting at `(0, 0)` and moving
/// down the diagonal by `step` while the block fits. `size` must divide
/// both `H` and `W` (so that with `step = size` the bands tile the
/// diagonal); `size` and `step` at least 1.
pub fn diagonal_bands(shape: [usize; 3], size: usize, step: usize) -> Result<Vec<DctBand>> {
    let [_, h, w] = shape;
    let bad = |problem: String| Error::InvalidArgument {
        name: "band",
        problem,
    };
    if size == 0 || step == 0 {
        return Err(bad(format!(
            "band size {size}, step {step}: expected both at least 1"
        )));
    }
    if h % size != 0 || w % size != 0 {
        return Err(bad(format!(
            "band size {size} does not divide the {h}x{w} images"
        )));
    }
    let side = h.min(w);
    Ok((0..)
        .map(|b| b * step)
        .take_while(|start| start + size <= side)
        .enumerate()
        .map(|(index, start)| DctBand { index, start, size })
        .collect())
}

/// The orthonormal basis `[rows.len() * cols.len() * C, C * H * W]` (one
/// basis image per row, channel-major) of the DCT-II coefficients with
/// vertical frequency in `rows` and horizontal frequency in `cols`, on
/// every channel of `[C, H, W]` images: the subspace that
/// [`sc_attack::DeepFoolConfig::subspace`] takes. f32, built in f64.
pub fn block_basis(
    shape: [usize; 3],
    rows: Range<usize>,
    cols: Range<usize>,
    device: &Device,
) -> Result<Tensor> {
    let [c, h, w] = shape;
    if rows.is_empty() || cols.is_empty() || rows.end > h || cols.end > w {
        return Err(Error::InvalidArgument {
            name: "band",
            problem: format!(
                "frequencies {rows:?} x {cols:?}: expected non-empty ranges within the {h}x{w} images"
            ),
        });
    }
    let (ch, cw) = (dct_matrix(h), dct_matrix(w));
    let d = c * h * w;
    let k = rows.len() * cols.len() * c;
    let mut out = vec![0f32; k * d];
    let mut row = 0;
    for channel in 0..c {
        for u in rows.clone() {
            for v in cols.clone() {
                let plane = &mut out[row * d + channel * h * w..][..h * w];
                for i in 0..h {
                    for j in 0..w {
                        plane[i * w + j] = (ch[u * h + i] * cw[v * w + j]) as f32;
                    }
                }
                row += 1;
            }
        }
    }
    Ok(Tensor::from_vec(out, (k, d), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sum_i a_i b_i` of two rows of a `[k, d]` basis, in f64.
    fn dot(basis: &[Vec<f32>], a: usize, b: usize) -> f64 {
        basis[a]
            .iter()
            .zip(&basis[b])
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    fn rows_of(t: &Tensor) -> Vec<Vec<f32>> {
        t.to_vec2().unwrap()
    }

    /// Every entry against the closed form written out independently
    /// (cosines of the half-sample grid), and the Gram matrix against the
    /// identity by a naive loop: tolerance 1e-6 (f32 storage).
    #[test]
    fn the_basis_is_the_closed_form_dct_and_orthonormal() {
        let shape = [2, 8, 4];
        let b = rows_of(&block_basis(shape, 0..8, 0..4, &Device::Cpu).unwrap());
        assert_eq!(b.len(), 2 * 8 * 4, "a full basis of the 2x8x4 images");
        let pi = std::f64::consts::PI;
        let mut r = 0;
        for channel in 0..2 {
            for u in 0..8 {
                for v in 0..4 {
                    let su = if u == 0 {
                        0.125f64.sqrt()
                    } else {
                        0.25f64.sqrt()
                    };
                    let sv = if v == 0 {
                        0.25f64.sqrt()
                    } else {
                        0.5f64.sqrt()
                    };
                    for (p, &value) in b[r].iter().enumerate() {
                        let (ch, rest) = (p / 32, p % 32);
                        let (i, j) = (rest / 4, rest % 4);
                        let expected = if ch == channel {
                            su * sv
                                * ((2 * i + 1) as f64 * u as f64 * pi / 16.0).cos()
                                * ((2 * j + 1) as f64 * v as f64 * pi / 8.0).cos()
                        } else {
                            0.0
                        };
                        let got = f64::from(value);
                        assert!(
                            (got - expected).abs() < 1e-6,
                            "row {r} ({channel}, {u}, {v}) pixel {p}: {got} vs {expected}"
                        );
                    }
                    r += 1;
                }
            }
        }
        for a in 0..b.len() {
            for c in 0..b.len() {
                let expected = if a == c { 1.0 } else { 0.0 };
                let g = dot(&b, a, c);
                assert!((g - expected).abs() < 1e-6, "<b{a}, b{c}> = {g}");
            }
        }
    }

    /// With `step = size`, the diagonal bands tile the diagonal (their
    /// frequency ranges partition `[0, H)`) and are mutually orthogonal; and
    /// the grid of all `size x size` blocks, diagonal or not, partitions
    /// the whole spectrum: stacked, their bases form a square orthonormal
    /// matrix, so their projections sum to the identity.
    #[test]
    fn bands_partition_the_spectrum_when_the_step_is_the_size() {
        let shape = [3, 8, 8];
        let bands = diagonal_bands(shape, 4, 4).unwrap();
        assert_eq!(bands.len(), 2);
        let covered: Vec<usize> = bands.iter().flat_map(|b| b.range()).collect();
        assert_eq!(covered, (0..8).collect::<Vec<_>>());
        let b0 = rows_of(&bands[0].basis(shape, &Device::Cpu).unwrap());
        let b1 = rows_of(&bands[1].basis(shape, &Device::Cpu).unwrap());
        assert_eq!(b0.len(), bands[0].dim(3));
        let both: Vec<Vec<f32>> = b0.into_iter().chain(b1).collect();
        for a in 0..48 {
            for c in 48..96 {
                assert!(dot(&both, a, c).abs() < 1e-6, "bands overlap");
            }
        }

        let d = 3 * 8 * 8;
        let mut all: Vec<Vec<f32>> = Vec::new();
        for r in [0..4, 4..8] {
            for c in [0..4, 4..8] {
                all.extend(rows_of(
                    &block_basis(shape, r.clone(), c, &Device::Cpu).unwrap(),
                ));
            }
        }
        assert_eq!(all.len(), d, "the blocks hold every coefficient once");
        // sum_k b_k b_k^T = I: every pixel pair, a naive loop.
        for p in 0..d {
            for q in 0..d {
                let s: f64 = all
                    .iter()
                    .map(|row| f64::from(row[p]) * f64::from(row[q]))
                    .sum();
                let expected = if p == q { 1.0 } else { 0.0 };
                assert!((s - expected).abs() < 1e-5, "({p}, {q}): {s}");
            }
        }
    }

    /// `P = B^T B` is a projection: `P (P v) = P v`, `||P v|| <= ||v||`, and
    /// it keeps a vector of the band and removes one of another band.
    #[test]
    fn the_band_projection_is_idempotent() {
        let shape = [3, 16, 16];
        let bands = diagonal_bands(shape, 8, 4).unwrap();
        assert_eq!(
            bands.iter().map(|b| b.start).collect::<Vec<_>>(),
            [0, 4, 8],
            "overlapping bands at step 4"
        );
        let b = bands[1].basis(shape, &Device::Cpu).unwrap();
        let p = |v: &Tensor| v.matmul(&b.t().unwrap()).unwrap().matmul(&b).unwrap();
        let normals = sc_core::standard_normals(&mut sc_core::Seed(3).stream("test"), 5 * 768);
        let normals: Vec<f32> = normals.into_iter().map(|v| v as f32).collect();
        let v = Tensor::from_vec(normals, (5, 768), &Device::Cpu).unwrap();
        let pv = p(&v);
        let ppv = p(&pv);
        let diff: f32 = (&ppv - &pv)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(diff < 1e-5, "P(Pv) - Pv = {diff}");
        let norms = |t: &Tensor| -> Vec<f32> {
            t.sqr()
                .unwrap()
                .sum(1)
                .unwrap()
                .sqrt()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        for (a, b) in norms(&pv).iter().zip(norms(&v)) {
            assert!(*a <= b + 1e-5 && *a > 0.0);
        }
        let inside = rows_of(&b)[7].clone();
        let inside = Tensor::from_vec(inside.clone(), (1, 768), &Device::Cpu).unwrap();
        let kept: f32 = (p(&inside) - &inside)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(kept < 1e-5);
        // Frequencies (0, 0) are in band 0 only.
        let dc = bands[0]
            .basis(shape, &Device::Cpu)
            .unwrap()
            .narrow(0, 0, 1)
            .unwrap();
        let gone: f32 = p(&dc)
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert!(gone < 1e-5);
    }

    #[test]
    fn bands_that_do_not_fit_the_images_are_errors() {
        let e = diagonal_bands([3, 32, 32], 5, 5).unwrap_err().to_string();
        assert!(e.contains("band size 5 does not divide the 32x32"), "{e}");
        assert!(diagonal_bands([3, 32, 32], 0, 8).is_err());
        assert!(diagonal_bands([3, 32, 32], 8, 0).is_err());
        // The companion's CIFAR setting: size 8, step 2 -> 13 bands.
        assert_eq!(diagonal_bands([3, 32, 32], 8, 2).unwrap().len(), 13);
        assert_eq!(diagonal_bands([3, 32, 32], 8, 8).unwrap().len(), 4);
    }
}
