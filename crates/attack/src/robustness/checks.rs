//! The sanity checks, each a function of the evaluated attack and the
//! sanity subset.

use super::{SanityCheck, SanityOptions};
use crate::apgd::{ApgdCe, ApgdConfig};
use crate::attack::Attack;
use crate::error::{invalid_input, Result};
use crate::fgsm::Fgsm;
use crate::objective::predictions;
use crate::ops::to_u32_vec;
use crate::pgd::{Pgd, PgdConfig};
use crate::threat::{Norm, ThreatModel};
use candle_core::{DType, Tensor};
use rand::RngCore;
use sc_core::{Classifier, Seed};

/// Tolerance of the threat-model check: f32 rounding of `x + delta`.
const BALL_TOLERANCE: f64 = 1e-5;

/// Per-image correctness under an attack, and how far its images went.
pub(super) struct Run {
    pub correct: Vec<bool>,
    max_distance: f64,
    min_pixel: f64,
    max_pixel: f64,
}

/// Runs `attack` over `x` in batches, drawing from `rng` in batch order.
pub(super) fn run_attack(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    attack: &dyn Attack,
    batch_size: usize,
    rng: &mut dyn RngCore,
) -> Result<Run> {
    let n = x.dim(0)?;
    let mut run = Run {
        correct: Vec::with_capacity(n),
        max_distance: 0.0,
        min_pixel: f64::INFINITY,
        max_pixel: f64::NEG_INFINITY,
    };
    for start in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - start);
        let xb = x.narrow(0, start, len)?;
        let yb = y.narrow(0, start, len)?;
        let adv = attack.perturb(model, &xb, &yb, rng)?;
        if adv.dims() != xb.dims() {
            return Err(invalid_input(
                "adversarial images",
                format!(
                    "attack {} returned shape {:?} for {:?}",
                    attack.name(),
                    adv.dims(),
                    xb.dims()
                ),
            ));
        }
        if let Some(t) = attack.threat() {
            let d = t.distances(&xb, &adv)?;
            run.max_distance = d.iter().copied().fold(run.max_distance, f64::max);
        }
        let lo: f64 = adv.min_all()?.to_dtype(DType::F64)?.to_scalar()?;
        let hi: f64 = adv.max_all()?.to_dtype(DType::F64)?.to_scalar()?;
        run.min_pixel = run.min_pixel.min(lo);
        run.max_pixel = run.max_pixel.max(hi);
        let pred = predictions(model, &adv)?;
        let yv = to_u32_vec(&yb)?;
        run.correct
            .extend(pred.iter().zip(&yv).map(|(p, y)| p == y));
    }
    Ok(run)
}

/// Whether each image is classified correctly.
pub(super) fn clean_correct(
    model: &dyn Classifier,
    x: &Tensor,
    labels: &[u32],
    batch_size: usize,
) -> Result<Vec<bool>> {
    let n = labels.len();
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - start);
        let pred = predictions(model, &x.narrow(0, start, len)?)?;
        out.extend(
            pred.iter()
                .zip(&labels[start..start + len])
                .map(|(p, y)| p == y),
        );
    }
    Ok(out)
}

pub(super) fn and(a: &[bool], b: &[bool]) -> Vec<bool> {
    a.iter().zip(b).map(|(a, b)| *a && *b).collect()
}

pub(super) fn count(v: &[bool]) -> usize {
    v.iter().filter(|&&b| b).count()
}

/// `threat-model`: the main run's images lie in the ball and in `[0, 1]`.
pub(super) fn threat_model(threat: Option<ThreatModel>, run: &Run) -> SanityCheck {
    let in_box = run.min_pixel >= 0.0 && run.max_pixel <= 1.0;
    let mut values = vec![
        ("min_pixel".into(), run.min_pixel),
        ("max_pixel".into(), run.max_pixel),
    ];
    let in_ball = match threat {
        Some(t) => {
            values.push(("eps".into(), t.eps()));
            values.push(("max_distance".into(), run.max_distance));
            run.max_distance <= t.eps() * (1.0 + BALL_TOLERANCE) + BALL_TOLERANCE
        }
        None => true,
    };
    let passed = in_box && in_ball;
    SanityCheck {
        name: "threat-model".into(),
        passed,
        detail: if passed {
            "every adversarial image lies in the ball and in [0, 1]".into()
        } else {
            "adversarial images leave the ball or [0, 1]: the attack is broken and its numbers \
             meaningless"
                .into()
        },
        values,
    }
}

/// The first images, with their clean and robust correctness from the main run.
pub(super) struct Subset {
    x: Tensor,
    y: Tensor,
    clean: Vec<bool>,
    robust_count: usize,
    batch_size: usize,
}

