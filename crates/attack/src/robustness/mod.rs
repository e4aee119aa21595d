//! Robust accuracy as a per-image worst case, with the sanity checks that
//! make it trustworthy.
//!
//! [`evaluate_ensemble`] runs an [`Ensemble`] of attacks over a set in
//! mini-batches: each attack only on the images still standing, so an
//! image counts as robust when it is classified correctly clean and under
//! every attack (AutoAttack's robust accuracy, Croce & Hein 2020).
//! [`Ensemble::auto`] is PGD (with its restarts), APGD-CE and APGD-T.
//! [`evaluate_with`] runs one attack the same way; its number is an upper
//! bound ([`RobustnessReport::upper_bound`]) that a stronger attack may
//! lower. Both report the checks of Carlini et al. 2019 ("On Evaluating
//! Adversarial Robustness", and its checklist), each a [`SanityCheck`]
//! with its numbers:
//!
//! - `threat-model`: every adversarial image lies in its attack's ball and
//!   in `[0, 1]` (an attack that leaves its ball reports meaningless numbers);
//! - `eps-zero`: the attack at eps = 0 gives exactly the clean predictions'
//!   correctness (catches randomness or train-mode behaviour in the model);
//! - `monotone-in-eps`: accuracy does not rise along a grid of radii
//!   (within a tolerance of a few samples, for random starts);
//! - `large-eps`: a radius that reaches every image (Linf 1, L2
//!   `sqrt(C H W)`) drives accuracy to about 0; otherwise the gradients do not
//!   lead the attack anywhere: possible gradient masking;
//! - `no-weaker-than-fgsm`: the attack is at least as strong as one
//!   gradient step (FGSM for Linf, Goodfellow et al. 2015; the normalised
//!   gradient step for L2);
//! - `apgd-no-weaker`: APGD (APGD-CE, then APGD-T on the images it left
//!   standing, as in the ensemble) breaks at most `tolerance` of the images
//!   the attack left standing. More is the signature of an attack that
//!   overstates robustness, and the check fails. When the evaluation is an
//!   ensemble whose later attacks are APGD, their results on the sanity
//!   images are reused (APGD never runs twice); the images they broke are
//!   already counted in the robust accuracy, so the check passes and says
//!   how many.
//!
//! The eps checks use the first attack of the ensemble (for `auto`, PGD) at
//! other radii through [`Attack::with_eps`] (the same schedule, scaled to
//! the radius) and are left out for attacks without a radius (DeepFool).
//! They run on the first [`SanityOptions::max_samples`] images, so they stay
//! cheap enough to run with every evaluation. Every check compares robust
//! accuracy: an image counts as robust when it is classified correctly both
//! clean and under the attack. The checks assume an untargeted attack; a
//! targeted or distance-score attack may rightly be weaker than FGSM.
//!
//! Randomness comes from the passed [`Seed`], one named stream per purpose
//! (`attack` for the first attack, `attack-<s>` for attack `s >= 1` of an
//! ensemble, `sanity-eps-zero`, `sanity-grid-<i>`, `sanity-large-eps`,
//! `sanity-fgsm`, `sanity-apgd`, `sanity-apgd-t`), each drawn through the
//! batches in order: the numbers depend on the seed and the batch size only.

mod checks;
mod ensemble;
mod stages;

pub use ensemble::Ensemble;

use crate::attack::Attack;
use crate::error::{invalid_input, invalid_param, Result};
use crate::input::check_batch;
use crate::ops::to_u32_vec;
use crate::threat::ThreatModel;
use candle_core::Tensor;
use sc_core::{Classifier, Seed};

/// Which sanity checks run, and on how much data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SanityOptions {
    /// Check that adversarial images lie in the ball and in `[0, 1]` (on the whole set).
    pub threat_model: bool,
    /// Check that eps = 0 reproduces clean accuracy exactly.
    pub eps_zero: bool,
    /// Check that accuracy does not rise along [`SanityOptions::grid`].
    pub monotone: bool,
    /// Check that a very large eps drives accuracy near 0.
    pub large_eps: bool,
    /// Check that the attack is no weaker than a single gradient step.
    pub vs_fgsm: bool,
    /// Check that APGD breaks no more than `tolerance` images the attack left standing.
    pub vs_apgd: bool,
    /// Radii of the monotonicity check, as fractions of the attack's eps.
    pub grid: Vec<f64>,
    /// The radius of the large-eps check; `None`: 1 for Linf, `sqrt(C H W)`
    /// for L2 (the whole pixel cube is reachable).
    pub large_eps_radius: Option<f64>,
    /// The large-eps check fails above this accuracy.
    pub large_eps_max_accuracy: f64,
    /// Samples by which a comparison may go the wrong way before it fails
    /// (random starts make small sets noisy).
    pub tolerance: usize,
    /// The checks (but `threat_model`) run on the first this-many images
    /// (at least 1); `None`: all.
    pub max_samples: Option<usize>,
    /// Iterations of each APGD run of the `apgd-no-weaker` check (AutoAttack: 100).
    pub apgd_steps: usize,
    /// Target classes of its APGD-T (AutoAttack: 9; capped at classes - 1;
    /// APGD-T is left out, and the check says so, for fewer than 4 classes).
    pub apgd_targets: usize,
}

