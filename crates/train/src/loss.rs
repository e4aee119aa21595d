//! The loss of each regime on one batch (Sec. 3.2, Eq. 3; Sec. 4.1).

use crate::config::Regime;
use crate::{Error, Result};
use candle_core::Tensor;
use sc_loss::ContinuityLoss;
use sc_models::Model;

/// The training loss of one batch, with its parts.
#[derive(Debug, Clone)]
pub struct StepLoss {
    /// What the optimiser minimises.
    pub total: Tensor,
    /// The cross-entropy term (on clean images, or on PGD images in `adv`).
    pub ce: Tensor,
    /// The continuity term before alpha (`c`, `adv-c` only).
    pub continuity: Option<Tensor>,
    /// Train-mode logits of the clean images (`None` in `adv`, whose
    /// forward pass sees only the PGD images).
    pub clean_logits: Option<Tensor>,
    /// Train-mode logits of the perturbed images (the photometric pair in
    /// `c`, the PGD images in `adv` and `adv-c`; `None` in `base`).
    pub perturbed_logits: Option<Tensor>,
}

/// The loss of `regime` on a batch `(x, y)` in train mode (Sec. 3.2, Eq. 3),
/// given the batch's perturbed images `x_pert` (the photometric
/// augmentation for `c`, PGD examples for `adv` and `adv-c`; `None` for
/// `base`). Clean and perturbed images go through one forward pass, so
/// BatchNorm's batch statistics see both, as in the paper's training.
/// [`crate::train`] calls this every step; it is public so that benchmarks and
/// custom loops time and run exactly the same computation.
pub fn regime_loss(
    model: &Model,
    regime: Regime,
    loss_fn: &ContinuityLoss,
    x: &Tensor,
    y: &Tensor,
    x_pert: Option<&Tensor>,
) -> Result<StepLoss> {
    if let Some(p) = x_pert {
        if p.dims() != x.dims() {
            return Err(Error::Config(format!(
                "perturbed images of shape {:?} for a batch of shape {:?}",
                p.dims(),
                x.dims()
            )));
        }
    }
    Ok(match (regime, x_pert) {
        (Regime::Base, None) => {
            let logits = model.forward_train(x)?;
            let ce = sc_loss::cross_entropy(&logits, y)?;
            StepLoss {
                total: ce.clone(),
                ce,
                continuity: None,
                clean_logits: Some(logits),
                perturbed_logits: None,
            }
        }
        (Regime::Adv, Some(x_adv)) => {
            let logits = model.forward_train(x_adv)?;
            let ce = sc_loss::cross_entropy(&logits, y)?;
            StepLoss {
                total: ce.clone(),
                ce,
                continuity: None,
                clean_logits: None,
                perturbed_logits: Some(logits),
            }
        }
        (Regime::C | Regime::AdvC, Some(x_pert)) => {
            let n = x.dim(0)?;
            let both = model.forward_train(&Tensor::cat(&[x, x_pert], 0)?)?;
            let clean = both.narrow(0, 0, n)?;
            let pert = both.narrow(0, n, n)?;
            let terms = loss_fn.compute(&clean, &pert, y)?;
            StepLoss {
                total: terms.total,
                ce: terms.ce,
                continuity: Some(terms.continuity),
                clean_logits: Some(clean),
                perturbed_logits: Some(pert),
            }
        }
        (Regime::Base, Some(_)) => {
            return Err(Error::Config(
                "regime base takes no perturbed images".into(),
            ))
        }
        (regime, None) => {
            return Err(Error::Config(format!(
                "regime {} needs the perturbed images of the batch",
                regime.name()
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, D};
    use sc_core::Seed;
    use sc_loss::ContinuityTerm;
    use sc_models::Arch;

    #[test]
    fn regime_loss_is_ce_plus_alpha_ds_on_one_forward_and_checks_its_inputs() {
        let dev = Device::Cpu;
        let model = Model::new(
            Arch::SmallCnn,
            3,
            [3, 16, 16],
            None,
            Seed(1),
            DType::F64,
            &dev,
        )
        .unwrap();
        let x = Tensor::rand(0f64, 1f64, (4, 3, 16, 16), &dev).unwrap();
        let xp = Tensor::rand(0f64, 1f64, (4, 3, 16, 16), &dev).unwrap();
        let y = Tensor::new(&[0u32, 1, 2, 1], &dev).unwrap();
        let loss_fn = ContinuityLoss::new(0.5, ContinuityTerm::Ds).unwrap();
        let c = regime_loss(&model, Regime::C, &loss_fn, &x, &y, Some(&xp)).unwrap();
        // Independently: the same train-mode forward of [x; x'], CE on the
        // first half, mean squared logit distance between the halves.
        let both = model
            .forward_train(&Tensor::cat(&[&x, &xp], 0).unwrap())
            .unwrap();
        let (l, lp) = (both.narrow(0, 0, 4).unwrap(), both.narrow(0, 4, 4).unwrap());
        let lsm = candle_nn::ops::log_softmax(&l, D::Minus1)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        let ce: f64 = [0usize, 1, 2, 1]
            .iter()
            .enumerate()
            .map(|(i, &t)| -lsm[i][t])
            .sum::<f64>()
            / 4.0;
        let ds: f64 = (lp - &l)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            / 4.0;
        let total = c.total.to_scalar::<f64>().unwrap();
        assert!(
            (total - (ce + 0.5 * ds)).abs() < 1e-9 * (1.0 + total.abs()),
            "{total} vs {}",
            ce + 0.5 * ds
        );
        assert_eq!(c.clean_logits.as_ref().unwrap().dims(), &[4, 3]);
        assert_eq!(c.perturbed_logits.as_ref().unwrap().dims(), &[4, 3]);

        let adv = regime_loss(&model, Regime::Adv, &loss_fn, &x, &y, Some(&xp)).unwrap();
        assert!(adv.continuity.is_none() && adv.clean_logits.is_none());
        // ADV's CE is on the perturbed images alone: independently recomputed.
        let lsm = candle_nn::ops::log_softmax(&model.forward_train(&xp).unwrap(), D::Minus1)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        let ce_adv: f64 = [0usize, 1, 2, 1]
            .iter()
            .enumerate()
            .map(|(i, &t)| -lsm[i][t])
            .sum::<f64>()
            / 4.0;
        let got = adv.total.to_scalar::<f64>().unwrap();
        assert!(
            (got - ce_adv).abs() < 1e-9 * (1.0 + got.abs()),
            "{got} vs {ce_adv}"
        );
        let base = regime_loss(&model, Regime::Base, &loss_fn, &x, &y, None).unwrap();
        assert!(base.continuity.is_none());

        let err = |r, p: Option<&Tensor>| {
            regime_loss(&model, r, &loss_fn, &x, &y, p)
                .unwrap_err()
                .to_string()
        };
        assert!(err(Regime::Base, Some(&xp)).contains("base takes no perturbed"));
        assert!(err(Regime::AdvC, None).contains("adv-c needs the perturbed"));
        let small = xp.narrow(0, 0, 2).unwrap();
        assert!(err(Regime::C, Some(&small)).contains("shape"));
    }
}
