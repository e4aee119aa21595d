//! Per-sample tensor helpers shared by the attacks.

use crate::error::Result;
use crate::threat::Norm;
use candle_core::{DType, Tensor};

/// `[n, 1, 1, ...]` with the rank of `t`, for per-sample broadcasting.
fn sample_shape(t: &Tensor) -> Vec<usize> {
    let mut shape = vec![1; t.rank().max(1)];
    shape[0] = t.dims().first().copied().unwrap_or(0);
    shape
}

/// Flattens everything but the batch dimension, in f64 so that norms of
/// large images do not lose digits.
fn flat_f64(t: &Tensor) -> Result<Tensor> {
    let n = t.dim(0)?;
    Ok(t.to_dtype(DType::F64)?.reshape((n, ()))?)
}

/// `||t_i||` per sample in `norm`, over all but the batch dimension.
pub(crate) fn per_sample_norms(t: &Tensor, norm: Norm) -> Result<Vec<f64>> {
    if t.dim(0)? == 0 {
        return Ok(Vec::new());
    }
    let flat = flat_f64(t)?;
    let v = match norm {
        Norm::Linf => flat.abs()?.max(1)?,
        Norm::L2 => flat.sqr()?.sum(1)?.sqrt()?,
    };
    Ok(v.to_vec1()?)
}

/// `||t_i||_1` per sample: the dual norm of Linf, which DeepFool needs.
pub(crate) fn per_sample_l1(t: &Tensor) -> Result<Vec<f64>> {
    if t.dim(0)? == 0 {
        return Ok(Vec::new());
    }
    Ok(flat_f64(t)?.abs()?.sum(1)?.to_vec1()?)
}

/// `t_i * factors[i]` per sample.
pub(crate) fn scale_per_sample(t: &Tensor, factors: &[f64]) -> Result<Tensor> {
    let f = Tensor::from_slice(factors, factors.len(), t.device())?
        .to_dtype(t.dtype())?
        .reshape(sample_shape(t))?;
    Ok(t.broadcast_mul(&f)?)
}

/// Row `i` of `on_true` where `mask[i]`, else of `on_false`.
pub(crate) fn select_per_sample(
    mask: &[bool],
    on_true: &Tensor,
    on_false: &Tensor,
) -> Result<Tensor> {
    if mask.iter().all(|&m| m) {
        return Ok(on_true.clone());
    }
    if !mask.iter().any(|&m| m) {
        return Ok(on_false.clone());
    }
    let m: Vec<u8> = mask.iter().map(|&b| u8::from(b)).collect();
    let m = Tensor::from_vec(m, mask.len(), on_true.device())?
        .reshape(sample_shape(on_true))?
        .broadcast_as(on_true.shape())?;
    Ok(m.where_cond(on_true, on_false)?)
}

/// A tensor `[N]` as f64 values on the host.
pub(crate) fn to_f64_vec(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_dtype(DType::F64)?.to_vec1()?)
}

/// Class indices `[N]` as u32 values on the host.
pub(crate) fn to_u32_vec(t: &Tensor) -> Result<Vec<u32>> {
    Ok(t.to_dtype(DType::U32)?.to_vec1()?)
}
