//! `sc-loss`: the quantities of semantic continuity (paper Sec. 2.1, 3).
//!
//! - [`ld`]: logits difference `LD(x, x') = F(x') - F(x)`, per sample.
//! - [`ds`]: distance score `DS(x, x') = ||LD(x, x')||_2^2`, per sample
//!   (summed over classes); [`ds_mean`] averages it over the batch, the
//!   paper's `Loss_continuity`. (The ALP reference code averages over
//!   classes too; an alpha tuned for that is off by the class count here.)
//! - [`kl`]: `KL(softmax F(x) || softmax F(x'))`, the TRADES-style
//!   alternative continuity term, batch mean.
//! - [`ContinuityLoss`]: `CE(F(x), y) + alpha * continuity(F(x), F(x'))`,
//!   differentiable through candle's autograd.
//!
//! All functions take logits `[N, K]` (f32 or f64) and work on any device.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use sc_loss::{ds, ContinuityLoss, ContinuityTerm};
//!
//! let clean = Tensor::new(&[[1.0f32, 2.0, 3.0]], &Device::Cpu)?;
//! let perturbed = Tensor::new(&[[1.0f32, 0.0, 3.0]], &Device::Cpu)?;
//! assert_eq!(ds(&clean, &perturbed)?.to_vec1::<f32>()?, vec![4.0]);
//!
//! let labels = Tensor::new(&[2u32], &Device::Cpu)?;
//! let loss = ContinuityLoss::new(1.0, ContinuityTerm::Ds)?.compute(&clean, &perturbed, &labels)?;
//! let (total, ce): (f32, f32) = (loss.total.to_scalar()?, loss.ce.to_scalar()?);
//! assert!((total - (ce + 4.0)).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use candle_core::{DType, Tensor, D};
use std::fmt;
use std::str::FromStr;

/// Errors of `sc-loss`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Logits or labels of the wrong shape or type.
    #[error("invalid {what}: {problem}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn check_pair(clean: &Tensor, perturbed: &Tensor) -> Result<(usize, usize)> {
    let (n, k) = clean.dims2().map_err(|_| Error::Invalid {
        what: "logits",
        problem: format!("shape {:?}: expected [N, classes]", clean.dims()),
    })?;
    if perturbed.dims() != clean.dims() {
        return Err(Error::Invalid {
            what: "perturbed logits",
            problem: format!(
                "shape {:?} differs from the clean logits' {:?}",
                perturbed.dims(),
                clean.dims()
            ),
        });
    }
    if !clean.dtype().is_float() || clean.dtype() != perturbed.dtype() {
        return Err(Error::Invalid {
            what: "logits",
            problem: format!(
                "dtypes {:?} and {:?}: expected one float type",
                clean.dtype(),
                perturbed.dtype()
            ),
        });
    }
    Ok((n, k))
}

/// Logits difference `F(x') - F(x)`, `[N, K]`.
pub fn ld(clean: &Tensor, perturbed: &Tensor) -> Result<Tensor> {
    check_pair(clean, perturbed)?;
    Ok((perturbed - clean)?)
}

/// Distance score per sample, `||F(x') - F(x)||_2^2`, `[N]`.
pub fn ds(clean: &Tensor, perturbed: &Tensor) -> Result<Tensor> {
    Ok(ld(clean, perturbed)?.sqr()?.sum(D::Minus1)?)
}

/// Batch mean of the distance score, a scalar: the paper's `Loss_continuity`.
pub fn ds_mean(clean: &Tensor, perturbed: &Tensor) -> Result<Tensor> {
    Ok(ds(clean, perturbed)?.mean_all()?)
}

/// `KL(softmax F(x) || softmax F(x'))` per sample, `[N]`, computed from
/// log-softmax for stability.
pub fn kl_per_sample(clean: &Tensor, perturbed: &Tensor) -> Result<Tensor> {
    check_pair(clean, perturbed)?;
    let lp = candle_nn::ops::log_softmax(clean, D::Minus1)?;
    let lq = candle_nn::ops::log_softmax(perturbed, D::Minus1)?;
    Ok((lp.exp()? * (lp - lq)?)?.sum(D::Minus1)?)
}

