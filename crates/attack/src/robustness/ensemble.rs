//! Attacks run one after the other, each on the images the ones before it
//! left correctly classified, as AutoAttack runs its attacks.

use crate::apgd::{Apgd, ApgdConfig, APGD_T_TARGETS};
use crate::attack::Attack;
use crate::error::{invalid_param, Result};
use crate::pgd::Pgd;

/// A list of attacks evaluated in order, each on the images still standing
/// (correctly classified clean and under every attack before it), so that
/// each image's verdict is the worst case over all of them (Croce & Hein
/// 2020, Sec. 5: AutoAttack's robust accuracy is the per-image worst case
/// over its attacks).
#[derive(Debug)]
pub struct Ensemble {
    name: &'static str,
    attacks: Vec<Box<dyn Attack>>,
    worst_case: bool,
}

impl Ensemble {
    /// The attacks in the order they run, under the name `ensemble`. Its
    /// number is reported as an upper bound (see [`Ensemble::is_worst_case`]).
    pub fn new(attacks: Vec<Box<dyn Attack>>) -> Result<Self> {
        if attacks.is_empty() {
            return Err(invalid_param("attacks", 0, "at least one attack"));
        }
        Ok(Ensemble {
            name: "ensemble",
            attacks,
            worst_case: false,
        })
    }

    /// The evaluation `sc-bench eval --attack auto` runs, under the name
    /// `auto`: `pgd` (its restarts included), then APGD-CE and APGD-T
    /// (AutoAttack's standard version: one restart each, `apgd_steps`
    /// iterations, `targets` target classes; Croce & Hein 2020) on `pgd`'s
    /// ball. `pgd` first keeps the paper's PGD number beside the worst case.
    /// AutoAttack's other two attacks (FAB-T, Square) are not included.
    pub fn auto(pgd: Pgd, apgd_steps: usize, targets: usize) -> Result<Self> {
        let threat = pgd.config().threat;
        if pgd.config().target.is_some() || pgd.config().loss != crate::AttackLoss::Ce {
            return Err(invalid_param(
                "pgd",
                pgd.name(),
                "untargeted cross-entropy PGD as the ensemble's first attack",
            ));
        }
        let ce = Apgd::new(ApgdConfig {
            steps: apgd_steps,
            ..ApgdConfig::new(threat)
        })?;
        let t = Apgd::new(ApgdConfig {
            steps: apgd_steps,
            loss: crate::ApgdLoss::DlrTargeted { targets },
            ..ApgdConfig::new(threat)
        })?;
        Ok(Ensemble {
            name: "auto",
            attacks: vec![Box::new(pgd), Box::new(ce), Box::new(t)],
            worst_case: true,
        })
    }

    /// [`Ensemble::auto`] with AutoAttack's budget: 100 APGD iterations and
    /// [`APGD_T_TARGETS`] targets.
    pub fn auto_default(pgd: Pgd) -> Result<Self> {
        Ensemble::auto(pgd, 100, APGD_T_TARGETS)
    }

    /// `auto`, `ensemble`, or the single attack's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The attacks, in the order they run.
    pub fn attacks(&self) -> &[Box<dyn Attack>] {
        &self.attacks
    }

    /// Whether this is the AutoAttack-style worst case ([`Ensemble::auto`]);
    /// any other evaluation is reported as an upper bound on robust
    /// accuracy that a stronger attack may lower.
    pub fn is_worst_case(&self) -> bool {
        self.worst_case
    }
}
