//! One run of APGD (Croce & Hein 2020, Algorithm 1) from one random start,
//! step for step as the reference `attack_single_run` of
//! `autoattack/autopgd_base.py`.

use super::schedule::{oscillating, Schedule};
use super::{APGD_ALPHA, APGD_INITIAL_STEP};
use crate::error::Result;
use crate::objective::{Best, Objective};
use crate::ops::{scale_per_sample, select_per_sample};
use crate::threat::ThreatModel;
use candle_core::Tensor;
use rand::RngCore;
use sc_core::Classifier;

/// Runs `steps` iterations on `x` and returns each sample's worst case over
/// the start and every iterate (misclassified first, then higher loss).
///
/// Per sample, as the reference:
/// - step size `eta = 2 eps`; `z = P(x_k + eta * dir(grad))`,
///   `x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))` with
///   `a = 1` at the first step and [`APGD_ALPHA`] after;
/// - the checkpoint intervals of [`Schedule`]; at a checkpoint the step
///   size is halved and the iterate reset to the highest-loss point (with
///   its gradient) when condition 1 ([`oscillating`]) holds, or condition 2:
///   the step size was not halved at the previous checkpoint and the best
///   loss did not improve since (`loss_best_last_check >= loss_best`).
///   Condition 2 is off at the first checkpoint (the reference's
///   `reduced_last_check` starts at ones).
/// - After such a reset the momentum term is the reference's: `x_{k-1}`
///   stays the point the last step started from (the reference does not
///   touch `x_adv_old`), so the first step after a reset carries the
///   momentum `x_best - x_{k-1}`.
pub(super) fn single_run(
    model: &dyn Classifier,
    x: &Tensor,
    objective: &Objective,
    threat: ThreatModel,
    steps: usize,
    rng: &mut dyn RngCore,
) -> Result<Best> {
    let norm = threat.norm();
    let schedule = Schedule::new(steps);

    let x0 = threat.random_point(x, rng)?;
    let s0 = objective.score_with_grad(model, &x0)?;
    let mut best = Best::new(&x0, &s0);
    let n = s0.value.len();
    let g0 = s0.grad.expect("score_with_grad returns a gradient");

    let mut eta = vec![APGD_INITIAL_STEP * threat.eps(); n];
    let (mut cur, mut old) = (x0.clone(), x0.clone());
    let mut grad = g0.clone();
    let (mut x_best, mut f_best, mut g_best) = (x0, s0.value, g0);
    // loss_steps[i][sample]: the loss after step i (zeros until then).
    let mut loss_steps = vec![vec![0.0f64; n]; steps];
    let mut f_best_last_check = f_best.clone();
    let mut reduced_last_check = vec![true; n];
    let (mut k, mut since_check) = (schedule.first, 0usize);

    for i in 0..steps {
        let momentum = (&cur - &old)?;
        old = cur.clone();
        let a = if i > 0 { APGD_ALPHA } else { 1.0 };
        let dir = norm.ascent_direction(&grad)?;
        let z = threat.project(x, &(&cur + scale_per_sample(&dir, &eta)?)?)?;
        let moved = ((&cur + (&z - &cur)?.affine(a, 0.0)?)? + momentum.affine(1.0 - a, 0.0)?)?;
        cur = threat.project(x, &moved)?;

        let last = i + 1 == steps;
        // The gradient after the last step is never used.
        let s = if last {
            objective.score(model, &cur)?
        } else {
            objective.score_with_grad(model, &cur)?
        };
        best.offer(&cur, &s)?;
        let improved: Vec<bool> = (0..n).map(|j| s.value[j] > f_best[j]).collect();
        for j in 0..n {
            loss_steps[i][j] = s.value[j];
            if improved[j] {
                f_best[j] = s.value[j];
            }
        }
        if last {
            break;
        }
        let g = s.grad.expect("score_with_grad returns a gradient");
        x_best = select_per_sample(&improved, &cur, &x_best)?;
        g_best = select_per_sample(&improved, &g, &g_best)?;
        grad = g;

        since_check += 1;
        if since_check == k {
            let column: Vec<Vec<f64>> = (0..n)
                .map(|j| loss_steps.iter().map(|row| row[j]).collect())
                .collect();
            let reduce: Vec<bool> = (0..n)
                .map(|j| {
                    let cond1 = oscillating(&column[j], i, k);
                    let cond2 = !reduced_last_check[j] && f_best_last_check[j] >= f_best[j];
                    cond1 || cond2
                })
                .collect();
            for (e, r) in eta.iter_mut().zip(&reduce) {
                if *r {
                    *e /= 2.0;
                }
            }
            cur = select_per_sample(&reduce, &x_best, &cur)?;
            grad = select_per_sample(&reduce, &g_best, &grad)?;
            reduced_last_check = reduce;
            f_best_last_check = f_best.clone();
            k = schedule.next(k);
            since_check = 0;
        }
    }
    Ok(best)
}