/// Batch mean of [`kl_per_sample`] (TRADES' `batchmean`).
pub fn kl(clean: &Tensor, perturbed: &Tensor) -> Result<Tensor> {
    Ok(kl_per_sample(clean, perturbed)?.mean_all()?)
}

/// Mean cross-entropy of `logits` `[N, K]` against class indices `labels` `[N]`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (n, k) = logits.dims2().map_err(|_| Error::Invalid {
        what: "logits",
        problem: format!("shape {:?}: expected [N, classes]", logits.dims()),
    })?;
    if labels.dims() != [n] {
        return Err(Error::Invalid {
            what: "labels",
            problem: format!("shape {:?}: expected [{n}]", labels.dims()),
        });
    }
    if labels.dtype() != DType::U32 && labels.dtype() != DType::I64 && labels.dtype() != DType::U8 {
        return Err(Error::Invalid {
            what: "labels",
            problem: format!("dtype {:?}: expected integer class indices", labels.dtype()),
        });
    }
    if n > 0 {
        let max: f64 = labels.max_all()?.to_dtype(DType::F64)?.to_scalar()?;
        if max >= k as f64 {
            return Err(Error::Invalid {
                what: "labels",
                problem: format!("label {max} is not below the class count {k}"),
            });
        }
    }
    Ok(candle_nn::loss::cross_entropy(logits, labels)?)
}

/// The continuity term of [`ContinuityLoss`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ContinuityTerm {
    /// Distance score, the paper's definition.
    #[default]
    Ds,
    /// KL divergence of the softmax outputs (TRADES-style).
    Kl,
}

impl ContinuityTerm {
    /// `ds` or `kl`.
    pub fn name(self) -> &'static str {
        match self {
            ContinuityTerm::Ds => "ds",
            ContinuityTerm::Kl => "kl",
        }
    }

    /// The term's batch mean for a pair of logits.
    pub fn compute(self, clean: &Tensor, perturbed: &Tensor) -> Result<Tensor> {
        match self {
            ContinuityTerm::Ds => ds_mean(clean, perturbed),
            ContinuityTerm::Kl => kl(clean, perturbed),
        }
    }
}

impl FromStr for ContinuityTerm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ds" => Ok(ContinuityTerm::Ds),
            "kl" => Ok(ContinuityTerm::Kl),
            other => Err(Error::Invalid {
                what: "continuity term",
                problem: format!("{other:?}: expected ds or kl"),
            }),
        }
    }
}

impl fmt::Display for ContinuityTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `Loss = CE(F(x), y) + alpha * continuity(F(x), F(x'))` (paper Sec. 2.1;
/// with `x'` from PGD and the DS term this is Adversarial Logit Pairing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuityLoss {
    alpha: f64,
    term: ContinuityTerm,
}

/// The parts of a [`ContinuityLoss`], each a scalar tensor in the graph.
#[derive(Debug, Clone)]
pub struct LossTerms {
    /// `ce + alpha * continuity`: the tensor to differentiate.
    pub total: Tensor,
    /// Cross-entropy on the clean logits.
    pub ce: Tensor,
    /// The continuity term, before weighting by alpha.
    pub continuity: Tensor,
}

impl ContinuityLoss {
    /// `alpha` must be finite and non-negative (0 gives plain cross-entropy).
    pub fn new(alpha: f64, term: ContinuityTerm) -> Result<Self> {
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(Error::Invalid {
                what: "alpha",
                problem: format!("{alpha}: expected a finite number >= 0"),
            });
        }
        Ok(ContinuityLoss { alpha, term })
    }

    /// The weight of the continuity term.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The continuity term.
    pub fn term(&self) -> ContinuityTerm {
        self.term
    }

    /// The loss of clean logits `F(x)`, perturbed logits `F(x')` and labels.
    pub fn compute(
        &self,
        clean: &Tensor,
        perturbed: &Tensor,
        labels: &Tensor,
    ) -> Result<LossTerms> {
        let ce = cross_entropy(clean, labels)?;
        let continuity = self.term.compute(clean, perturbed)?;
        let total = (&ce + continuity.affine(self.alpha, 0.0)?)?;
        Ok(LossTerms {
            total,
            ce,
            continuity,
        })
    }
}

#[cfg(test)]
mod tests;
