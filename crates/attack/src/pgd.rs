//! Projected gradient descent (ascent) on the loss, with random starts,
//! restarts and the per-example best iterate.

use crate::attack::{Attack, Restarts};
use crate::error::{invalid_param, Result};
use crate::input::{check_batch, check_labels};
use crate::objective::{logits, Best, Objective, Scored};
use crate::threat::ThreatModel;
use candle_core::{Tensor, D};
use rand::RngCore;
use sc_core::Classifier;

/// The loss an untargeted [`Pgd`] ascends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AttackLoss {
    /// Cross-entropy to the true label (Madry et al. 2018).
    #[default]
    Ce,
    /// The paper's distance score to the clean logits, `||F(x') - F(x)||^2`
    /// (Sec. 2.1): the worst-case continuity gap inside the ball rather than
    /// a misclassification. Iterates are ranked by the score alone.
    DsToClean,
}

/// The labels a targeted [`Pgd`] pushes towards.
#[derive(Debug, Clone)]
pub enum Target {
    /// One class per image, `[N]` u32 (must match the batch given to
    /// `perturb`, so it suits direct calls rather than mini-batched
    /// evaluation).
    Labels(Tensor),
    /// The class with the lowest clean logit of each image: the hardest
    /// target, a common choice in the targeted-attack literature.
    LeastLikely,
}

/// The schedule of a [`Pgd`] attack; checked by [`Pgd::new`].
#[derive(Debug, Clone)]
pub struct PgdConfig {
    /// The ball.
    pub threat: ThreatModel,
    /// Length of each step (pixel units): a sign step in Linf, a
    /// unit-gradient step in L2.
    pub step_size: f64,
    /// Number of gradient steps (`>= 1`).
    pub steps: usize,
    /// Start from a uniformly random point of the ball (Madry et al. 2018)
    /// rather than from the clean image.
    pub random_start: bool,
    /// Independent runs; the per-sample worst case is kept (`>= 1`; without
    /// a random start every run would be identical, so one is made).
    pub restarts: usize,
    /// Minimise the cross-entropy to these labels instead of ascending `loss`.
    pub target: Option<Target>,
    /// The untargeted loss.
    pub loss: AttackLoss,
}

impl PgdConfig {
    /// Untargeted cross-entropy PGD with one random start.
    pub fn new(threat: ThreatModel, step_size: f64, steps: usize) -> Self {
        PgdConfig {
            threat,
            step_size,
            steps,
            random_start: true,
            restarts: 1,
            target: None,
            loss: AttackLoss::Ce,
        }
    }
}

/// Projected gradient descent (Madry et al. 2018, "Towards Deep Learning
/// Models Resistant to Adversarial Attacks"): repeated steps of the
/// steepest ascent direction of the loss for the threat model's norm
/// (`sign(g)` for Linf, `g / ||g||_2` for L2), each projected back into the
/// ball and `[0, 1]`.
///
/// Every iterate, the start included, is scored, and each example keeps
/// its worst case over iterates and restarts: a misclassified iterate
/// beats a correctly classified one, then a higher loss wins (targeted:
/// reaching the target, then a lower cross-entropy to it). Reporting the
/// last iterate instead can only overestimate robustness (Carlini et al.
/// 2019). Restart `r` draws its random start from a stream derived from
/// one draw of the caller's generator and `r`, so restart 0 of a
/// `k`-restart run is the one-restart run: more restarts never raise the
/// adversarial accuracy on the same seed.
#[derive(Debug, Clone)]
pub struct Pgd {
    config: PgdConfig,
}

impl Pgd {
    /// Checks the schedule: `step_size` finite and `> 0`, `steps >= 1`,
    /// `restarts >= 1`, and no distance-score loss for a targeted attack.
    pub fn new(config: PgdConfig) -> Result<Self> {
        if !(config.step_size.is_finite() && config.step_size > 0.0) {
            return Err(invalid_param(
                "step_size",
                config.step_size,
                "a finite number > 0 (pixel units)",
            ));
        }
        if config.steps == 0 {
            return Err(invalid_param("steps", 0, "at least 1"));
        }
        if config.restarts == 0 {
            return Err(invalid_param("restarts", 0, "at least 1"));
        }
        if config.target.is_some() && config.loss == AttackLoss::DsToClean {
            return Err(invalid_param(
                "loss",
                "ds_to_clean",
                "cross-entropy for a targeted attack (the distance score has no target)",
            ));
        }
        Ok(Pgd { config })
    }

