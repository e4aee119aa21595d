//! The f32/f64 buffers behind candle's CPU tensors, for this crate's
//! custom ops (conv, BatchNorm, max-pool).

use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor, WithDType};

/// The contiguous `T` slice a layout views in a CPU storage (an error for
/// a strided view or another dtype).
pub(crate) fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => bail!("sc-models op: non-contiguous operand"),
    }
}

/// Runs `f` on the contiguous `T` data of a CPU tensor.
pub(crate) fn with_slice<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let (s, l) = t.storage_and_layout();
    let Storage::Cpu(s) = &*s else {
        bail!("sc-models op: CPU tensors only")
    };
    Ok(f(slice::<T>(s, l)?))
}