impl Subset {
    pub(super) fn new(
        x: &Tensor,
        y: &Tensor,
        clean: &[bool],
        robust: &[bool],
        m: usize,
        batch_size: usize,
    ) -> Result<Self> {
        Ok(Subset {
            x: x.narrow(0, 0, m)?,
            y: y.narrow(0, 0, m)?,
            clean: clean[..m].to_vec(),
            robust_count: count(&robust[..m]),
            batch_size,
        })
    }

    fn len(&self) -> usize {
        self.clean.len()
    }

    fn accuracy(&self, robust: usize) -> f64 {
        robust as f64 / self.len() as f64
    }
}

/// What every check of an attack with a radius needs.
pub(super) struct Context<'a> {
    pub model: &'a dyn Classifier,
    pub attack: &'a dyn Attack,
    pub threat: ThreatModel,
    pub seed: Seed,
    pub options: &'a SanityOptions,
    pub subset: Subset,
}

impl Context<'_> {
    /// Per-image correctness of `attack` on the subset, from the named stream.
    fn run(&self, attack: &dyn Attack, stream: &str) -> Result<Vec<bool>> {
        let s = &self.subset;
        let mut rng = self.seed.stream(stream);
        Ok(run_attack(self.model, &s.x, &s.y, attack, s.batch_size, &mut rng)?.correct)
    }

    /// Images robust to `attack` on the subset.
    fn robust(&self, attack: &dyn Attack, stream: &str) -> Result<usize> {
        Ok(count(&and(&self.subset.clean, &self.run(attack, stream)?)))
    }

    /// `eps-zero`, and the robust count at eps = 0 for the grid; `None` when
    /// the attack cannot change its radius.
    pub(super) fn eps_zero(&self) -> Result<Option<(SanityCheck, usize)>> {
        let Some(a) = self.attack.with_eps(0.0)? else {
            return Ok(None);
        };
        let s = &self.subset;
        let correct = self.run(a.as_ref(), "sanity-eps-zero")?;
        let m = s.len();
        let changed = (0..m).filter(|&i| correct[i] != s.clean[i]).count();
        let check = SanityCheck {
            name: "eps-zero".into(),
            passed: changed == 0,
            detail: if changed == 0 {
                "the attack at eps = 0 reproduces the clean accuracy exactly".into()
            } else {
                format!(
                    "{changed} of {m} images change correctness at eps = 0: the model or the \
                     attack is not deterministic, or the model is not in eval mode"
                )
            },
            values: vec![
                ("clean_accuracy".into(), s.accuracy(count(&s.clean))),
                ("accuracy_at_eps_0".into(), s.accuracy(count(&correct))),
                ("changed".into(), changed as f64),
            ],
        };
        Ok(Some((check, count(&and(&s.clean, &correct)))))
    }

    /// `monotone-in-eps` over the grid; eps itself comes from the main run
    /// and eps = 0 from [`Context::eps_zero`] when it ran.
    pub(super) fn monotone(&self, at_zero: Option<usize>) -> Result<Option<SanityCheck>> {
        let o = self.options;
        let eps = self.threat.eps();
        let mut grid = o.grid.clone();
        grid.sort_by(f64::total_cmp);
        grid.dedup();
        let mut points: Vec<(f64, usize)> = Vec::new();
        for (i, &f) in grid.iter().enumerate() {
            let robust = match (f, at_zero) {
                (1.0, _) => self.subset.robust_count,
                (0.0, Some(c)) => c,
                _ => match self.attack.with_eps(f * eps)? {
                    Some(a) => self.robust(a.as_ref(), &format!("sanity-grid-{i}"))?,
                    None => return Ok(None),
                },
            };
            points.push((f * eps, robust));
        }
        if points.len() < 2 {
            return Ok(None);
        }
        let rises: Vec<String> = points
            .windows(2)
            .filter(|w| w[1].1 > w[0].1 + o.tolerance)
            .map(|w| {
                format!(
                    "{} -> {} robust from eps {:.5} to {:.5}",
                    w[0].1, w[1].1, w[0].0, w[1].0
                )
            })
            .collect();
        Ok(Some(SanityCheck {
            name: "monotone-in-eps".into(),
            passed: rises.is_empty(),
            detail: if rises.is_empty() {
                format!(
                    "robust accuracy does not rise with eps (tolerance {} samples)",
                    o.tolerance
                )
            } else {
                format!(
                    "robust accuracy rises with eps ({}): the attack does not use its budget; \
                     weak or badly tuned optimisation",
                    rises.join("; ")
                )
            },
            values: points
                .iter()
                .map(|(e, c)| (format!("eps={e}"), self.subset.accuracy(*c)))
                .collect(),
        }))
    }

    /// `large-eps`: at a radius that reaches every image (Linf 1, L2 the
    /// diagonal `sqrt(pixels)` of the cube) robust accuracy must collapse.
    pub(super) fn large_eps(&self, pixels: usize) -> Result<SanityCheck> {
        let o = self.options;
        let big = match (o.large_eps_radius, self.threat.norm()) {
            (Some(e), _) => e,
            (None, Norm::Linf) => 1.0,
            (None, Norm::L2) => (pixels as f64).sqrt(),
        };
        let attack = match self.attack.with_eps(big)? {
            Some(a) => a,
            None => reference_pgd(self.threat.with_eps(big)?)?,
        };
        let acc = self
            .subset
            .accuracy(self.robust(attack.as_ref(), "sanity-large-eps")?);
        let passed = acc <= o.large_eps_max_accuracy;
        Ok(SanityCheck {
            name: "large-eps".into(),
            passed,
            detail: if passed {
                format!("eps {big} drives robust accuracy to {acc:.4}")
            } else {
                format!(
                    "robust accuracy {acc:.4} at eps {big}, where every image is reachable \
                     (limit {}): possible gradient masking; the reported robustness is not \
                     trustworthy",
                    o.large_eps_max_accuracy
                )
            },
            values: vec![("eps".into(), big), ("robust_accuracy".into(), acc)],
        })
    }

    /// `no-weaker-than-fgsm`: FGSM for Linf, one unit-gradient step of
    /// length eps from the clean image for L2.
    pub(super) fn vs_fgsm(&self) -> Result<SanityCheck> {
        let eps = self.threat.eps();
        let one_step: Box<dyn Attack> = match self.threat.norm() {
            Norm::Linf => Box::new(Fgsm::new(eps)?),
            Norm::L2 => Box::new(Pgd::new(PgdConfig {
                random_start: false,
                ..PgdConfig::new(self.threat, eps.max(f64::MIN_POSITIVE), 1)
            })?),
        };
        let fgsm = self.robust(one_step.as_ref(), "sanity-fgsm")?;
        let ours = self.subset.robust_count;
        let passed = ours <= fgsm + self.options.tolerance;
        Ok(SanityCheck {
            name: "no-weaker-than-fgsm".into(),
            passed,
            detail: if passed {
                format!("{ours} robust under the attack, {fgsm} under one gradient step")
            } else {
                format!(
                    "{ours} robust under the attack but only {fgsm} under one gradient step: the \
                     iterative attack is broken or its steps are badly tuned"
                )
            },
            values: vec![
                ("attack_accuracy".into(), self.subset.accuracy(ours)),
                ("fgsm_accuracy".into(), self.subset.accuracy(fgsm)),
            ],
        })
    }

    /// `apgd-no-weaker`: APGD-CE on the same ball; its detail also says
    /// when APGD-CE is the stronger one, i.e. the attack overstates robustness.
    pub(super) fn vs_apgd(&self) -> Result<SanityCheck> {
        let o = self.options;
        let apgd = ApgdCe::new(ApgdConfig {
            steps: o.apgd_steps,
            ..ApgdConfig::new(self.threat)
        })?;
        let theirs = self.robust(&apgd, "sanity-apgd")?;
        let ours = self.subset.robust_count;
        let passed = theirs <= ours + o.tolerance;
        let detail = if !passed {
            format!(
                "APGD-CE leaves {theirs} robust, the attack {ours}: APGD-CE should never be \
                 weaker; suspect the gradients"
            )
        } else if ours > theirs + o.tolerance {
            format!(
                "APGD-CE is stronger: {theirs} robust against {ours} under the attack; the \
                 attack's number overstates robustness"
            )
        } else {
            format!("APGD-CE leaves {theirs} robust, the attack {ours}")
        };
        Ok(SanityCheck {
            name: "apgd-no-weaker".into(),
            passed,
            detail,
            values: vec![
                ("attack_accuracy".into(), self.subset.accuracy(ours)),
                ("apgd_accuracy".into(), self.subset.accuracy(theirs)),
            ],
        })
    }
}

/// PGD with Madry et al.'s schedule (10 steps of 2.5 eps / 10) for attacks
/// that cannot rescale themselves.
fn reference_pgd(threat: ThreatModel) -> Result<Box<dyn Attack>> {
    let step = if threat.eps() > 0.0 {
        0.25 * threat.eps()
    } else {
        1.0
    };
    Ok(Box::new(Pgd::new(PgdConfig::new(threat, step, 10))?))
}
