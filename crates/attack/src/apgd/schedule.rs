//! APGD's checkpoint schedule and its condition 1, computed as the
//! reference implementation computes them (Croce & Hein 2020,
//! `autoattack/autopgd_base.py`, `attack_single_run` and
//! `check_oscillation`).

/// Condition 1 threshold `rho`: at a checkpoint the step size is halved
/// when at most `rho k` of the last `k` steps raised the loss (Croce & Hein
/// 2020, Sec. 3.2: "rho = 0.75"; reference `thr_decr = .75`).
pub const APGD_RHO: f64 = 0.75;

/// The reference's integer schedule for `N` iterations:
/// `n_iter_2 = max(int(0.22 N), 1)` (the first interval),
/// `n_iter_min = max(int(0.06 N), 1)` (the shortest interval) and
/// `size_decr = max(int(0.03 N), 1)` (how much each interval shrinks).
/// The paper writes the checkpoints as `ceil(p_j N)` of real fractions; the
/// reference truncates the interval lengths instead, which differs for
/// budgets other than 100 (for 10 steps: intervals 2, 1, 1, ... rather than
/// 3, 2, 1, ...), and we follow the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Length of the first interval.
    pub first: usize,
    /// Shortest interval.
    pub min: usize,
    /// Decrease of the interval after each checkpoint.
    pub decrease: usize,
}

impl Schedule {
    pub(crate) fn new(steps: usize) -> Self {
        // Python's int() of a positive float truncates, as `as usize` does;
        // the products are the same IEEE doubles.
        let frac = |p: f64| ((p * steps as f64) as usize).max(1);
        Schedule {
            first: frac(0.22),
            min: frac(0.06),
            decrease: frac(0.03),
        }
    }

    /// The interval that follows one of length `k`:
    /// `max(k - size_decr, n_iter_min)`.
    pub(crate) fn next(&self, k: usize) -> usize {
        k.saturating_sub(self.decrease).max(self.min)
    }
}

/// The steps (1-based counts of gradient steps taken) after which APGD
/// checks its step size, up to and including `steps`. For 100 steps: 22,
/// 41, 57, 70, 80, 87, 93, 99 (Croce & Hein 2020, Sec. 3.2). A checkpoint
/// after the last step changes nothing that is returned.
pub fn checkpoints(steps: usize) -> Vec<usize> {
    let s = Schedule::new(steps);
    let mut out = Vec::new();
    let (mut at, mut k) = (s.first, s.first);
    while at <= steps {
        out.push(at);
        k = s.next(k);
        at += k;
    }
    out
}

/// Condition 1 of one sample at the checkpoint after step index `j`
/// (0-based) with interval `k`: the reference's `check_oscillation` counts
/// `loss[j - c] > loss[j - c - 1]` for `c` in `0..k` and flags when the
/// count is `<= k * rho`. `loss[i]` is the loss after step `i`; like the
/// reference (whose `loss_steps` starts as zeros and is indexed from the
/// end by Python's negative indices), the first checkpoint compares the
/// first step's loss with `loss[-1]`, i.e. the last, still zero, entry.
pub(crate) fn oscillating(loss: &[f64], j: usize, k: usize) -> bool {
    let len = loss.len() as isize;
    let at = |m: isize| loss[m.rem_euclid(len) as usize];
    let increases = (0..k as isize)
        .filter(|&c| at(j as isize - c) > at(j as isize - c - 1))
        .count();
    increases as f64 <= k as f64 * APGD_RHO
}
