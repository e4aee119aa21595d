//! What an attack maximises per sample, its input gradient, and the
//! per-sample "worst case so far" that PGD and APGD return.

use crate::error::{invalid_input, Result};
use crate::ops;
use candle_core::{Tensor, Var, D};
use sc_core::Classifier;

/// The per-sample quantity an attack ascends, and when a sample counts as
/// broken.
#[derive(Debug, Clone)]
pub(crate) enum Objective {
    /// Ascend `CE(F(x'), y)`; broken when `argmax F(x') != y`.
    Untargeted { labels: Tensor },
    /// Ascend `-CE(F(x'), t)`; broken when `argmax F(x') == t`.
    Targeted { targets: Tensor },
    /// Ascend the DLR loss of the label (Croce & Hein 2020); broken when
    /// `argmax F(x') != y`.
    Dlr { labels: Tensor },
    /// Ascend the targeted DLR loss towards `targets`; broken, as in
    /// AutoAttack's APGD-T, when `argmax F(x') != y` (any wrong class).
    DlrTargeted { labels: Tensor, targets: Tensor },
    /// Ascend `DS(x, x') = ||F(x') - F(x)||^2` (paper Sec. 2.1); no sample is
    /// ever "broken", so iterates are ranked by the distance score alone.
    DsToClean { clean_logits: Tensor },
}

/// An objective evaluated at a batch of points.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    /// The objective per sample (higher is better for the attacker).
    pub value: Vec<f64>,
    /// Whether each sample is broken at this point.
    pub success: Vec<bool>,
    /// The gradient of the summed objective with respect to the input, when asked for.
    pub grad: Option<Tensor>,
}

/// Per-sample cross-entropy `-log softmax(logits)[label]`, `[N]`.
pub(crate) fn ce_per_sample(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let lsm = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok(lsm.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?)
}

/// The model's logits, checked to be `[N, num_classes]`.
pub(crate) fn logits(model: &dyn Classifier, x: &Tensor) -> Result<Tensor> {
    let out = model.logits(x)?;
    let n = x.dim(0)?;
    if out.dims() != [n, model.num_classes()] {
        return Err(invalid_input(
            "logits",
            format!(
                "model {} returned shape {:?} for {n} images: expected [{n}, {}]",
                model.name(),
                out.dims(),
                model.num_classes()
            ),
        ));
    }
    Ok(out)
}

/// `argmax` of the logits per sample.
pub(crate) fn predictions(model: &dyn Classifier, x: &Tensor) -> Result<Vec<u32>> {
    ops::to_u32_vec(&logits(model, x)?.argmax(D::Minus1)?)
}

impl Objective {
    fn per_sample(&self, logits: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Objective::Untargeted { labels } => ce_per_sample(logits, labels)?,
            Objective::Targeted { targets } => ce_per_sample(logits, targets)?.neg()?,
            Objective::Dlr { labels } => crate::dlr::dlr_per_sample(logits, labels)?,
            Objective::DlrTargeted { labels, targets } => {
                crate::dlr::dlr_targeted_per_sample(logits, labels, targets)?
            }
            Objective::DsToClean { clean_logits } => sc_loss::ds(clean_logits, logits)?,
        })
    }

    fn success(&self, logits: &Tensor) -> Result<Vec<bool>> {
        let pred = ops::to_u32_vec(&logits.argmax(D::Minus1)?)?;
        Ok(match self {
            Objective::Untargeted { labels }
            | Objective::Dlr { labels }
            | Objective::DlrTargeted { labels, .. } => {
                let y = ops::to_u32_vec(labels)?;
                pred.iter().zip(&y).map(|(p, y)| p != y).collect()
            }
            Objective::Targeted { targets } => {
                let t = ops::to_u32_vec(targets)?;
                pred.iter().zip(&t).map(|(p, t)| p == t).collect()
            }
            Objective::DsToClean { .. } => vec![false; pred.len()],
        })
    }

    /// The objective at `x`, without a gradient (one forward pass).
    pub(crate) fn score(&self, model: &dyn Classifier, x: &Tensor) -> Result<Scored> {
        let l = logits(model, &x.detach())?;
        Ok(Scored {
            value: ops::to_f64_vec(&self.per_sample(&l)?)?,
            success: self.success(&l)?,
            grad: None,
        })
    }

    /// The objective at `x` and its input gradient: `x` becomes a leaf
    /// [`Var`] (candle keeps gradients of leaf variables only), the per-sample
    /// objectives are summed so that each sample's gradient is its own
    /// (eval-mode models treat the images of a batch independently).
    pub(crate) fn score_with_grad(&self, model: &dyn Classifier, x: &Tensor) -> Result<Scored> {
        let var = Var::from_tensor(&x.detach())?;
        let l = logits(model, var.as_tensor())?;
        let per = self.per_sample(&l)?;
        let grads = per.sum_all()?.backward()?;
        let grad = match grads.get(var.as_tensor()) {
            Some(g) => g.detach(),
            // The objective does not depend on the input through any
            // differentiable operation (a step-function model): zero gradient.
            None => x.zeros_like()?,
        };
        Ok(Scored {
            value: ops::to_f64_vec(&per)?,
            success: self.success(&l)?,
            grad: Some(grad),
        })
    }
}

/// The per-sample worst case over every point offered so far: a broken
/// sample beats an unbroken one, then a higher objective wins; ties keep
/// the earlier point. Because earlier offers win ties, offering a prefix of
/// another run's points can never end better than that run (the restart
/// guarantee of [`crate::Pgd`]).
#[derive(Debug, Clone)]
pub(crate) struct Best {
    pub adv: Tensor,
    pub value: Vec<f64>,
    pub success: Vec<bool>,
}

impl Best {
    pub(crate) fn new(adv: &Tensor, s: &Scored) -> Self {
        Best {
            adv: adv.detach(),
            value: s.value.clone(),
            success: s.success.clone(),
        }
    }

    pub(crate) fn offer(&mut self, adv: &Tensor, s: &Scored) -> Result<()> {
        let better: Vec<bool> = (0..self.value.len())
            .map(|i| {
                let (ns, os) = (s.success[i], self.success[i]);
                (ns && !os) || (ns == os && s.value[i] > self.value[i])
            })
            .collect();
        if better.iter().any(|&b| b) {
            self.adv = ops::select_per_sample(&better, &adv.detach(), &self.adv)?;
            for (i, b) in better.iter().enumerate() {
                if *b {
                    self.value[i] = s.value[i];
                    self.success[i] = s.success[i];
                }
            }
        }
        Ok(())
    }
}
