//! The sanity checks, each a function of the evaluated attack and the
//! sanity subset.

use super::stages::{run_attack, StageRun};
use super::{SanityCheck, SanityOptions};
use crate::apgd::{Apgd, ApgdConfig, ApgdLoss};
use crate::attack::Attack;
use crate::error::Result;
use crate::fgsm::Fgsm;
use crate::norm::Norm;
use crate::objective::predictions;
use crate::ops::gather_rows;
use crate::pgd::{Pgd, PgdConfig};
use crate::threat::ThreatModel;
use candle_core::Tensor;
use sc_core::{Classifier, Seed};

/// Tolerance of the threat-model check: f32 rounding of `x + delta`.
const BALL_TOLERANCE: f64 = 1e-5;

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

/// `threat-model`: every attack's images lie in its ball and in `[0, 1]`.
pub(super) fn threat_model(attacks: &[&dyn Attack], runs: &[StageRun]) -> SanityCheck {
    let mut values = Vec::new();
    let (mut in_box, mut in_ball) = (true, true);
    for (attack, run) in attacks.iter().zip(runs) {
        if run.attacked == 0 {
            continue;
        }
        let name = attack.name();
        in_box &= run.min_pixel >= 0.0 && run.max_pixel <= 1.0;
        values.push((format!("{name}.min_pixel"), run.min_pixel));
        values.push((format!("{name}.max_pixel"), run.max_pixel));
        if let Some(t) = attack.threat() {
            values.push((format!("{name}.eps"), t.eps()));
            values.push((format!("{name}.max_distance"), run.max_distance));
            in_ball &= run.max_distance <= t.eps() * (1.0 + BALL_TOLERANCE) + BALL_TOLERANCE;
        }
    }
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

/// The first images, with their clean correctness and what the
/// evaluation's attacks did to them.
pub(super) struct Subset {
    x: Tensor,
    y: Tensor,
    clean: Vec<bool>,
    /// Standing after the first attack (the one the eps checks vary).
    first_standing: Vec<bool>,
    /// Standing after every attack.
    final_standing: Vec<bool>,
    batch_size: usize,
}

impl Subset {
    pub(super) fn new(
        x: &Tensor,
        y: &Tensor,
        clean: &[bool],
        runs: &[StageRun],
        m: usize,
        batch_size: usize,
    ) -> Result<Self> {
        let first = runs.first().expect("an evaluation has an attack");
        let last = runs.last().expect("an evaluation has an attack");
        Ok(Subset {
            x: x.narrow(0, 0, m)?,
            y: y.narrow(0, 0, m)?,
            clean: clean[..m].to_vec(),
            first_standing: first.standing[..m].to_vec(),
            final_standing: last.standing[..m].to_vec(),
            batch_size,
        })
    }

    fn len(&self) -> usize {
        self.clean.len()
    }

    fn accuracy(&self, robust: usize) -> f64 {
        robust as f64 / self.len() as f64
    }

    /// Images robust to the first attack.
    fn first_count(&self) -> usize {
        count(&self.first_standing)
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

    /// Images robust to `attack` on the subset: it attacks only the
    /// correctly classified ones (a misclassified image is not robust
    /// whatever the attack does, so attacking it would be wasted work).
    fn robust(&self, attack: &dyn Attack, stream: &str) -> Result<usize> {
        let s = &self.subset;
        let idx: Vec<usize> = (0..s.len()).filter(|&i| s.clean[i]).collect();
        if idx.is_empty() {
            return Ok(0);
        }
        let (xs, ys) = (gather_rows(&s.x, &idx)?, gather_rows(&s.y, &idx)?);
        let mut rng = self.seed.stream(stream);
        Ok(count(
            &run_attack(self.model, &xs, &ys, attack, s.batch_size, &mut rng)?.correct,
        ))
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
                (1.0, _) => self.subset.first_count(),
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
        let ours = self.subset.first_count();
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

    /// `apgd-no-weaker` for a single attack: APGD-CE on the sanity images
    /// the attack left standing, then APGD-T (at least 4 classes) on those
    /// APGD-CE left standing, as the ensemble runs them; fails when they
    /// break more than `tolerance` images.
    pub(super) fn vs_apgd(&self) -> Result<SanityCheck> {
        let o = self.options;
        let s = &self.subset;
        let ours = s.first_count();
        let mut standing: Vec<usize> = (0..s.len()).filter(|&i| s.first_standing[i]).collect();
        let mut broken = Vec::new();
        let classes = self.model.num_classes();
        let mut losses = vec![("apgd-ce", ApgdLoss::Ce, "sanity-apgd")];
        if classes >= 4 {
            losses.push((
                "apgd-t",
                ApgdLoss::DlrTargeted {
                    targets: o.apgd_targets,
                },
                "sanity-apgd-t",
            ));
        }
        for (name, loss, stream) in &losses {
            let apgd = Apgd::new(ApgdConfig {
                steps: o.apgd_steps,
                loss: *loss,
                ..ApgdConfig::new(self.threat)
            })?;
            let correct = if standing.is_empty() {
                Vec::new()
            } else {
                let xs = gather_rows(&s.x, &standing)?;
                let ys = gather_rows(&s.y, &standing)?;
                let mut rng = self.seed.stream(stream);
                run_attack(self.model, &xs, &ys, &apgd, s.batch_size, &mut rng)?.correct
            };
            broken.push((*name, correct.iter().filter(|c| !**c).count()));
            standing = standing
                .into_iter()
                .zip(&correct)
                .filter(|(_, c)| **c)
                .map(|(i, _)| i)
                .collect();
        }
        let total: usize = broken.iter().map(|(_, b)| b).sum();
        let passed = total <= o.tolerance;
        let which: Vec<&str> = broken.iter().map(|(n, _)| *n).collect();
        let which = which.join(" then ");
        let skipped = if classes < 4 {
            format!(" (APGD-T left out: {classes} classes, it needs 4)")
        } else {
            String::new()
        };
        let detail = if passed {
            format!(
                "{which} broke {total} of the {ours} images the attack left standing \
                 (tolerance {}){skipped}",
                o.tolerance
            )
        } else {
            format!(
                "{which} broke {total} of the {ours} images the attack left standing \
                 (tolerance {}): the attack's number overstates robustness; report the \
                 worst case (--attack auto){skipped}",
                o.tolerance
            )
        };
        let mut values = vec![
            ("attack_accuracy".into(), s.accuracy(ours)),
            ("apgd_accuracy".into(), s.accuracy(ours - total)),
        ];
        for (name, b) in &broken {
            values.push((format!("broken_by_{name}"), *b as f64));
        }
        values.push(("apgd_steps".into(), o.apgd_steps as f64));
        Ok(SanityCheck {
            name: "apgd-no-weaker".into(),
            passed,
            detail,
            values,
        })
    }

    /// `apgd-no-weaker` for an ensemble: its later attacks (APGD-CE and
    /// APGD-T for `auto`) already ran on the images the first one left
    /// standing, so their results on the sanity images are reused. What
    /// they broke is counted in the robust accuracy, so the check passes and
    /// reports how much the first attack alone would have overstated.
    pub(super) fn vs_apgd_reused(&self, attacks: &[&dyn Attack], runs: &[StageRun]) -> SanityCheck {
        let s = &self.subset;
        let m = s.len();
        let first = s.first_count();
        let last = count(&s.final_standing);
        let mut values = vec![
            ("attack_accuracy".into(), s.accuracy(first)),
            ("apgd_accuracy".into(), s.accuracy(last)),
        ];
        let mut parts = Vec::new();
        for (k, run) in runs.iter().enumerate().skip(1).take(attacks.len()) {
            let b = run.verdict[..m]
                .iter()
                .filter(|v| **v == Some(false))
                .count();
            let name = attacks[k].name();
            values.push((format!("broken_by_{name}"), b as f64));
            parts.push(format!("{name} {b}"));
        }
        SanityCheck {
            name: "apgd-no-weaker".into(),
            passed: true,
            detail: format!(
                "the ensemble's later attacks broke {} ({}) of the {first} sanity images the first \
                 left standing; they count in the robust accuracy (reused, not run again)",
                first - last,
                parts.join(" + ")
            ),
            values,
        }
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