    /// The paper's evaluation (Sec. 4.4, Table 2): Linf, eps 8/255, step
    /// 2/255, 10 steps, random start, one restart.
    pub fn paper_cifar() -> Self {
        let threat = ThreatModel::linf(8.0 / 255.0).expect("8/255 is a valid radius");
        Pgd::new(PgdConfig::new(threat, 2.0 / 255.0, 10)).expect("the paper's schedule is valid")
    }

    /// The schedule.
    pub fn config(&self) -> &PgdConfig {
        &self.config
    }

    fn objective(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        y: &Tensor,
        n: usize,
    ) -> Result<Objective> {
        Ok(match (&self.config.target, self.config.loss) {
            (None, AttackLoss::Ce) => Objective::Untargeted { labels: y.clone() },
            (None, AttackLoss::DsToClean) => Objective::DsToClean {
                clean_logits: logits(model, x)?.detach(),
            },
            (Some(Target::Labels(t)), _) => {
                check_labels(t, n, model.num_classes(), "target labels")?;
                Objective::Targeted { targets: t.clone() }
            }
            (Some(Target::LeastLikely), _) => Objective::Targeted {
                targets: logits(model, x)?.argmin(D::Minus1)?,
            },
        })
    }
}

fn offer(best: &mut Option<Best>, adv: &Tensor, s: &Scored) -> Result<()> {
    match best {
        Some(b) => b.offer(adv, s),
        None => {
            *best = Some(Best::new(adv, s));
            Ok(())
        }
    }
}

impl Attack for Pgd {
    fn name(&self) -> &'static str {
        match (&self.config.target, self.config.loss) {
            (None, AttackLoss::Ce) => "pgd",
            (None, AttackLoss::DsToClean) => "pgd-ds",
            (Some(Target::Labels(_)), _) => "pgd-targeted",
            (Some(Target::LeastLikely), _) => "pgd-least-likely",
        }
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        let c = &self.config;
        vec![
            ("eps", c.threat.eps()),
            ("step_size", c.step_size),
            ("steps", c.steps as f64),
            ("random_start", f64::from(u8::from(c.random_start))),
            ("restarts", c.restarts as f64),
        ]
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
        let c = &self.config;
        let objective = self.objective(model, x, y, n)?;
        let runs = if c.random_start { c.restarts } else { 1 };
        let mut best = None;
        for r in 0..runs {
            let mut cur = if c.random_start {
                c.threat.random_point(x, &mut restarts.stream(r))?
            } else {
                x.clone()
            };
            for _ in 0..c.steps {
                let s = objective.score_with_grad(model, &cur)?;
                offer(&mut best, &cur, &s)?;
                let grad = s.grad.as_ref().expect("score_with_grad returns a gradient");
                let dir = c.threat.norm().ascent_direction(grad)?;
                cur = c
                    .threat
                    .project(x, &(&cur + dir.affine(c.step_size, 0.0)?)?)?;
            }
            let s = objective.score(model, &cur)?;
            offer(&mut best, &cur, &s)?;
        }
        Ok(best.expect("at least one step was scored").adv)
    }

    /// The step size scales with the radius (same number of steps, same
    /// step-to-radius ratio), so the schedule means the same at every eps.
    fn with_eps(&self, eps: f64) -> Result<Option<Box<dyn Attack>>> {
        let c = &self.config;
        let old = c.threat.eps();
        let step_size = if old > 0.0 && eps > 0.0 {
            c.step_size * eps / old
        } else if eps > 0.0 {
            // Madry et al.'s rule of thumb: 2.5 eps / steps.
            2.5 * eps / c.steps as f64
        } else {
            c.step_size
        };
        let config = PgdConfig {
            threat: c.threat.with_eps(eps)?,
            step_size,
            ..c.clone()
        };
        Ok(Some(Box::new(Pgd::new(config)?)))
    }
}
