//! Threat models: which perturbations an adversary may add (an eps-ball in
//! a norm, intersected with the valid pixel range).

use crate::error::{invalid_input, invalid_param, Error, Result};
use crate::norm::{per_sample_norms, Norm};
use crate::ops;
use candle_core::Tensor;
use rand::{Rng, RngCore};
use std::fmt;

/// An eps-ball around each clean image in a [`Norm`], intersected with the
/// pixel box `[0, 1]`. `eps` is in pixel units (8/255 for the paper's CIFAR
/// evaluation), because normalisation is the model's first layer.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawThreat")]
pub struct ThreatModel {
    norm: Norm,
    eps: f64,
}

#[derive(serde::Deserialize)]
struct RawThreat {
    norm: Norm,
    eps: f64,
}

impl TryFrom<RawThreat> for ThreatModel {
    type Error = Error;
    fn try_from(raw: RawThreat) -> Result<Self> {
        ThreatModel::new(raw.norm, raw.eps)
    }
}

impl ThreatModel {
    /// A ball of radius `eps` (finite and `>= 0`; 0 allows no change at all,
    /// which the eps = 0 sanity check relies on).
    pub fn new(norm: Norm, eps: f64) -> Result<Self> {
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(invalid_param(
                "eps",
                eps,
                "a finite number >= 0 (pixel units)",
            ));
        }
        Ok(ThreatModel { norm, eps })
    }

    /// An Linf ball of radius `eps`.
    pub fn linf(eps: f64) -> Result<Self> {
        ThreatModel::new(Norm::Linf, eps)
    }

    /// An L2 ball of radius `eps`.
    pub fn l2(eps: f64) -> Result<Self> {
        ThreatModel::new(Norm::L2, eps)
    }

    /// The norm of the ball.
    pub fn norm(&self) -> Norm {
        self.norm
    }

    /// The radius of the ball, in pixel units.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The same norm with another radius.
    pub fn with_eps(&self, eps: f64) -> Result<Self> {
        ThreatModel::new(self.norm, eps)
    }

    /// Maps `adv` into the eps-ball around `x` and then into `[0, 1]`.
    ///
    /// For Linf both sets are boxes, so this is the exact Euclidean
    /// projection onto their intersection. For L2 it rescales `adv - x` onto
    /// the ball and then clips to the box; clipping towards `x`'s box only
    /// shrinks every coordinate of the perturbation, so the result stays in
    /// both sets (the usual PGD-L2 step, not the exact projection onto the
    /// intersection).
    pub fn project(&self, x: &Tensor, adv: &Tensor) -> Result<Tensor> {
        if x.dims() != adv.dims() {
            return Err(invalid_input(
                "adversarial images",
                format!(
                    "shape {:?} differs from the clean images' {:?}",
                    adv.dims(),
                    x.dims()
                ),
            ));
        }
        let inside = match self.norm {
            Norm::Linf => {
                let lo = x.affine(1.0, -self.eps)?;
                let hi = x.affine(1.0, self.eps)?;
                adv.maximum(&lo)?.minimum(&hi)?
            }
            Norm::L2 => {
                let delta = (adv - x)?;
                let norms = per_sample_norms(&delta, Norm::L2)?;
                let factors: Vec<f64> = norms
                    .iter()
                    .map(|&n| if n > self.eps { self.eps / n } else { 1.0 })
                    .collect();
                (x + ops::scale_per_sample(&delta, &factors)?)?
            }
        };
        Ok(inside.clamp(0.0, 1.0)?)
    }

    /// Per-sample distance `||adv - x||` in this norm, computed in f64.
    pub fn distances(&self, x: &Tensor, adv: &Tensor) -> Result<Vec<f64>> {
        per_sample_norms(&(adv - x)?, self.norm)
    }

    /// A random point of the ball around `x` (within `[0, 1]`), for PGD's
    /// random start (Madry et al. 2018): uniform in the Linf ball; for L2 a
    /// uniformly random direction with radius `eps * U^(1/d)`, which is
    /// uniform in the L2 ball of dimension `d`.
    pub(crate) fn random_point(&self, x: &Tensor, rng: &mut dyn RngCore) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let n = dims.first().copied().unwrap_or(0);
        let numel = x.elem_count();
        let d = numel.checked_div(n).unwrap_or(0);
        let noise: Vec<f64> = match self.norm {
            Norm::Linf => (0..numel)
                .map(|_| rng.random_range(-1.0..=1.0) * self.eps)
                .collect(),
            Norm::L2 => {
                let mut v = Vec::with_capacity(numel);
                for _ in 0..n {
                    let g: Vec<f64> = (0..d).map(|_| standard_normal(rng)).collect();
                    let len = g.iter().map(|a| a * a).sum::<f64>().sqrt();
                    let u: f64 = rng.random();
                    let radius = self.eps * u.powf(1.0 / d.max(1) as f64);
                    let f = if len > 0.0 { radius / len } else { 0.0 };
                    v.extend(g.iter().map(|a| a * f));
                }
                v
            }
        };
        let noise = Tensor::from_vec(noise, dims, x.device())?.to_dtype(x.dtype())?;
        self.project(x, &(x + noise)?)
    }
}

impl fmt::Display for ThreatModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} eps={}", self.norm, self.eps)
    }
}

/// A standard normal draw by the Box-Muller transform (rand 0.9 without
/// `rand_distr`).
fn standard_normal(rng: &mut dyn RngCore) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
