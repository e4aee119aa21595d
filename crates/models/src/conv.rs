//! Fast 2-D convolution on the CPU: im2col + GEMM, with a backward that
//! computes only the gradients the graph needs.
//!
//! candle's CPU conv2d forward is reasonable, but its backward is slow: the
//! input gradient goes through `conv_transpose2d`, a direct dot-product
//! loop, and both gradients are always computed, even for detached weights
//! (so every attack step on a frozen model paid for a weight gradient).
//!
//! Here `x [N, C, H, W]` (f32 or f64) is unfolded into the column matrix
//! `cols [C*KH*KW, N*OH*OW]`: one row per kernel tap `(c, ky, kx)`, one
//! column per output pixel `(n, oy, ox)`. With stride 1 every row is made
//! of shifted copies of input rows (memcpy), and image `n`'s columns are a
//! `[K, OH*OW]` block, so
//! - forward: `out[n] = W [O, K] · cols[n]`, a GEMM per image written
//!   straight into NCHW (no output permute; a bias is the GEMM's initial
//!   value);
//! - input gradient: `dcols[n] = Wᵀ · dout[n]` per image, straight from
//!   NCHW, then `col2im` (the adjoint of im2col: a scatter-add of rows);
//! - weight gradient: `dW = Σ dout_chunk [O, nb*OH*OW] · cols_chunkᵀ`
//!   (one long GEMM per chunk of images; `dout` permuted per chunk, cols
//!   recomputed from `x`).
//!
//! The other layout, `[N*OH*OW, K]`, would make the GEMM produce NHWC and
//! need an output-sized permute in both directions, and its im2col gathers
//! across channel planes instead of copying rows.
//!
//! The GEMMs are the `gemm` crate, the one candle's matmul uses, called
//! with explicit strides, so transposes are never copied. The batch is
//! processed in chunks whose column matrix stays within [`CHUNK_BYTES`]
//! (cache-sized scratch, bounded memory); with at least two images per
//! thread, forward and input-gradient chunks run in parallel, each on one
//! thread. A 1x1 stride-1 unpadded conv needs no im2col: each image
//! `[C, H*W]` is its own column matrix.
//!
//! The op is a candle `CustomOp2` (`CustomOp3` with a bias): autograd works
//! as with `Tensor::conv2d`, and its backward asks each argument whether it
//! is tracked ([`Tensor::track_op`]), so detached weights cost no weight
//! gradient and an untracked input (e.g. the normalised pixels during
//! training) no input gradient. Results do not depend on the thread count.
//! CUDA and other dtypes are not handled: the models use candle's `conv2d`
//! there ([`ConvImpl`]).

use crate::cpu::{slice, with_slice};
use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape,
    Tensor, WithDType,
};
use rayon::prelude::*;

/// Which convolution the models use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvImpl {
    /// This module's im2col + GEMM (CPU, f32 and f64 only). In the eval
    /// path each BatchNorm is folded into the preceding conv.
    Fast,
    /// candle's `Tensor::conv2d` and `BatchNorm`, on any device and dtype.
    Candle,
}

impl ConvImpl {
    /// [`ConvImpl::Fast`] where it applies (CPU, f32 or f64), else
    /// [`ConvImpl::Candle`].
    pub fn auto(device: &Device, dtype: DType) -> ConvImpl {
        if ConvImpl::Fast.supports(device, dtype) {
            ConvImpl::Fast
        } else {
            ConvImpl::Candle
        }
    }

    /// Whether this implementation can run on `device` with `dtype`.
    pub fn supports(self, device: &Device, dtype: DType) -> bool {
        match self {
            ConvImpl::Candle => true,
            ConvImpl::Fast => device.is_cpu() && matches!(dtype, DType::F32 | DType::F64),
        }
    }
}

/// The column matrix of one chunk of images is kept under this size (or is
/// one image's, if larger), shared among the threads: large enough for
/// efficient GEMMs, small enough to stay in cache (2 and 4 MiB measured
/// within noise of this on the 2-core test machine, 32 MiB up to 1.5x slower).
pub const CHUNK_BYTES: usize = 8 << 20;

