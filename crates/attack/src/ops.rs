//! Per-sample tensor helpers shared by the attacks (no norms: those live in
//! [`crate::norm`], which builds on this module, never the other way).

use crate::error::Result;
use candle_core::{DType, Tensor};

/// `[n, 1, 1, ...]` with the rank of `t`, for per-sample broadcasting.
fn sample_shape(t: &Tensor) -> Vec<usize> {
    let mut shape = vec![1; t.rank().max(1)];
    shape[0] = t.dims().first().copied().unwrap_or(0);
    shape
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

/// Rows `idx` of `t` (along the batch dimension), for running an attack on
/// the images still standing only.
pub(crate) fn gather_rows(t: &Tensor, idx: &[usize]) -> Result<Tensor> {
    let i: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
    let i = Tensor::from_vec(i, idx.len(), t.device())?;
    Ok(t.index_select(&i, 0)?)
}

/// `base` with its rows `idx` replaced by the rows of `rows` (row `p` of
/// `rows` goes to row `idx[p]`): the inverse of [`gather_rows`].
pub(crate) fn scatter_rows(base: &Tensor, idx: &[usize], rows: &Tensor) -> Result<Tensor> {
    let n = base.dim(0)?;
    let mut map: Vec<u32> = (0..n as u32).collect();
    for (p, &i) in idx.iter().enumerate() {
        map[i] = (n + p) as u32;
    }
    let map = Tensor::from_vec(map, n, base.device())?;
    let both = Tensor::cat(&[base, &rows.to_dtype(base.dtype())?], 0)?;
    Ok(both.index_select(&map, 0)?)
}
