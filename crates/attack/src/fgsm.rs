//! The fast gradient sign method.

use crate::attack::Attack;
use crate::error::Result;
use crate::input::check_batch;
use crate::norm::Norm;
use crate::objective::Objective;
use crate::threat::ThreatModel;
use candle_core::Tensor;
use rand::RngCore;
use sc_core::Classifier;

/// FGSM (Goodfellow et al. 2015, "Explaining and Harnessing Adversarial
/// Examples"): one step of size `eps` along the sign of the cross-entropy
/// gradient, `x + eps * sign(grad CE)`, clipped to `[0, 1]`. It is the
/// optimal Linf attack on a linear model and the baseline that an
/// iterative attack must beat (Carlini et al. 2019).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fgsm {
    threat: ThreatModel,
}

impl Fgsm {
    /// FGSM with Linf radius `eps` (finite, `>= 0`).
    pub fn new(eps: f64) -> Result<Self> {
        Ok(Fgsm {
            threat: ThreatModel::linf(eps)?,
        })
    }

    /// The Linf radius.
    pub fn eps(&self) -> f64 {
        self.threat.eps()
    }
}

impl Attack for Fgsm {
    fn name(&self) -> &'static str {
        "fgsm"
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("eps", self.eps())]
    }

    fn threat(&self) -> Option<ThreatModel> {
        Some(self.threat)
    }

    fn perturb(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        y: &Tensor,
        _rng: &mut dyn RngCore,
    ) -> Result<Tensor> {
        if check_batch(model, x, y)? == 0 {
            return Ok(x.clone());
        }
        let objective = Objective::Untargeted { labels: y.clone() };
        let s = objective.score_with_grad(model, x)?;
        let grad = s.grad.expect("score_with_grad returns a gradient");
        let step = Norm::Linf
            .ascent_direction(&grad)?
            .affine(self.eps(), 0.0)?;
        self.threat.project(x, &(x + step)?)
    }

    fn with_eps(&self, eps: f64) -> Result<Option<Box<dyn Attack>>> {
        Ok(Some(Box::new(Fgsm::new(eps)?)))
    }
}
