//! Auto-PGD (Croce & Hein 2020) on the cross-entropy, the DLR loss or the
//! targeted DLR loss: APGD-CE and APGD-T, the two gradient attacks of
//! AutoAttack.

mod run;
mod schedule;

pub use schedule::{checkpoints, APGD_RHO};

use crate::attack::{Attack, Restarts};
use crate::dlr::class_at_rank;
use crate::error::{invalid_input, invalid_param, Result};
use crate::input::check_batch;
use crate::objective::{logits, Objective};
use crate::ops::{gather_rows, scatter_rows, to_u32_vec};
use crate::threat::ThreatModel;
use candle_core::{Tensor, D};
use rand::RngCore;
use sc_core::Classifier;

/// Momentum weight `alpha` of the update `x + alpha (z - x) + (1 - alpha)
/// (x - x_prev)` (Croce & Hein 2020, Sec. 3.1: "we use alpha = 0.75").
pub const APGD_ALPHA: f64 = 0.75;
/// The initial step size, in units of eps (Croce & Hein 2020: `eta^(0) = 2 eps`).
pub const APGD_INITIAL_STEP: f64 = 2.0;
/// AutoAttack's number of target classes for APGD-T (its standard version:
/// `n_target_classes = 9`).
pub const APGD_T_TARGETS: usize = 9;

/// The loss an [`Apgd`] ascends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApgdLoss {
    /// Cross-entropy to the label (APGD-CE).
    #[default]
    Ce,
    /// The difference-of-logits ratio to the label (APGD-DLR; at least 3
    /// classes): invariant to rescaling the logits.
    Dlr,
    /// The targeted DLR loss (APGD-T; at least 4 classes): one run per
    /// target, the classes with the 2nd, 3rd, ... `targets + 1`-th highest
    /// clean logit (at most `classes - 1` of them), each on the images the
    /// runs before it left correctly classified.
    DlrTargeted {
        /// How many target classes (AutoAttack: [`APGD_T_TARGETS`]).
        targets: usize,
    },
}

/// The budget of an [`Apgd`] attack; checked by [`Apgd::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApgdConfig {
    /// The ball (Linf, as in AutoAttack's standard version, or L2).
    pub threat: ThreatModel,
    /// Iterations `N_iter` of each run (AutoAttack: 100).
    pub steps: usize,
    /// Runs from independent random starts (per target for APGD-T), each on
    /// the images the runs before it left correctly classified.
    pub restarts: usize,
    /// The loss.
    pub loss: ApgdLoss,
}

impl ApgdConfig {
    /// 100 iterations, one restart, cross-entropy (AutoAttack's standard APGD-CE).
    pub fn new(threat: ThreatModel) -> Self {
        ApgdConfig {
            threat,
            steps: 100,
            restarts: 1,
            loss: ApgdLoss::Ce,
        }
    }

    /// 100 iterations, one restart, targeted DLR with 9 targets
    /// (AutoAttack's standard APGD-T).
    pub fn targeted(threat: ThreatModel) -> Self {
        ApgdConfig {
            loss: ApgdLoss::DlrTargeted {
                targets: APGD_T_TARGETS,
            },
            ..ApgdConfig::new(threat)
        }
    }
}

/// APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness
/// with an ensemble of diverse parameter-free attacks", Algorithm 1): PGD
/// without a step-size parameter. Each run follows the reference
/// implementation step for step (see `run::single_run`: per-example step
/// size from `2 eps`, momentum 0.75, halving at the checkpoints of
/// [`checkpoints`] under conditions 1 and 2, restart from the best point).
///
/// As AutoAttack runs it, `perturb` attacks only the images still
/// correctly classified: those misclassified clean are returned as they
/// are, and each further run (restart or target) takes the images the
/// runs before it did not break. Success is misclassification for every
/// loss (APGD-T too: any class other than the label counts). Where the
/// reference draws its Linf start as `x + eps * t / max|t|`, `t` uniform in
/// `[-1, 1]`, we draw uniformly in the ball like [`crate::Pgd`]. Each image
/// gets its worst case over the iterates of the runs it took part in
/// (misclassified first; an image that was never broken gets the
/// highest-loss point of its last run). Restart `r` of target `t` draws
/// from a stream derived from one draw of the caller's generator and
/// `(t, r)`, so more restarts never raise the adversarial accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Apgd {
    config: ApgdConfig,
}

/// APGD with the cross-entropy loss: the name of earlier versions of this
/// crate, kept for its callers (`ApgdCe::new(ApgdConfig::new(threat))`).
pub type ApgdCe = Apgd;

