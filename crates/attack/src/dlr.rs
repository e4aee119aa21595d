//! The difference-of-logits-ratio losses of Croce & Hein 2020 ("Reliable
//! evaluation of adversarial robustness with an ensemble of diverse
//! parameter-free attacks", Sec. 4), written as the reference
//! implementation (`autoattack/autopgd_base.py`, `dlr_loss` and
//! `dlr_loss_targeted`) computes them, the `1e-12` included.
//!
//! Both are invariant to a positive rescaling (and a shift) of the logits,
//! which is why they still have a gradient where a saturated softmax gives
//! the cross-entropy none. The sort of the reference is done on the host
//! (its result is piecewise constant, so it carries no gradient); the
//! gradient flows through `gather` of the sorted entries, as autograd's
//! gradient of `sort` does.

use crate::error::{invalid_input, Result};
use crate::ops::to_u32_vec;
use candle_core::{DType, Tensor};

/// What the reference adds to the DLR denominators.
pub(crate) const DLR_DENOMINATOR_EPS: f64 = 1e-12;

/// Per sample, the classes ordered by logit, highest first (ties: lower
/// class index first).
fn ranked(logits: &Tensor) -> Result<Vec<Vec<u32>>> {
    let v: Vec<Vec<f64>> = logits.to_dtype(DType::F64)?.to_vec2()?;
    Ok(v.iter()
        .map(|row| {
            let mut order: Vec<u32> = (0..row.len() as u32).collect();
            order.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]));
            order
        })
        .collect())
}

/// `logits[i, idx[i]]` as `[N]`, differentiable in `logits`.
fn pick(logits: &Tensor, idx: Vec<u32>) -> Result<Tensor> {
    let n = idx.len();
    let idx = Tensor::from_vec(idx, (n, 1), logits.device())?;
    Ok(logits.gather(&idx, 1)?.squeeze(1)?)
}

fn need_classes(logits: &Tensor, at_least: usize, loss: &str) -> Result<usize> {
    let classes = logits.dim(1)?;
    if classes < at_least {
        return Err(invalid_input(
            "model",
            format!("{classes} classes: the {loss} loss needs at least {at_least}"),
        ));
    }
    Ok(classes)
}

/// The DLR loss per sample, `[N]`:
/// `-(z_y - max_{j != y} z_j) / (z_pi1 - z_pi3 + 1e-12)`, with `z_pi1 >=
/// z_pi2 >= ...` the sorted logits (reference `dlr_loss`). Needs at least 3
/// classes.
pub(crate) fn dlr_per_sample(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    need_classes(logits, 3, "DLR")?;
    let order = ranked(logits)?;
    let y = to_u32_vec(labels)?;
    let other: Vec<u32> = order
        .iter()
        .zip(&y)
        .map(|(o, &y)| if o[0] == y { o[1] } else { o[0] })
        .collect();
    let z_y = logits.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?;
    let z_other = pick(logits, other)?;
    let z1 = pick(logits, order.iter().map(|o| o[0]).collect())?;
    let z3 = pick(logits, order.iter().map(|o| o[2]).collect())?;
    let den = (z1 - z3)?.affine(1.0, DLR_DENOMINATOR_EPS)?;
    Ok((z_y - z_other)?.div(&den)?.neg()?)
}

/// The targeted DLR loss per sample, `[N]`:
/// `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)` (reference
/// `dlr_loss_targeted`). Needs at least 4 classes.
pub(crate) fn dlr_targeted_per_sample(
    logits: &Tensor,
    labels: &Tensor,
    targets: &Tensor,
) -> Result<Tensor> {
    need_classes(logits, 4, "targeted DLR")?;
    let order = ranked(logits)?;
    let z_y = logits.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?;
    let z_t = logits.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    let z1 = pick(logits, order.iter().map(|o| o[0]).collect())?;
    let z3 = pick(logits, order.iter().map(|o| o[2]).collect())?;
    let z4 = pick(logits, order.iter().map(|o| o[3]).collect())?;
    let den = (z1 - (z3 + z4)?.affine(0.5, 0.0)?)?.affine(1.0, DLR_DENOMINATOR_EPS)?;
    Ok((z_y - z_t)?.div(&den)?.neg()?)
}

/// The class with the `rank`-th highest logit of each sample (`rank` 1 is
/// the top class): APGD-T's target for its `rank`-th run (reference
/// `output.sort(dim=1)[1][:, -target_class]`).
pub(crate) fn class_at_rank(logits: &Tensor, rank: usize) -> Result<Vec<u32>> {
    Ok(ranked(logits)?.iter().map(|o| o[rank - 1]).collect())
}
