//! The norms of threat models and their per-sample helpers.
//!
//! Dependency direction inside the crate: `ops` (shape helpers) <- `norm`
//! <- `threat`, so no module imports one that imports it back.

use crate::error::{invalid_param, Error, Result};
use crate::ops;
use candle_core::{DType, Tensor};
use std::fmt;
use std::str::FromStr;

/// The norm of a threat model's ball.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Largest absolute pixel change (the paper's Sec. 4.4 and RobustBench's
    /// main track).
    Linf,
    /// Euclidean norm over all of `C x H x W` of one image.
    L2,
}

impl Norm {
    /// `linf` or `l2`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
        }
    }

    /// The steepest-ascent direction of unit norm for a gradient `[N, ...]`,
    /// per sample: `sign(g)` for Linf, `g / ||g||_2` for L2 (zero where the
    /// gradient vanishes, so a flat loss leaves the point where it is).
    pub(crate) fn ascent_direction(self, grad: &Tensor) -> Result<Tensor> {
        match self {
            Norm::Linf => Ok(grad.sign()?),
            Norm::L2 => {
                let norms = per_sample_norms(grad, Norm::L2)?;
                let inv: Vec<f64> = norms
                    .iter()
                    .map(|&n| {
                        if n > 0.0 && n.is_finite() {
                            1.0 / n
                        } else {
                            0.0
                        }
                    })
                    .collect();
                ops::scale_per_sample(grad, &inv)
            }
        }
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Norm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "linf" | "l_inf" | "inf" => Ok(Norm::Linf),
            "l2" | "l_2" => Ok(Norm::L2),
            other => Err(invalid_param("norm", other, "linf or l2")),
        }
    }
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
