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
//!
//! The module is split by concern: `geometry` (shapes, im2col/col2im
//! index maths), `schedule` (chunking and threads), `gemm` (the
//! passes as GEMMs) and `ops` (the candle custom ops and their backward).

mod gemm;
mod geometry;
mod ops;
mod schedule;

use candle_core::{bail, DType, Device, DeviceLocation, Result, Tensor};
use gemm::gradients;
use geometry::{check_out, Geom};
use ops::{Col2Im, Conv, ConvReluPool, Im2Col, ScaleRows};

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
        ConvImpl::auto_at(device.location(), dtype)
    }

    /// [`ConvImpl::auto`] by the device's location, so the choice for a GPU
    /// can be checked on a machine without one.
    pub fn auto_at(location: DeviceLocation, dtype: DType) -> ConvImpl {
        if ConvImpl::Fast.supports_at(location, dtype) {
            ConvImpl::Fast
        } else {
            ConvImpl::Candle
        }
    }

    /// Whether this implementation can run on `device` with `dtype`.
    pub fn supports(self, device: &Device, dtype: DType) -> bool {
        self.supports_at(device.location(), dtype)
    }

    /// [`ConvImpl::supports`] by the device's location.
    pub fn supports_at(self, location: DeviceLocation, dtype: DType) -> bool {
        match self {
            ConvImpl::Candle => true,
            ConvImpl::Fast => cpu_kernels_apply(location, dtype),
        }
    }
}

/// Whether this crate's CPU kernels (the convolution, the fused train-mode
/// BatchNorm+ReLU, the 2x2 max-pool, the BN-folding weight scale) may run
/// on tensors at `location` in `dtype`: only on the CPU in f32 or f64.
/// Every model path asks this one predicate, so on CUDA (and Metal) each op
/// falls back to candle's own kernels, whose backward candle provides; the
/// custom ops have no GPU implementation and would fail there.
pub fn cpu_kernels_apply(location: DeviceLocation, dtype: DType) -> bool {
    matches!(location, DeviceLocation::Cpu) && matches!(dtype, DType::F32 | DType::F64)
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

/// `max_pool_2x2(relu(conv2d(x, w) + bias))` as one op, the eval path of
/// a small-CNN stage followed by its pool (attacks, attributions): the
/// full-size ReLU output is not kept for the backward (one byte per window
/// says where its maximum was), and the backward writes the masked, routed
/// output gradient in one pass instead of the pool's zero fill and scatter,
/// then the ReLU's mask, as separate passes. Gives the bits of the two ops.
/// The output's height and width must be even.
pub fn conv2d_relu_pool(
    x: &Tensor,
    w: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let op = ConvReluPool {
        stride,
        padding,
        argmax: Default::default(),
    };
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &bias.contiguous()?, op)
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
    if !cpu_kernels_apply(w.device().location(), w.dtype()) {
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