/// Cross-correlation as `Tensor::conv2d(w, padding, stride, 1, 1)` (PyTorch's
/// `Conv2d`, dilation 1, one group), plus an optional per-output-channel
/// `bias [O]`: `x [N, C, H, W]`, `w [O, C, KH, KW]`, output
/// `[N, O, OH, OW]`. CPU only, f32 or f64; gradients for `x`, `w` and
/// `bias` through candle's autograd.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    conv2d_with(x, w, bias, stride, padding, false)
}

/// `relu(conv2d(x, w, bias))` as one op: the ReLU is applied to each
/// image's output while it is in cache, and the backward masks the output
/// gradient once (candle's `relu` is a pass forward and three backward).
/// The eval path of conv-BN-ReLU units (attacks, attributions) uses it.
pub fn conv2d_relu(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    conv2d_with(x, w, bias, stride, padding, true)
}

fn conv2d_with(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    stride: usize,
    padding: usize,
    relu: bool,
) -> Result<Tensor> {
    let op = Conv {
        stride,
        padding,
        relu,
    };
    let x = x.contiguous()?;
    let w = w.contiguous()?;
    match bias {
        None => x.apply_op2(&w, op),
        Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
    }
}

/// `w [O, ...] * s [O]` (each output channel's kernel scaled), for folding
/// BatchNorm into a conv. A plain loop on the calling thread: candle's
/// parallel elementwise ops cost more in thread hand-offs than this takes
/// for any conv weight (measured 2-3x slower per tiny-batch forward).
pub fn scale_out_channels(w: &Tensor, s: &Tensor) -> Result<Tensor> {
    if !w.device().is_cpu() {
        let shape: Vec<usize> = (0..w.rank())
            .map(|i| if i == 0 { w.dim(0) } else { Ok(1) })
            .collect::<Result<_>>()?;
        return w.broadcast_mul(&s.reshape(shape)?);
    }
    w.contiguous()?.apply_op2(&s.contiguous()?, ScaleRows)
}

/// The input gradient of [`conv2d`] alone, for an input of shape
/// `input_dims`: `col2im(Wᵀ · dout)` (as `Tensor::conv_transpose2d`).
pub fn conv2d_input_grad(
    dout: &Tensor,
    w: &Tensor,
    input_dims: (usize, usize, usize, usize),
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let g = Geom::new(input_dims, w.dims4()?, stride, padding)?;
    check_out(&g, dout)?;
    let dout = dout.contiguous()?;
    let w = w.contiguous()?;
    let (dx, _) = gradients(&g, None, Some(&w), &dout, true, false)?;
    dx.ok_or_else(|| candle_core::Error::Msg("internal: no input gradient".into()))
}

/// The weight gradient of [`conv2d`] alone: `dout · im2col(x)ᵀ`, for a
/// kernel of `kh x kw`.
pub fn conv2d_weight_grad(
    x: &Tensor,
    dout: &Tensor,
    kernel: (usize, usize),
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (_, c, _, _) = x.dims4()?;
    let o = dout.dim(1)?;
    let g = Geom::new(x.dims4()?, (o, c, kernel.0, kernel.1), stride, padding)?;
    check_out(&g, dout)?;
    let x = x.contiguous()?;
    let dout = dout.contiguous()?;
    let (_, dw) = gradients(&g, Some(&x), None, &dout, false, true)?;
    dw.ok_or_else(|| candle_core::Error::Msg("internal: no weight gradient".into()))
}

/// The column matrix `[C*KH*KW, N*OH*OW]` of `x [N, C, H, W]`: row
/// `(c, ky, kx)`, column `(n, oy, ox)` holds `x[n, c, oy*s+ky-p, ox*s+kx-p]`
/// (zero outside the image). Differentiable: its backward is [`col2im`].
pub fn im2col(x: &Tensor, kernel: (usize, usize), stride: usize, padding: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let g = Geom::new((n, c, h, w), (1, c, kernel.0, kernel.1), stride, padding)?;
    x.contiguous()?.apply_op1(Im2Col(g))
}