impl Default for SanityOptions {
    /// All checks; grid eps x {0, 1/4, 1/2, 1}; accuracy <= 5% at the large
    /// eps; tolerance one sample; the first 200 images; APGD with 100
    /// iterations and 9 targets.
    fn default() -> Self {
        SanityOptions {
            threat_model: true,
            eps_zero: true,
            monotone: true,
            large_eps: true,
            vs_fgsm: true,
            vs_apgd: true,
            grid: vec![0.0, 0.25, 0.5, 1.0],
            large_eps_radius: None,
            large_eps_max_accuracy: 0.05,
            tolerance: 1,
            max_samples: Some(200),
            apgd_steps: 100,
            apgd_targets: crate::APGD_T_TARGETS,
        }
    }
}

impl SanityOptions {
    /// No checks at all.
    pub fn none() -> Self {
        SanityOptions {
            threat_model: false,
            eps_zero: false,
            monotone: false,
            large_eps: false,
            vs_fgsm: false,
            vs_apgd: false,
            ..SanityOptions::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if let Some(f) = self.grid.iter().find(|f| !(f.is_finite() && **f >= 0.0)) {
            return Err(invalid_param("grid", f, "finite fractions of eps, >= 0"));
        }
        if let Some(e) = self
            .large_eps_radius
            .filter(|e| !(e.is_finite() && *e > 0.0))
        {
            return Err(invalid_param("large_eps_radius", e, "a finite radius > 0"));
        }
        if !(0.0..=1.0).contains(&self.large_eps_max_accuracy) {
            return Err(invalid_param(
                "large_eps_max_accuracy",
                self.large_eps_max_accuracy,
                "an accuracy in [0, 1]",
            ));
        }
        if self.max_samples == Some(0) {
            return Err(invalid_param(
                "max_samples",
                0,
                "at least 1, or None for all",
            ));
        }
        if self.vs_apgd && self.apgd_steps == 0 {
            return Err(invalid_param("apgd_steps", 0, "at least 1"));
        }
        if self.vs_apgd && self.apgd_targets == 0 {
            return Err(invalid_param("apgd_targets", 0, "at least 1"));
        }
        Ok(())
    }
}

/// How [`evaluate_with`] runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalOptions {
    /// Images per call of the model and the attack.
    pub batch_size: usize,
    /// The sanity checks.
    pub sanity: SanityOptions,
}

impl Default for EvalOptions {
    /// Batches of 128 and every sanity check.
    fn default() -> Self {
        EvalOptions {
            batch_size: 128,
            sanity: SanityOptions::default(),
        }
    }
}

/// One sanity check of an evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SanityCheck {
    /// `threat-model`, `eps-zero`, `monotone-in-eps`, `large-eps`,
    /// `no-weaker-than-fgsm` or `apgd-no-weaker`.
    pub name: String,
    /// Whether the evaluation passed it; `false` is a flag to investigate.
    pub passed: bool,
    /// What was compared, and what a failure suggests.
    pub detail: String,
    /// The numbers behind it (accuracies, radii, counts).
    pub values: Vec<(String, f64)>,
}

/// One attack of an evaluation, in the order run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageReport {
    /// The attack's name.
    pub name: String,
    /// The attack's parameters.
    pub params: Vec<(String, f64)>,
    /// Images it attacked: those still standing before it.
    pub attacked: usize,
    /// Of those, the images it broke.
    pub broken: usize,
    /// Robust accuracy after it (over all images, counting every attack so far).
    pub accuracy: f64,
    /// Per image: still standing after it.
    pub standing: Vec<bool>,
    /// Wall time, seconds (the only number of a report that is not a
    /// function of the inputs and the seed).
    pub seconds: f64,
}

/// Clean and robust accuracy of a model under an attack or an ensemble.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RobustnessReport {
    /// The model's name.
    pub model: String,
    /// The attack's name, or the ensemble's (`auto`).
    pub attack: String,
    /// The first attack's ball, if it has one.
    pub threat: Option<ThreatModel>,
    /// The first attack's parameters.
    pub params: Vec<(String, f64)>,
    /// Images evaluated.
    pub n: usize,
    /// Images classified correctly.
    pub clean_correct: usize,
    /// Images classified correctly clean and under every attack.
    pub robust_correct: usize,
    /// `clean_correct / n`.
    pub clean_accuracy: f64,
    /// `robust_correct / n`: the per-image worst case over every attack run.
    pub robust_accuracy: f64,
    /// Per image: classified correctly clean and under every attack.
    pub robust: Vec<bool>,
    /// Whether `robust_accuracy` is only an upper bound that a stronger
    /// attack may lower (anything but [`Ensemble::auto`]).
    pub upper_bound: bool,
    /// The attacks in the order run, with the accuracy after each.
    pub stages: Vec<StageReport>,
    /// Images per batch.
    pub batch_size: usize,
    /// The seed all randomness came from.
    pub seed: Seed,
    /// Images the sanity checks ran on (the first ones).
    pub sanity_samples: usize,
    /// The sanity checks that ran.
    pub sanity: Vec<SanityCheck>,
}

