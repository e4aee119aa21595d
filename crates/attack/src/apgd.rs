//! Auto-PGD on the cross-entropy (APGD-CE), the first attack of AutoAttack.

use crate::attack::{Attack, Restarts};
use crate::error::{invalid_param, Result};
use crate::input::check_batch;
use crate::objective::{Best, Objective};
use crate::ops::{scale_per_sample, select_per_sample};
use crate::threat::ThreatModel;
use candle_core::Tensor;
use rand::RngCore;
use sc_core::Classifier;

/// Momentum weight `alpha` of the update `x + alpha (z - x) + (1 - alpha)
/// (x - x_prev)` (Croce & Hein 2020, Sec. 3.1: "we use alpha = 0.75").
pub const APGD_ALPHA: f64 = 0.75;
/// Condition 1 threshold `rho`: at a checkpoint the step size is halved
/// when fewer than `rho` of the steps since the previous checkpoint raised
/// the loss (Croce & Hein 2020, Sec. 3.2: "rho = 0.75").
pub const APGD_RHO: f64 = 0.75;
/// The initial step size, in units of eps (Croce & Hein 2020: `eta^(0) = 2 eps`).
pub const APGD_INITIAL_STEP: f64 = 2.0;
/// First checkpoint `p_1 = 0.22` of the schedule `p_{j+1} = p_j +
/// max(p_j - p_{j-1} - 0.03, 0.06)`, `p_0 = 0` (Croce & Hein 2020, Sec. 3.2).
const P1: f64 = 0.22;
/// How much shorter each checkpoint interval gets.
const P_DECREASE: f64 = 0.03;
/// The shortest checkpoint interval.
const P_MIN: f64 = 0.06;

/// The budget of an [`ApgdCe`] attack; checked by [`ApgdCe::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApgdConfig {
    /// The ball (Linf, as in AutoAttack's standard version, or L2).
    pub threat: ThreatModel,
    /// Iterations `N_iter` (AutoAttack: 100).
    pub steps: usize,
    /// Independent random starts; the per-sample worst case is kept.
    pub restarts: usize,
}

impl ApgdConfig {
    /// 100 iterations, one restart (AutoAttack's standard APGD-CE).
    pub fn new(threat: ThreatModel) -> Self {
        ApgdConfig {
            threat,
            steps: 100,
            restarts: 1,
        }
    }
}

/// APGD-CE (Croce & Hein 2020, "Reliable evaluation of adversarial
/// robustness with an ensemble of diverse parameter-free attacks",
/// Algorithm 1): PGD on the cross-entropy without a step-size parameter.
///
/// Each example has its own step size, starting at `2 eps`; the update
/// mixes the projected gradient step with momentum ([`APGD_ALPHA`]); at
/// checkpoints `w_j = ceil(p_j N_iter)` ([`ApgdCe::checkpoints`]) the step
/// size of an example is halved, and the example restarts from its
/// highest-loss point so far, when (1) fewer than a fraction [`APGD_RHO`] of
/// the steps since the last checkpoint increased its loss, or (2) its step
/// size was not halved at the last checkpoint and its best loss has not
/// improved since. For Linf the step direction is `sign(grad)`, for L2
/// `grad / ||grad||_2`, as in the reference implementation.
///
/// Choices where the paper is silent: the start is uniform in the ball
/// (like [`crate::Pgd`]); after a restart from the best point the momentum
/// term starts at zero; like PGD the returned point per example is its
/// worst case over all iterates and restarts (misclassified first, then
/// higher loss), and restarts are seeded so that more restarts never raise
/// the adversarial accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApgdCe {
    config: ApgdConfig,
}

impl ApgdCe {
    /// Checks `steps >= 1` and `restarts >= 1`.
    pub fn new(config: ApgdConfig) -> Result<Self> {
        if config.steps == 0 {
            return Err(invalid_param("steps", 0, "at least 1"));
        }
        if config.restarts == 0 {
            return Err(invalid_param("restarts", 0, "at least 1"));
        }
        Ok(ApgdCe { config })
    }

    /// The budget.
    pub fn config(&self) -> &ApgdConfig {
        &self.config
    }

    /// The checkpoint iterations `w_j = ceil(p_j N_iter)`, `j >= 1`, below
    /// `steps` (a checkpoint at the last iterate could change nothing).
    /// For 100 steps: 22, 41, 57, 70, 80, 87, 93, 99.
    pub fn checkpoints(steps: usize) -> Vec<usize> {
        let mut p = vec![0.0, P1];
        while *p.last().expect("non-empty") < 1.0 {
            let (a, b) = (p[p.len() - 2], p[p.len() - 1]);
            p.push(b + (b - a - P_DECREASE).max(P_MIN));
        }
        let mut w: Vec<usize> = p[1..]
            .iter()
            // The tolerance keeps 0.22 * 100 = 22.000000000000004 at 22.
            .map(|&pj| (pj * steps as f64 - 1e-9).ceil().max(0.0) as usize)
            .filter(|&wj| wj > 0 && wj < steps)
            .collect();
        w.dedup();
        w
    }

