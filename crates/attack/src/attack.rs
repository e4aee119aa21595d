//! The [`Attack`] trait.

use crate::error::Result;
use crate::threat::ThreatModel;
use candle_core::Tensor;
use rand::RngCore;
use sc_core::{Classifier, Seed};
use std::fmt;

/// An adversary: turns clean images into perturbed ones that the model
/// should get wrong.
///
/// `perturb` takes `x` `[N, C, H, W]` (float pixels in `[0, 1]`) and labels
/// `y` `[N]` (u32), and returns images of the same shape that lie in
/// [`Attack::threat`]'s ball around `x` (when it has one) and in `[0, 1]`
/// (the one exception: subspace [`crate::DeepFool`], which measures a
/// margin and does not clip, see there).
/// Attacks only call [`Classifier::logits`], which is eval-mode by contract,
/// so they cannot disturb BatchNorm statistics (Carlini et al. 2019, "On
/// Evaluating Adversarial Robustness": evaluate the deployed model).
/// Randomness comes only from `rng`.
pub trait Attack: Send + Sync + fmt::Debug {
    /// A stable name for reports, e.g. `pgd`.
    fn name(&self) -> &'static str;
    /// Numeric parameters for reports (eps, step size, steps, ...); the norm
    /// is in [`Attack::threat`].
    fn params(&self) -> Vec<(&'static str, f64)>;
    /// The ball the result lies in, or `None` for minimal-perturbation
    /// attacks such as DeepFool.
    fn threat(&self) -> Option<ThreatModel>;
    /// Adversarial versions of `x`.
    fn perturb(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        y: &Tensor,
        rng: &mut dyn RngCore,
    ) -> Result<Tensor>;
    /// The same attack with radius `eps` (and a schedule scaled to it), for
    /// the eps-grid sanity checks of [`crate::robustness`]; `None` when the
    /// attack has no radius.
    fn with_eps(&self, eps: f64) -> Result<Option<Box<dyn Attack>>> {
        let _ = eps;
        Ok(None)
    }
}

/// The random stream of restart `r`, derived from one draw of the caller's
/// generator: every run draws exactly once, so a run with `k` restarts sees
/// the same first restart as a run with one (and the caller's stream
/// advances the same way for any restart count).
pub(crate) struct Restarts(Seed);

impl Restarts {
    pub(crate) fn new(rng: &mut dyn RngCore) -> Self {
        Restarts(Seed(rng.next_u64()))
    }

    pub(crate) fn stream(&self, restart: usize) -> impl RngCore {
        self.0.index(restart as u64).stream("restart")
    }
}
