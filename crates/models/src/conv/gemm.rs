//! The three passes of a convolution as GEMMs on column matrices: the
//! forward, the input gradient and the weight gradient.

use super::geometry::{col2im_chunk, from_nchw, im2col_chunk, Geom};
use super::schedule::{scratch, threads, Exec};
use super::CHUNK_BYTES;
use crate::cpu::with_slice;
use candle_core::{bail, DType, Result, Tensor, WithDType};
use rayon::prelude::*;

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

/// The forward pass: `[N, O, OH, OW]` from contiguous `x`, `w` and `bias`.
/// Per image, `out = W · cols` straight into NCHW (for a pointwise conv
/// the image itself is its column matrix).
pub(super) fn forward<T: WithDType>(
    g: &Geom,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    relu: bool,
) -> Vec<T> {
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
pub(super) fn gradients(
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
