//! Learning-rate schedules, as a pure function of the step, so that a
//! resumed run needs no schedule state.

/// A learning-rate schedule over `total` optimisation steps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// The rate times `gamma` every `every_epochs` epochs (PyTorch's `StepLR`).
    Step,
    /// Cosine annealing from the base rate to 0 (PyTorch's `CosineAnnealingLR`).
    Cosine,
    /// One cycle (Smith 2018; PyTorch's `OneCycleLR` defaults): from
    /// `base/25` up to `base` over the first 30% of steps, then cosine down to
    /// `base/25e4`.
    OneCycle,
}

/// Where a step sits in the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Zero-based global step.
    pub step: u64,
    /// Total steps of the run.
    pub total: u64,
    /// Steps per epoch.
    pub per_epoch: u64,
}

impl Schedule {
    /// The configuration name: `constant`, `step`, `cosine` or `one-cycle`.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step => "step",
            Schedule::Cosine => "cosine",
            Schedule::OneCycle => "one-cycle",
        }
    }

    /// Whether the rate of a step depends on the run's total length (so a
    /// run cannot change its `epochs` once it has taken a step).
    pub fn depends_on_total(self) -> bool {
        matches!(self, Schedule::Cosine | Schedule::OneCycle)
    }

    /// The learning rate at `pos` for base rate `lr`; `every_epochs` and
    /// `gamma` are used by [`Schedule::Step`].
    pub fn rate(self, lr: f64, pos: Position, every_epochs: u64, gamma: f64) -> f64 {
        let total = pos.total.max(1) as f64;
        let s = pos.step as f64;
        let cosine = |from: f64, to: f64, t: f64| {
            to + (from - to) * 0.5 * (1.0 + (std::f64::consts::PI * t.clamp(0.0, 1.0)).cos())
        };
        match self {
            Schedule::Constant => lr,
            Schedule::Step => {
                let epoch = pos.step / pos.per_epoch.max(1);
                lr * gamma.powi((epoch / every_epochs.max(1)) as i32)
            }
            Schedule::Cosine => cosine(lr, 0.0, s / total),
            Schedule::OneCycle => {
                let warm = (0.3 * total).max(1.0);
                let start = lr / 25.0;
                if s < warm {
                    cosine(start, lr, s / warm)
                } else {
                    cosine(lr, start / 1e4, (s - warm) / (total - warm).max(1.0))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: u64) -> Position {
        Position {
            step,
            total: 100,
            per_epoch: 10,
        }
    }

    #[test]
    fn schedules_hit_their_landmarks() {
        assert_eq!(Schedule::Constant.rate(0.1, at(57), 1, 0.1), 0.1);
        assert!((Schedule::Step.rate(1.0, at(25), 1, 0.5) - 0.25).abs() < 1e-12);
        assert!((Schedule::Step.rate(1.0, at(25), 2, 0.5) - 0.5).abs() < 1e-12);
        assert!((Schedule::Cosine.rate(1.0, at(0), 1, 0.1) - 1.0).abs() < 1e-12);
        assert!((Schedule::Cosine.rate(1.0, at(50), 1, 0.1) - 0.5).abs() < 1e-12);
        assert!(Schedule::Cosine.rate(1.0, at(100), 1, 0.1).abs() < 1e-12);
        let oc = |s| Schedule::OneCycle.rate(1.0, at(s), 1, 0.1);
        assert!((oc(0) - 0.04).abs() < 1e-12);
        assert!((oc(30) - 1.0).abs() < 1e-12);
        assert!(oc(15) > 0.04 && oc(15) < 1.0);
        assert!(oc(100) < 1e-5);
        // Monotone up, then down.
        assert!((1..30).all(|s| oc(s) >= oc(s - 1)));
        assert!((31..=100).all(|s| oc(s) <= oc(s - 1)));
    }
}
