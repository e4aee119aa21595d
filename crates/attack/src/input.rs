//! Checks of the arguments of `perturb`, once per batch, so that a wrong
//! shape, label or pixel range is an error naming the argument rather than
//! a candle shape error deep inside an attack.

use crate::error::{invalid_input, Result};
use candle_core::{DType, Tensor};
use sc_core::Classifier;

/// Checks images `[N, C, H, W]` (float, in `[0, 1]`, the model's input
/// shape) and labels `[N]` (u32, below the class count); returns `N`.
pub(crate) fn check_batch(model: &dyn Classifier, x: &Tensor, y: &Tensor) -> Result<usize> {
    let dims = x.dims();
    if dims.len() != 4 {
        return Err(invalid_input(
            "images",
            format!("shape {dims:?}: expected [N, C, H, W]"),
        ));
    }
    if !x.dtype().is_float() {
        return Err(invalid_input(
            "images",
            format!(
                "dtype {:?}: expected f32 (or another float type) pixels in [0, 1]",
                x.dtype()
            ),
        ));
    }
    let expected = model.input_shape();
    if dims[1..] != expected {
        return Err(invalid_input(
            "images",
            format!(
                "shape {dims:?}: model {} expects [N, {}, {}, {}]",
                model.name(),
                expected[0],
                expected[1],
                expected[2]
            ),
        ));
    }
    let n = dims[0];
    check_labels(y, n, model.num_classes(), "labels")?;
    if n > 0 {
        let inside = x.ge(0.0)?.mul(&x.le(1.0)?)?;
        let all: u8 = inside.flatten_all()?.min(0)?.to_scalar()?;
        if all == 0 {
            let lo: f64 = x.min_all()?.to_dtype(DType::F64)?.to_scalar()?;
            let hi: f64 = x.max_all()?.to_dtype(DType::F64)?.to_scalar()?;
            return Err(invalid_input(
                "images",
                format!(
                    "pixel values span [{lo}, {hi}] (or include NaN): expected [0, 1]; \
                     normalisation belongs inside the model"
                ),
            ));
        }
    }
    Ok(n)
}

/// Checks class indices `[n]`, u32, each below `classes`.
pub(crate) fn check_labels(y: &Tensor, n: usize, classes: usize, what: &'static str) -> Result<()> {
    if y.dims() != [n] {
        return Err(invalid_input(
            what,
            format!("shape {:?}: expected [{n}], one per image", y.dims()),
        ));
    }
    if y.dtype() != DType::U32 {
        return Err(invalid_input(
            what,
            format!("dtype {:?}: expected u32 class indices", y.dtype()),
        ));
    }
    if n > 0 {
        let max: u32 = y.max_all()?.to_scalar()?;
        if max as usize >= classes {
            return Err(invalid_input(
                what,
                format!("class {max} is not below the model's class count {classes}"),
            ));
        }
    }
    Ok(())
}
