//! The shapes of one convolution and the index maths of im2col and its
//! adjoint col2im.

use super::schedule::for_chunks;
use candle_core::{bail, Result, Tensor, WithDType};

/// Output planes of at most this many pixels batch their GEMMs over a chunk.
const BATCHED_GEMM_MAX_P: usize = 64;

/// Below this many multiply-adds a conv runs on one thread.
const SMALL_MACS: usize = 1 << 20;

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) o: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) stride: usize,
    pub(super) pad: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
}

impl Geom {
    pub(super) fn new(
        x: (usize, usize, usize, usize),
        k: (usize, usize, usize, usize),
        stride: usize,
        pad: usize,
    ) -> Result<Geom> {
        let (n, c, h, w) = x;
        let (o, kc, kh, kw) = k;
        if kc != c {
            bail!("conv2d: input has {c} channels, kernel {kc} (groups are not supported)");
        }
        if stride == 0 || kh == 0 || kw == 0 {
            bail!("conv2d: kernel {kh}x{kw}, stride {stride}");
        }
        if h + 2 * pad < kh || w + 2 * pad < kw {
            bail!("conv2d: input {h}x{w} with padding {pad} is smaller than the kernel {kh}x{kw}");
        }
        Ok(Geom {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            stride,
            pad,
            oh: (h + 2 * pad - kh) / stride + 1,
            ow: (w + 2 * pad - kw) / stride + 1,
        })
    }

    /// Output pixels per image.
    pub(super) fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Rows of the column matrix (the GEMM's inner dimension).
    pub(super) fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the column matrix of the whole batch.
    pub(super) fn m(&self) -> usize {
        self.n * self.p()
    }

    pub(super) fn out_dims(&self) -> (usize, usize, usize, usize) {
        (self.n, self.o, self.oh, self.ow)
    }

    /// Fewer than [`SMALL_MACS`] multiply-adds per pass.
    pub(super) fn is_small(&self) -> bool {
        self.n * self.o * self.p() * self.k() < SMALL_MACS
    }

    /// Whether a chunk of `nb` images runs as one GEMM over all their
    /// columns rather than one per image: for small outputs (8x8 and
    /// below) a per-image GEMM is too narrow to keep the FMA units busy
    /// (measured 200 against 380 GFLOP/s on ResNet18's 4x4 layer).
    pub(super) fn batches_gemm(&self, nb: usize) -> bool {
        nb > 1 && self.p() <= BATCHED_GEMM_MAX_P && !self.is_pointwise()
    }

    /// A 1x1, stride-1, unpadded conv: each image `[C, H*W]` is its own
    /// column matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
}

pub(super) fn check_out(g: &Geom, dout: &Tensor) -> Result<()> {
    let d = g.out_dims();
    if dout.dims() != [d.0, d.1, d.2, d.3] {
        bail!(
            "conv2d gradient: output gradient of shape {:?}, expected {d:?}",
            dout.dims()
        );
    }
    Ok(())
}

/// The outputs `o` in `[lo, hi)` whose input `o*s + k - pad` lies in `[0, len)`.
fn valid(out: usize, len: usize, k: usize, s: usize, pad: usize) -> (usize, usize) {
    let lo = if pad > k { (pad - k).div_ceil(s) } else { 0 };
    let hi = if len + pad > k {
        ((len + pad - k - 1) / s + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// im2col of images `n0..n0+nb` of `x` (contiguous NCHW) into `cols [K, nb*P]`.
pub(super) fn im2col_chunk<T: WithDType>(
    g: &Geom,
    x: &[T],
    n0: usize,
    nb: usize,
    cols: &mut [T],
    par: bool,
) {
    let (p, hw, khw) = (g.p(), g.h * g.w, g.kh * g.kw);
    let (s, pad, ow) = (g.stride, g.pad, g.ow);
    let mc = nb * p;
    for_chunks(&mut cols[..g.k() * mc], mc, par, |k, row| {
        let (c, ky, kx) = (k / khw, (k / g.kw) % g.kh, k % g.kw);
        let (y0, y1) = valid(g.oh, g.h, ky, s, pad);
        let (x0, x1) = valid(ow, g.w, kx, s, pad);
        for b in 0..nb {
            let img = &x[((n0 + b) * g.c + c) * hw..][..hw];
            let dst = &mut row[b * p..(b + 1) * p];
            dst[..y0 * ow].fill(T::zero());
            dst[y1 * ow..].fill(T::zero());
            for oy in y0..y1 {
                let src = &img[(oy * s + ky - pad) * g.w..][..g.w];
                let d = &mut dst[oy * ow..(oy + 1) * ow];
                d[..x0].fill(T::zero());
                d[x1..].fill(T::zero());
                if x0 == x1 {
                    // No tap of this column inside the image (and `x0 + kx`
                    // may be below `pad`).
                } else if s == 1 {
                    let i0 = x0 + kx - pad;
                    d[x0..x1].copy_from_slice(&src[i0..i0 + (x1 - x0)]);
                } else {
                    for (ox, v) in d[x0..x1].iter_mut().enumerate() {
                        *v = src[(ox + x0) * s + kx - pad];
                    }
                }
            }
        }
    });
}

/// The adjoint of [`im2col_chunk`]: `dx` (the `nb` images of the chunk,
/// NCHW) is overwritten with the scatter-sum of `cols [K, nb*P]`.
pub(super) fn col2im_chunk<T: WithDType>(g: &Geom, cols: &[T], nb: usize, dx: &mut [T], par: bool) {
    let (p, hw) = (g.p(), g.h * g.w);
    let (s, pad, ow) = (g.stride, g.pad, g.ow);
    let mc = nb * p;
    for_chunks(&mut dx[..nb * g.c * hw], hw, par, |j, plane| {
        let (b, c) = (j / g.c, j % g.c);
        plane.fill(T::zero());
        for ky in 0..g.kh {
            let (y0, y1) = valid(g.oh, g.h, ky, s, pad);
            for kx in 0..g.kw {
                let (x0, x1) = valid(ow, g.w, kx, s, pad);
                if x0 == x1 {
                    continue;
                }
                let k = (c * g.kh + ky) * g.kw + kx;
                let row = &cols[k * mc + b * p..][..p];
                for oy in y0..y1 {
                    let src = &row[oy * ow..(oy + 1) * ow];
                    let dst = &mut plane[(oy * s + ky - pad) * g.w..][..g.w];
                    if s == 1 {
                        let i0 = x0 + kx - pad;
                        for (d, v) in dst[i0..i0 + (x1 - x0)].iter_mut().zip(&src[x0..x1]) {
                            *d += *v;
                        }
                    } else {
                        for (ox, v) in src[x0..x1].iter().enumerate() {
                            dst[(ox + x0) * s + kx - pad] += *v;
                        }
                    }
                }
            }
        }
    });
}

/// `dst [O, nb*P]` from `src [nb, O, P]` (NCHW).
pub(super) fn from_nchw<T: WithDType>(src: &[T], g: &Geom, nb: usize, dst: &mut [T], par: bool) {
    let (o, p) = (g.o, g.p());
    for_chunks(&mut dst[..o * nb * p], p, par, |j, d| {
        let (oc, b) = (j / nb, j % nb);
        d.copy_from_slice(&src[(b * o + oc) * p..][..p]);
    });
}