impl Apgd {
    /// Checks `steps >= 1`, `restarts >= 1` and, for APGD-T, `targets >= 1`.
    pub fn new(config: ApgdConfig) -> Result<Self> {
        if config.steps == 0 {
            return Err(invalid_param("steps", 0, "at least 1"));
        }
        if config.restarts == 0 {
            return Err(invalid_param("restarts", 0, "at least 1"));
        }
        if let ApgdLoss::DlrTargeted { targets: 0 } = config.loss {
            return Err(invalid_param("targets", 0, "at least 1 target class"));
        }
        Ok(Apgd { config })
    }

    /// The budget.
    pub fn config(&self) -> &ApgdConfig {
        &self.config
    }

    /// The checkpoint steps of an `steps`-iteration run (see [`checkpoints`]).
    pub fn checkpoints(steps: usize) -> Vec<usize> {
        checkpoints(steps)
    }

    /// The classes the loss needs (CE 2, DLR 3, targeted DLR 4).
    fn classes_needed(&self) -> usize {
        match self.config.loss {
            ApgdLoss::Ce => 2,
            ApgdLoss::Dlr => 3,
            ApgdLoss::DlrTargeted { .. } => 4,
        }
    }

    /// The target ranks (2nd, 3rd, ... highest clean logit) for `classes`;
    /// one pass without target for untargeted losses.
    fn passes(&self, classes: usize) -> Vec<Option<usize>> {
        match self.config.loss {
            ApgdLoss::DlrTargeted { targets } => {
                (2..=targets.min(classes - 1) + 1).map(Some).collect()
            }
            _ => vec![None],
        }
    }
}

impl Attack for Apgd {
    fn name(&self) -> &'static str {
        match self.config.loss {
            ApgdLoss::Ce => "apgd-ce",
            ApgdLoss::Dlr => "apgd-dlr",
            ApgdLoss::DlrTargeted { .. } => "apgd-t",
        }
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        let mut p = vec![
            ("eps", self.config.threat.eps()),
            ("steps", self.config.steps as f64),
            ("restarts", self.config.restarts as f64),
            ("alpha", APGD_ALPHA),
            ("rho", APGD_RHO),
        ];
        if let ApgdLoss::DlrTargeted { targets } = self.config.loss {
            p.push(("targets", targets as f64));
        }
        p
    }

    fn threat(&self) -> Option<ThreatModel> {
        Some(self.config.threat)
    }

    fn perturb(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        y: &Tensor,
        rng: &mut dyn RngCore,
    ) -> Result<Tensor> {
        let n = check_batch(model, x, y)?;
        let restarts = Restarts::new(rng);
        if n == 0 {
            return Ok(x.clone());
        }
        let classes = model.num_classes();
        if classes < self.classes_needed() {
            return Err(invalid_input(
                "model",
                format!(
                    "{} has {classes} classes: {} needs at least {}",
                    model.name(),
                    self.name(),
                    self.classes_needed()
                ),
            ));
        }
        let c = &self.config;
        let labels = to_u32_vec(y)?;
        let clean = logits(model, x)?;
        let pred = to_u32_vec(&clean.argmax(D::Minus1)?)?;
        let mut broken: Vec<bool> = pred.iter().zip(&labels).map(|(p, y)| p != y).collect();
        let mut adv = x.clone();
        for (pass, rank) in self.passes(classes).into_iter().enumerate() {
            let targets = match rank {
                Some(r) => Some(class_at_rank(&clean, r)?),
                None => None,
            };
            for r in 0..c.restarts {
                let idx: Vec<usize> = (0..n).filter(|&i| !broken[i]).collect();
                if idx.is_empty() {
                    return Ok(adv);
                }
                let xs = gather_rows(x, &idx)?;
                let ys = gather_rows(y, &idx)?;
                let objective = match (&targets, c.loss) {
                    (Some(t), _) => {
                        let t: Vec<u32> = idx.iter().map(|&i| t[i]).collect();
                        Objective::DlrTargeted {
                            labels: ys,
                            targets: Tensor::from_vec(t, idx.len(), x.device())?,
                        }
                    }
                    (None, ApgdLoss::Dlr) => Objective::Dlr { labels: ys },
                    (None, _) => Objective::Untargeted { labels: ys },
                };
                let mut stream = restarts.stream(pass * c.restarts + r);
                let best = run::single_run(model, &xs, &objective, c.threat, c.steps, &mut stream)?;
                adv = scatter_rows(&adv, &idx, &best.adv)?;
                for (p, &i) in idx.iter().enumerate() {
                    broken[i] |= best.success[p];
                }
            }
        }
        Ok(adv)
    }

    fn with_eps(&self, eps: f64) -> Result<Option<Box<dyn Attack>>> {
        let config = ApgdConfig {
            threat: self.config.threat.with_eps(eps)?,
            ..self.config
        };
        Ok(Some(Box::new(Apgd::new(config)?)))
    }
}