/// The adjoint of [`im2col`]: scatter-adds `cols [C*KH*KW, N*OH*OW]` back
/// into an image batch of `input_dims`. Differentiable: its backward is
/// [`im2col`].
pub fn col2im(
    cols: &Tensor,
    input_dims: (usize, usize, usize, usize),
    kernel: (usize, usize),
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let g = Geom::new(
        input_dims,
        (1, input_dims.1, kernel.0, kernel.1),
        stride,
        padding,
    )?;
    if cols.dims() != [g.k(), g.m()] {
        bail!(
            "col2im: columns of shape {:?}, expected {:?}",
            cols.dims(),
            [g.k(), g.m()]
        );
    }
    cols.contiguous()?.apply_op1(Col2Im(g))
}

/// The shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
    oh: usize,
    ow: usize,
}

impl Geom {
    fn new(
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
    fn p(&self) -> usize {
        self.oh * self.ow
    }

    /// Rows of the column matrix (the GEMM's inner dimension).
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the column matrix of the whole batch.
    fn m(&self) -> usize {
        self.n * self.p()
    }

    fn out_dims(&self) -> (usize, usize, usize, usize) {
        (self.n, self.o, self.oh, self.ow)
    }

    /// Fewer than [`SMALL_MACS`] multiply-adds per pass.
    fn is_small(&self) -> bool {
        self.n * self.o * self.p() * self.k() < SMALL_MACS
    }

    /// Whether a chunk of `nb` images runs as one GEMM over all their
    /// columns rather than one per image: for small outputs (8x8 and
    /// below) a per-image GEMM is too narrow to keep the FMA units busy
    /// (measured 200 against 380 GFLOP/s on ResNet18's 4x4 layer).
    fn batches_gemm(&self, nb: usize) -> bool {
        nb > 1 && self.p() <= BATCHED_GEMM_MAX_P && !self.is_pointwise()
    }

    /// A 1x1, stride-1, unpadded conv: each image `[C, H*W]` is its own
    /// column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
}

fn check_out(g: &Geom, dout: &Tensor) -> Result<()> {
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

/// Calls `f(i, chunk)` on the `size`-element chunks of `s`, in parallel when `par`.
fn for_chunks<T: Send>(
    s: &mut [T],
    size: usize,
    par: bool,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if par {
        s.par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        s.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// im2col of images `n0..n0+nb` of `x` (contiguous NCHW) into `cols [K, nb*P]`.
fn im2col_chunk<T: WithDType>(g: &Geom, x: &[T], n0: usize, nb: usize, cols: &mut [T], par: bool) {
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
fn col2im_chunk<T: WithDType>(g: &Geom, cols: &[T], nb: usize, dx: &mut [T], par: bool) {
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

/// How a chunk's kernels run: memory loops in parallel or not, and the
/// GEMM's own threads.
#[derive(Clone, Copy)]
struct Exec {
    par: bool,
    gemm: gemm::Parallelism,
}

impl Exec {
    /// Sequential kernels, for chunks that themselves run in parallel.
    const SEQ: Exec = Exec {
        par: false,
        gemm: gemm::Parallelism::None,
    };

    /// Every kernel on all threads, for chunks run one after another;
    /// sequential for a small conv (thread wake-ups would cost more).
    fn inner(g: &Geom) -> Exec {
        match threads() {
            n if n > 1 && !g.is_small() => Exec {
                par: true,
                gemm: gemm::Parallelism::Rayon(n),
            },
            _ => Exec::SEQ,
        }
    }
}

/// candle's thread count (`RAYON_NUM_THREADS`, else the physical cores),
/// read once: candle's `get_num_threads` reads `/proc/cpuinfo` each call.
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| candle_core::utils::get_num_threads().max(1))
}

/// Output planes of at most this many pixels batch their GEMMs over a chunk.
const BATCHED_GEMM_MAX_P: usize = 64;

/// Below this many multiply-adds a conv runs on one thread.
const SMALL_MACS: usize = 1 << 20;

/// A matrix operand: pointer, row stride, column stride (in elements).
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rs: usize,
    cs: usize,
}

impl<T> Mat<T> {
    fn rows(s: &[T], rs: usize) -> Mat<T> {
        Mat {
            ptr: s.as_ptr(),
            rs,
            cs: 1,
        }
    }
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]`, `dst` row-major with row
/// stride `dst_rs`.
///
/// # Safety
/// Every operand must be valid for the extent its strides give, and `dst`
/// must not overlap the others.
unsafe fn matmul<T: WithDType>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
    e: Exec,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs.ptr,
        lhs.cs as isize,
        lhs.rs as isize,
        rhs.ptr,
        rhs.cs as isize,
        rhs.rs as isize,
        T::one(),
        T::one(),
        false,
        false,
        false,
        e.gemm,
    )
}

/// `dst [O, nb*P]` from `src [nb, O, P]` (NCHW).
fn from_nchw<T: WithDType>(src: &[T], g: &Geom, nb: usize, dst: &mut [T], par: bool) {
    let (o, p) = (g.o, g.p());
    for_chunks(&mut dst[..o * nb * p], p, par, |j, d| {
        let (oc, b) = (j / nb, j % nb);
        d.copy_from_slice(&src[(b * o + oc) * p..][..p]);
    });
}

/// `v[..len]`, grown (zero-filled) if needed: reused scratch space.
fn scratch<T: WithDType>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::zero());
    }
    &mut v[..len]
}

impl Geom {
    /// Images per chunk for a column-matrix budget of `bytes`.
    fn chunk<T>(&self, bytes: usize) -> usize {
        let per_image = self.k() * self.p() * std::mem::size_of::<T>();
        (bytes / per_image.max(1)).clamp(1, self.n.max(1))
    }

    /// Runs `f(n0, block, scratch, exec)` over the chunks of the batch,
    /// `block` being a chunk's `per_image`-element slices of `dst`. With
    /// enough images for every thread the chunks run in parallel, each on
    /// one thread (measured faster than chunks one after another with
    /// parallel kernels: no synchronisation, buffers in each core's
    /// cache). Each output element is computed by the same operations
    /// either way, so results do not depend on the thread count.
    fn for_each_chunk<T: WithDType>(
        &self,
        dst: &mut [T],
        per_image: usize,
        f: impl Fn(usize, &mut [T], &mut Vec<T>, Exec) + Sync + Send,
    ) {
        let t = threads();
        if t > 1 && self.n >= 2 * t && !self.is_small() {
            let nb = self.chunk::<T>(CHUNK_BYTES / t).min(self.n.div_ceil(t));
            dst.par_chunks_mut(nb * per_image)
                .enumerate()
                .for_each_init(Vec::new, |buf, (i, block)| f(i * nb, block, buf, Exec::SEQ));
        } else {
            let nb = self.chunk::<T>(CHUNK_BYTES);
            let mut buf = Vec::new();
            for (i, block) in dst.chunks_mut(nb * per_image).enumerate() {
                f(i * nb, block, &mut buf, Exec::inner(self));
            }
        }
    }
}

/// The forward pass: `[N, O, OH, OW]` from contiguous `x`, `w` and `bias`.
/// Per image, `out = W · cols` straight into NCHW (for a pointwise conv
/// the image itself is its column matrix).
fn forward<T: WithDType>(g: &Geom, x: &[T], w: &[T], bias: Option<&[T]>, relu: bool) -> Vec<T> {
    let (o, p, k) = (g.o, g.p(), g.k());
    let mut out = vec![T::zero(); g.n * o * p];
    g.for_each_chunk(&mut out, o * p, |n0, out, buf, e| {
        let nb = out.len() / (o * p);
        let mc = nb * p;
        if g.batches_gemm(nb) {
            // One GEMM for the chunk into [O, nb*P], then scattered to NCHW.
            let all = scratch(buf, (k + o) * mc);
            let (cols, tmp) = all.split_at_mut(k * mc);
            im2col_chunk(g, x, n0, nb, cols, e.par);
            // SAFETY: tmp [O, mc] = w [O, K] · cols [K, mc], in bounds.
            unsafe {
                matmul(
                    (o, mc, k),
                    tmp.as_mut_ptr(),
                    mc,
                    false,
                    Mat::rows(w, k),
                    Mat::rows(cols, mc),
                    e,
                )
            };
            let zero = T::zero();
            for (b, ob) in out.chunks_mut(o * p).enumerate() {
                for (oc, row) in ob.chunks_mut(p).enumerate() {
                    let bv = bias.map_or(zero, |bb| bb[oc]);
                    for (d, &v) in row.iter_mut().zip(&tmp[oc * mc + b * p..][..p]) {
                        let v = v + bv;
                        *d = if relu && v < zero { zero } else { v };
                    }
                }
            }
            return;
        }
        let cols = if g.is_pointwise() {
            &x[n0 * k * p..(n0 + nb) * k * p]
        } else {
            let cols = scratch(buf, k * mc);
            im2col_chunk(g, x, n0, nb, cols, e.par);
            cols
        };
        for (b, ob) in out.chunks_mut(o * p).enumerate() {
            // Image b's columns: [K, P] at column b*P of the chunk's
            // [K, nb*P] matrix; for a pointwise conv, the image [C, P].
            let rhs = if g.is_pointwise() {
                Mat::rows(&cols[b * k * p..], p)
            } else {
                Mat::rows(&cols[b * p..], mc)
            };
            if let Some(bias) = bias {
                for (row, &v) in ob.chunks_mut(p).zip(bias) {
                    row.fill(v);
                }
            }
            // SAFETY: ob [O, P] (+)= w [O, K] · rhs [K, P], in bounds.
            unsafe {
                matmul(
                    (o, p, k),
                    ob.as_mut_ptr(),
                    p,
                    bias.is_some(),
                    Mat::rows(w, k),
                    rhs,
                    e,
                )
            };
            if relu {
                let zero = T::zero();
                ob.iter_mut().for_each(|v| {
                    if *v < zero {
                        *v = zero
                    }
                });
            }
        }
    });
    out
}

/// The input gradient `[N, C, H, W]` from contiguous `w` and `dout`: per
/// image `dcols = Wᵀ · dout`, then col2im (for a pointwise conv, `dcols`
/// is the gradient).
fn input_grad<T: WithDType>(g: &Geom, w: &[T], dout: &[T]) -> Vec<T> {
    let (o, p, k) = (g.o, g.p(), g.k());
    let chw = g.c * g.h * g.w;
    // Wᵀ [K, O], once: each GEMM then packs it from contiguous rows
    // (measured 15% faster on 512-channel layers than strided packing).
    let mut wt = vec![T::zero(); k * o];
    for (ki, row) in wt.chunks_mut(o).enumerate() {
        for (oi, v) in row.iter_mut().enumerate() {
            *v = w[oi * k + ki];
        }
    }
    let mut dx = vec![T::zero(); g.n * chw];
    g.for_each_chunk(&mut dx, chw, |n0, dx, buf, e| {
        let nb = dx.len() / chw;
        let mc = nb * p;
        let dout = &dout[n0 * o * p..(n0 + nb) * o * p];
        if g.is_pointwise() {
            for (db, xb) in dout.chunks(o * p).zip(dx.chunks_mut(chw)) {
                // SAFETY: xb [C, P] = wt [C, O] · db [O, P].
                unsafe {
                    matmul(
                        (k, p, o),
                        xb.as_mut_ptr(),
                        p,
                        false,
                        Mat::rows(&wt, o),
                        Mat::rows(db, p),
                        e,
                    )
                };
            }
            return;
        }
        if g.batches_gemm(nb) {
            // One GEMM for the chunk: dcols [K, nb*P] = Wᵀ · dout as [O, nb*P].
            let all = scratch(buf, (k + o) * mc);
            let (cols, dt) = all.split_at_mut(k * mc);
            from_nchw(dout, g, nb, dt, e.par);
            // SAFETY: cols [K, mc] = wt [K, O] · dt [O, mc], in bounds.
            unsafe {
                matmul(
                    (k, mc, o),
                    cols.as_mut_ptr(),
                    mc,
                    false,
                    Mat::rows(&wt, o),
                    Mat::rows(dt, mc),
                    e,
                )
            };
            col2im_chunk(g, cols, nb, dx, e.par);
            return;
        }
        let cols = scratch(buf, k * mc);
        for (b, db) in dout.chunks(o * p).enumerate() {
            // SAFETY: image b's columns [K, P] (row stride mc) = wt [K, O] · db [O, P].
            unsafe {
                matmul(
                    (k, p, o),
                    cols[b * p..].as_mut_ptr(),
                    mc,
                    false,
                    Mat::rows(&wt, o),
                    Mat::rows(db, p),
                    e,
                )
            };
        }
        col2im_chunk(g, cols, nb, dx, e.par);
    });
    dx
}

/// The weight gradient `[O, C, KH, KW]` from contiguous `x` and `dout`:
/// `dW = Σ_chunks dout_chunk [O, nb*P] · cols_chunkᵀ`. The chunks' partial
/// products run in parallel, each on one thread (one GEMM per chunk has a
/// long reduction and a small output, which the GEMM's own threads split
/// badly), and are summed in chunk order. The chunk size depends on the
/// shape only, so results do not depend on the thread count.
fn weight_grad<T: WithDType>(g: &Geom, x: &[T], dout: &[T]) -> Vec<T> {
    let (o, p, k) = (g.o, g.p(), g.k());
    let nb = g.chunk::<T>(CHUNK_BYTES / 4);
    let chunks = g.n.div_ceil(nb);
    // Per chunk dWᵀ [K, O] = cols [K, mc] · doutᵀ [mc, O]: both operands
    // row-major, as the GEMM packs them fastest (dW = dout · colsᵀ would
    // read colsᵀ down its columns: 115 against 360 GFLOP/s measured on a
    // 64->64 3x3 conv at 32x32); transposing dout costs a pass over O·mc
    // values instead of K·mc.
    let partial = |i: usize, bufs: &mut (Vec<T>, Vec<T>), e: Exec| -> Vec<T> {
        let n0 = i * nb;
        let nb = nb.min(g.n - n0);
        let mc = nb * p;
        let cols = scratch(&mut bufs.0, k * mc);
        im2col_chunk(g, x, n0, nb, cols, e.par);
        let dt = scratch(&mut bufs.1, mc * o);
        for b in 0..nb {
            transpose(
                &dout[(n0 + b) * o * p..][..o * p],
                o,
                p,
                &mut dt[b * p * o..][..p * o],
            );
        }
        let mut dwt = vec![T::zero(); k * o];
        // SAFETY: dwt [K, O] = cols [K, mc] · dt [mc, O], in bounds.
        unsafe {
            matmul(
                (k, o, mc),
                dwt.as_mut_ptr(),
                o,
                false,
                Mat::rows(cols, mc),
                Mat::rows(dt, o),
                e,
            )
        };
        dwt
    };
    let parts: Vec<Vec<T>> = if threads() > 1 && chunks > 1 && !g.is_small() {
        (0..chunks)
            .into_par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |bufs, i| partial(i, bufs, Exec::SEQ),
            )
            .collect()
    } else {
        let mut bufs = (Vec::new(), Vec::new());
        (0..chunks)
            .map(|i| partial(i, &mut bufs, Exec::inner(g)))
            .collect()
    };
    let mut parts = parts.into_iter();
    let mut dwt = parts.next().unwrap_or_else(|| vec![T::zero(); k * o]);
    for part in parts {
        for (a, b) in dwt.iter_mut().zip(&part) {
            *a += *b;
        }
    }
    let mut dw = vec![T::zero(); o * k];
    transpose(&dwt, k, o, &mut dw);
    dw
}

/// `dst [cols, rows]` = `src [rows, cols]`ᵀ, both row-major, in 16x16 tiles.
fn transpose<T: Copy>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    dst[c * rows + r] = src[r * cols + c];
                }
            }
        }
    }
}

/// The gradients of the input (if `need_dx`; needs `w`) and of the weight
/// (if `need_dw`; needs `x`) from the output gradient `dout`, all
/// contiguous CPU tensors of one float dtype.
fn gradients(
    g: &Geom,
    x: Option<&Tensor>,
    w: Option<&Tensor>,
    dout: &Tensor,
    need_dx: bool,
    need_dw: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    match dout.dtype() {
        DType::F32 => gradients_t::<f32>(g, x, w, dout, need_dx, need_dw),
        DType::F64 => gradients_t::<f64>(g, x, w, dout, need_dx, need_dw),
        dt => bail!("sc-conv2d: f32 or f64 only, got {dt:?}"),
    }
}

fn gradients_t<T: WithDType>(
    g: &Geom,
    x: Option<&Tensor>,
    w: Option<&Tensor>,
    dout: &Tensor,
    need_dx: bool,
    need_dw: bool,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let missing = || candle_core::Error::Msg("internal: sc-conv2d gradient operand".into());
    let dev = dout.device();
    let dx = if need_dx {
        let w = w.ok_or_else(missing)?;
        let v = with_slice::<T, _>(w, |w| with_slice::<T, _>(dout, |d| input_grad(g, w, d)))??;
        Some(Tensor::from_vec(v, (g.n, g.c, g.h, g.w), dev)?)
    } else {
        None
    };
    let dw = if need_dw {
        let x = x.ok_or_else(missing)?;
        let v = with_slice::<T, _>(x, |x| with_slice::<T, _>(dout, |d| weight_grad(g, x, d)))??;
        Some(Tensor::from_vec(v, (g.o, g.c, g.kh, g.kw), dev)?)
    } else {
        None
    };
    Ok((dx, dw))
}

/// The convolution op; `CustomOp3` adds a bias.
#[derive(Debug, Clone, Copy)]
struct Conv {
    stride: usize,
    padding: usize,
    /// A ReLU on the output (see [`conv2d_relu`]).
    relu: bool,
}

impl Conv {
    fn geom(&self, x: &Layout, w: &Layout) -> Result<Geom> {
        Geom::new(
            x.shape().dims4()?,
            w.shape().dims4()?,
            self.stride,
            self.padding,
        )
    }

    fn fwd(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geom(x.1, w.1)?;
        if let Some((_, bl)) = b {
            if bl.dims() != [g.o] {
                bail!(
                    "sc-conv2d: bias of shape {:?}, expected [{}]",
                    bl.dims(),
                    g.o
                );
            }
        }
        let storage = match (x.0, w.0) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let bias = b.map(|(s, l)| slice::<f32>(s, l)).transpose()?;
                CpuStorage::F32(forward(
                    &g,
                    slice(x.0, x.1)?,
                    slice(w.0, w.1)?,
                    bias,
                    self.relu,
                ))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let bias = b.map(|(s, l)| slice::<f64>(s, l)).transpose()?;
                CpuStorage::F64(forward(
                    &g,
                    slice(x.0, x.1)?,
                    slice(w.0, w.1)?,
                    bias,
                    self.relu,
                ))
            }
            _ => bail!(
                "sc-conv2d: f32 or f64 of one dtype, got {:?} and {:?}",
                x.0.dtype(),
                w.0.dtype()
            ),
        };
        Ok((storage, Shape::from(g.out_dims())))
    }

    /// The output gradient before the ReLU: zero where the output is not positive.
    fn pre_relu_grad(&self, res: &Tensor, grad: &Tensor) -> Result<Tensor> {
        if !self.relu {
            return Ok(grad.clone());
        }
        fn masked<T: WithDType>(res: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let zero = T::zero();
            let v = with_slice::<T, _>(res, |y| {
                with_slice::<T, _>(grad, |g| {
                    let mut out = vec![zero; g.len()];
                    out.par_chunks_mut(1 << 14)
                        .zip(y.par_chunks(1 << 14).zip(g.par_chunks(1 << 14)))
                        .for_each(|(o, (y, g))| {
                            for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                                *o = if y > zero { g } else { zero };
                            }
                        });
                    out
                })
            })??;
            Tensor::from_vec(v, grad.dims(), grad.device())
        }
        let grad = grad.contiguous()?;
        match grad.dtype() {
            DType::F32 => masked::<f32>(res, &grad),
            DType::F64 => masked::<f64>(res, &grad),
            dt => bail!("sc-conv2d: f32 or f64 only, got {dt:?}"),
        }
    }

    fn bwd_xw(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (need_dx, need_dw) = (x.track_op(), w.track_op());
        if !(need_dx || need_dw) {
            return Ok((None, None));
        }
        let g = Geom::new(x.dims4()?, w.dims4()?, self.stride, self.padding)?;
        // x and w are contiguous: `conv2d` made them so before the op.
        gradients(&g, Some(x), Some(w), &grad.contiguous()?, need_dx, need_dw)
    }
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "sc-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        self.bwd_xw(x, w, &self.pre_relu_grad(res, grad)?)
    }
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        "sc-conv2d-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = &self.pre_relu_grad(res, grad)?;
        let (dx, dw) = self.bwd_xw(x, w, grad)?;
        let db = if b.track_op() {
            Some(grad.sum(3)?.sum(2)?.sum(0)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// [`scale_out_channels`] as an op.
struct ScaleRows;

impl CustomOp2 for ScaleRows {
    fn name(&self) -> &'static str {
        "sc-scale-rows"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(w: &[T], s: &[T]) -> Vec<T> {
            let row = w.len() / s.len().max(1);
            let mut out = w.to_vec();
            for (r, &v) in out.chunks_mut(row.max(1)).zip(s) {
                r.iter_mut().for_each(|x| *x *= v);
            }
            out
        }
        if l1.dims().first() != Some(&l2.shape().elem_count()) {
            bail!(
                "scale_out_channels: weight {:?}, scale {:?}",
                l1.dims(),
                l2.dims()
            );
        }
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(run(slice(s1, l1)?, slice(s2, l2)?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(slice(s1, l1)?, slice(s2, l2)?)),
            _ => bail!("scale_out_channels: f32 or f64 only"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        w: &Tensor,
        s: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let o = s.elem_count();
        let per_row = |t: &Tensor| t.reshape((o, w.elem_count() / o.max(1)));
        let dw = if w.track_op() {
            Some(
                per_row(grad)?
                    .broadcast_mul(&s.reshape((o, 1))?)?
                    .reshape(w.shape())?,
            )
        } else {
            None
        };
        let ds = if s.track_op() {
            Some((per_row(grad)? * per_row(w)?)?.sum(1)?.reshape(s.shape())?)
        } else {
            None
        };
        Ok((dw, ds))
    }
}

/// [`im2col`] as an op.
struct Im2Col(Geom);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "sc-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        fn run<T: WithDType>(g: &Geom, x: &[T]) -> Vec<T> {
            let mut cols = vec![T::zero(); g.k() * g.m()];
            im2col_chunk(g, x, 0, g.n, &mut cols, true);
            cols
        }
        let storage = match s {
            CpuStorage::F32(_) => CpuStorage::F32(run(g, slice(s, l)?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(g, slice(s, l)?)),
            _ => bail!("sc-im2col: f32 or f64 only"),
        };
        Ok((storage, Shape::from((g.k(), g.m()))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = &self.0;
        col2im(grad, (g.n, g.c, g.h, g.w), (g.kh, g.kw), g.stride, g.pad).map(Some)
    }
}

/// [`col2im`] as an op.
struct Col2Im(Geom);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "sc-col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        fn run<T: WithDType>(g: &Geom, cols: &[T]) -> Vec<T> {
            let mut dx = vec![T::zero(); g.n * g.c * g.h * g.w];
            col2im_chunk(g, cols, g.n, &mut dx, true);
            dx
        }
        let storage = match s {
            CpuStorage::F32(_) => CpuStorage::F32(run(g, slice(s, l)?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(g, slice(s, l)?)),
            _ => bail!("sc-col2im: f32 or f64 only"),
        };
        Ok((storage, Shape::from((g.n, g.c, g.h, g.w))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = &self.0;
        im2col(grad, (g.kh, g.kw), g.stride, g.pad).map(Some)
    }
}