impl RobustnessReport {
    /// Whether every sanity check passed.
    pub fn sanity_passed(&self) -> bool {
        self.sanity.iter().all(|c| c.passed)
    }

    /// The check called `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&SanityCheck> {
        self.sanity.iter().find(|c| c.name == name)
    }

    /// The names of the checks that failed.
    pub fn failed_checks(&self) -> Vec<&str> {
        self.sanity
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The attack called `name`, if it ran.
    pub fn stage(&self, name: &str) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.name == name)
    }
}

/// [`evaluate_with`] with [`EvalOptions::default`].
pub fn evaluate(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    attack: &dyn Attack,
    seed: Seed,
) -> Result<RobustnessReport> {
    evaluate_with(model, x, y, attack, seed, &EvalOptions::default())
}

/// Clean and robust accuracy of `model` on `x` `[N, C, H, W]`, `y` `[N]`
/// under one `attack` (run on the correctly classified images), with the
/// sanity checks of `options`. The result is an upper bound on robust
/// accuracy.
pub fn evaluate_with(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    attack: &dyn Attack,
    seed: Seed,
    options: &EvalOptions,
) -> Result<RobustnessReport> {
    evaluate_attacks(model, x, y, &[attack], attack.name(), false, seed, options)
}

/// Clean and robust accuracy of `model` on `x`, `y` under every attack of
/// `ensemble` in turn (each on the images still standing), with the sanity
/// checks of `options`.
pub fn evaluate_ensemble(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    ensemble: &Ensemble,
    seed: Seed,
    options: &EvalOptions,
) -> Result<RobustnessReport> {
    let attacks: Vec<&dyn Attack> = ensemble.attacks().iter().map(|a| a.as_ref()).collect();
    evaluate_attacks(
        model,
        x,
        y,
        &attacks,
        ensemble.name(),
        ensemble.is_worst_case(),
        seed,
        options,
    )
}

/// The evaluation behind [`evaluate_with`] and [`evaluate_ensemble`].
#[allow(clippy::too_many_arguments)]
fn evaluate_attacks(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    attacks: &[&dyn Attack],
    name: &str,
    worst_case: bool,
    seed: Seed,
    options: &EvalOptions,
) -> Result<RobustnessReport> {
    if options.batch_size == 0 {
        return Err(invalid_param("batch_size", 0, "at least 1"));
    }
    options.sanity.validate()?;
    let n = check_batch(model, x, y)?;
    if n == 0 {
        return Err(invalid_input("images", "no images to evaluate"));
    }
    let bs = options.batch_size;
    let labels = to_u32_vec(y)?;
    let clean = checks::clean_correct(model, x, &labels, bs)?;
    let runs = stages::run_all(model, x, y, &clean, attacks, bs, seed)?;
    let robust = runs
        .last()
        .expect("an ensemble has an attack")
        .standing
        .clone();
    let clean_count = checks::count(&clean);
    let robust_count = checks::count(&robust);
    let first = attacks[0];

    let o = &options.sanity;
    let mut sanity = Vec::new();
    if o.threat_model {
        sanity.push(checks::threat_model(attacks, &runs));
    }
    let m = o.max_samples.unwrap_or(n).min(n);
    if let Some(threat) = first.threat() {
        let ctx = checks::Context {
            model,
            attack: first,
            threat,
            seed,
            options: o,
            subset: checks::Subset::new(x, y, &clean, &runs, m, bs)?,
        };
        let mut at_zero = None;
        if o.eps_zero {
            if let Some((check, robust_at_zero)) = ctx.eps_zero()? {
                sanity.push(check);
                at_zero = Some(robust_at_zero);
            }
        }
        if o.monotone {
            sanity.extend(ctx.monotone(at_zero)?);
        }
        if o.large_eps {
            sanity.push(ctx.large_eps(x.elem_count() / n)?);
        }
        if o.vs_fgsm {
            sanity.push(ctx.vs_fgsm()?);
        }
        if o.vs_apgd {
            sanity.push(if attacks.len() > 1 {
                ctx.vs_apgd_reused(attacks, &runs)
            } else {
                ctx.vs_apgd()?
            });
        }
    }

    let stages = runs
        .into_iter()
        .zip(attacks)
        .map(|(r, a)| StageReport {
            name: a.name().to_string(),
            params: a
                .params()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            attacked: r.attacked,
            broken: r.broken,
            accuracy: checks::count(&r.standing) as f64 / n as f64,
            standing: r.standing,
            seconds: r.seconds,
        })
        .collect();
    Ok(RobustnessReport {
        model: model.name().to_string(),
        attack: name.to_string(),
        threat: first.threat(),
        params: first
            .params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        n,
        clean_correct: clean_count,
        robust_correct: robust_count,
        clean_accuracy: clean_count as f64 / n as f64,
        robust_accuracy: robust_count as f64 / n as f64,
        robust,
        upper_bound: !worst_case,
        stages,
        batch_size: bs,
        seed,
        sanity_samples: m,
        sanity,
    })
}