    fn run(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        objective: &Objective,
        rng: &mut dyn RngCore,
        best: &mut Option<Best>,
    ) -> Result<()> {
        let threat = self.config.threat;
        let norm = threat.norm();
        let steps = self.config.steps;
        let checkpoints = Self::checkpoints(steps);

        let x0 = threat.random_point(x, rng)?;
        let s0 = objective.score_with_grad(model, &x0)?;
        match best {
            Some(b) => b.offer(&x0, &s0)?,
            None => *best = Some(Best::new(&x0, &s0)),
        }
        let best = best.as_mut().expect("set above");
        let g0 = s0.grad.clone().expect("score_with_grad returns a gradient");
        let n = s0.value.len();

        let mut eta = vec![APGD_INITIAL_STEP * threat.eps(); n];
        let (mut cur, mut prev) = (x0.clone(), x0.clone());
        let (mut f_cur, mut g_cur) = (s0.value.clone(), g0.clone());
        let (mut x_max, mut f_max, mut g_max) = (x0, s0.value, g0);
        let mut increases = vec![0usize; n];
        let mut last_checkpoint = 0usize;
        let mut f_max_at_last = f_max.clone();
        let mut halved_at_last = vec![false; n];

        for k in 0..steps {
            let dir = norm.ascent_direction(&g_cur)?;
            let z = threat.project(x, &(&cur + scale_per_sample(&dir, &eta)?)?)?;
            let next = if k == 0 {
                z
            } else {
                let moved = ((&cur + (&z - &cur)?.affine(APGD_ALPHA, 0.0)?)?
                    + (&cur - &prev)?.affine(1.0 - APGD_ALPHA, 0.0)?)?;
                threat.project(x, &moved)?
            };
            let last = k + 1 == steps;
            let s = if last {
                objective.score(model, &next)?
            } else {
                objective.score_with_grad(model, &next)?
            };
            best.offer(&next, &s)?;

            let improved: Vec<bool> = (0..n).map(|i| s.value[i] > f_max[i]).collect();
            for i in 0..n {
                if s.value[i] > f_cur[i] {
                    increases[i] += 1;
                }
                if improved[i] {
                    f_max[i] = s.value[i];
                }
            }
            x_max = select_per_sample(&improved, &next, &x_max)?;
            prev = cur;
            cur = next;
            f_cur = s.value;
            if let Some(g) = s.grad {
                g_max = select_per_sample(&improved, &g, &g_max)?;
                g_cur = g;
            }

            let t = k + 1;
            if checkpoints.contains(&t) {
                let interval = (t - last_checkpoint) as f64;
                let halve: Vec<bool> = (0..n)
                    .map(|i| {
                        let oscillating = (increases[i] as f64) < APGD_RHO * interval;
                        let stalled = !halved_at_last[i] && f_max[i] <= f_max_at_last[i];
                        oscillating || stalled
                    })
                    .collect();
                for (e, h) in eta.iter_mut().zip(&halve) {
                    if *h {
                        *e /= 2.0;
                    }
                }
                cur = select_per_sample(&halve, &x_max, &cur)?;
                prev = select_per_sample(&halve, &x_max, &prev)?;
                g_cur = select_per_sample(&halve, &g_max, &g_cur)?;
                for i in 0..n {
                    if halve[i] {
                        f_cur[i] = f_max[i];
                    }
                }
                halved_at_last = halve;
                f_max_at_last = f_max.clone();
                increases.iter_mut().for_each(|c| *c = 0);
                last_checkpoint = t;
            }
        }
        Ok(())
    }
}

impl Attack for ApgdCe {
    fn name(&self) -> &'static str {
        "apgd-ce"
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("eps", self.config.threat.eps()),
            ("steps", self.config.steps as f64),
            ("restarts", self.config.restarts as f64),
            ("alpha", APGD_ALPHA),
            ("rho", APGD_RHO),
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
        let objective = Objective::Untargeted { labels: y.clone() };
        let mut best = None;
        for r in 0..self.config.restarts {
            self.run(model, x, &objective, &mut restarts.stream(r), &mut best)?;
        }
        Ok(best.expect("at least one point was scored").adv)
    }

    fn with_eps(&self, eps: f64) -> Result<Option<Box<dyn Attack>>> {
        let config = ApgdConfig {
            threat: self.config.threat.with_eps(eps)?,
            ..self.config
        };
        Ok(Some(Box::new(ApgdCe::new(config)?)))
    }
}
