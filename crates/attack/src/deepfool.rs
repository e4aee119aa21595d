//! DeepFool: the minimal perturbation that crosses the decision boundary,
//! optionally restricted to a linear subspace.

use crate::attack::Attack;
use crate::error::{invalid_input, invalid_param, Result};
use crate::input::check_batch;
use crate::norm::{per_sample_l1, per_sample_norms, Norm};
use crate::objective::logits;
use crate::ops::{gather_rows, scale_per_sample, scatter_rows, to_f64_vec, to_u32_vec};
use crate::threat::ThreatModel;
use candle_core::{DType, Tensor, Var, D};
use rand::RngCore;
use sc_core::Classifier;

/// The length added to every linearised step, as in the reference
/// implementation of Moosavi-Dezfooli et al., so that a step lands strictly
/// past the linearised boundary rather than on it.
const NUDGE: f64 = 1e-4;
/// Largest tolerated `|B B^T - I|` entry of a subspace basis.
const ORTHONORMAL_TOLERANCE: f64 = 1e-3;

/// The settings of a [`DeepFool`] attack; checked by [`DeepFool::new`].
#[derive(Debug, Clone)]
pub struct DeepFoolConfig {
    /// The norm in which the perturbation is minimal (L2 or Linf).
    pub norm: Norm,
    /// Most linearisation steps (default 50).
    pub steps: usize,
    /// The total perturbation is scaled by `1 + overshoot` (default 0.02)
    /// so that it ends past the boundary.
    pub overshoot: f64,
    /// Only the `k` classes with the highest clean logits (the label
    /// included) are candidate targets, as in the reference implementation
    /// (which uses 10); `None` uses all classes. Each candidate costs one
    /// backward pass per step.
    pub candidates: Option<usize>,
    /// An orthonormal basis `[k, C*H*W]` (rows): every gradient is
    /// projected onto its span, so the perturbation stays in it. L2 only.
    pub subspace: Option<Tensor>,
    /// Compute the candidates' gradients in one forward and one backward
    /// pass of the batch repeated once per candidate, instead of one
    /// forward and one backward pass per candidate (default false). Same
    /// result; `m - 1` more forward passes' worth of work, in larger calls.
    pub one_pass: bool,
}

impl DeepFoolConfig {
    /// 50 steps, overshoot 0.02, all classes, no subspace.
    pub fn new(norm: Norm) -> Self {
        DeepFoolConfig {
            norm,
            steps: 50,
            overshoot: 0.02,
            candidates: None,
            subspace: None,
            one_pass: false,
        }
    }
}

/// DeepFool (Moosavi-Dezfooli et al. 2016, "DeepFool: a simple and
/// accurate method to fool deep neural networks"): linearise the logit
/// differences `f_k - f_y` around the current point, step onto the nearest
/// linearised boundary (distance `|f_k - f_y| / ||grad (f_k - f_y)||_q`
/// with `q` the dual norm: 2 for L2, 1 for Linf), and repeat until the
/// prediction changes. On a linear model the first step is exact, so the
/// result estimates the distance to the decision boundary, the "margin".
///
/// With [`DeepFoolConfig::subspace`] this is the subspace-constrained
/// DeepFool of Ortiz-Jimenez et al. 2020 ("Hold me tight! Influence of
/// discriminative features on deep network boundaries"): gradients are
/// projected by `P = B^T B`, giving the margin along a band of frequencies.
///
/// A batch is run together, and an image leaves it once it has flipped
/// (its perturbation is final), so a step costs in proportion to the
/// images still standing; each step is one forward pass and one backward
/// pass per candidate class ([`DeepFoolConfig::one_pass`] trades these for
/// one pass of the batch repeated per candidate: measured 22% more CPU
/// time on ResNet18 at 32x32, as counting forward passes predicts).
///
/// Images already misclassified are left as they are (margin 0). The
/// model's decision is measured against `y`; pass the model's own
/// predictions as `y` to measure every image's distance to its own
/// decision boundary. There is no eps: [`Attack::threat`] is `None`.
///
/// A run that has not crossed the boundary within [`DeepFoolConfig::steps`]
/// is censored: [`Margins::margins`] is `None` for it, never the length of
/// the perturbation it stopped at (which would understate the margin).
/// Within a subspace, a candidate whose projected gradient is rounding
/// noise (at most `100 eps` of the full gradient's norm) is no direction:
/// an image with no other candidate stays put and ends censored, rather
/// than stepping along noise to a huge, meaningless margin.
///
/// Without a subspace the result is clipped to `[0, 1]` after every step,
/// like the reference implementation. With a subspace it is NOT clipped:
/// clipping would move the perturbation out of the subspace, and the
/// subspace margin of Ortiz-Jimenez et al. 2020 is a distance in input
/// space, not an image; the returned points may then leave `[0, 1]` (the
/// one exception to [`Attack::perturb`]'s pixel range).
#[derive(Debug, Clone)]
pub struct DeepFool {
    config: DeepFoolConfig,
}

/// What [`DeepFool::margins`] found per image.
#[derive(Debug, Clone)]
pub struct Margins {
    /// The perturbed images `[N, C, H, W]` (in `[0, 1]` unless a subspace
    /// is used).
    pub adv: Tensor,
    /// `Some(||adv - x||)` in the attack's norm, the estimated margin, for
    /// the images whose decision flipped (0 for images misclassified to
    /// begin with); `None` for a run censored by its step budget (serialised
    /// as `null`): its margin is only known to exceed the distance it reached.
    pub margins: Vec<Option<f32>>,
    /// Whether `adv` is misclassified (the boundary was crossed within the steps).
    pub flipped: Vec<bool>,
}

impl Margins {
    /// The margins of the flipped images only.
    pub fn flipped_margins(&self) -> Vec<f32> {
        self.margins.iter().flatten().copied().collect()
    }
}

impl DeepFool {
    /// Checks `steps >= 1`, `overshoot` finite and `>= 0`, `candidates >= 2`,
    /// and that a subspace is a float `[k, d]` matrix with orthonormal rows
    /// (used with L2 only: the minimal Linf perturbation inside a subspace
    /// is a linear program, not a DeepFool step).
    pub fn new(config: DeepFoolConfig) -> Result<Self> {
        if config.steps == 0 {
            return Err(invalid_param("steps", 0, "at least 1"));
        }
        if !(config.overshoot.is_finite() && config.overshoot >= 0.0) {
            return Err(invalid_param(
                "overshoot",
                config.overshoot,
                "a finite number >= 0",
            ));
        }
        if let Some(c) = config.candidates {
            if c < 2 {
                return Err(invalid_param(
                    "candidates",
                    c,
                    "at least 2 (the label and one other class)",
                ));
            }
        }
        if let Some(b) = &config.subspace {
            if config.norm != Norm::L2 {
                return Err(invalid_param(
                    "norm",
                    config.norm,
                    "l2 when a subspace is given (Ortiz-Jimenez et al. 2020)",
                ));
            }
            check_basis(b)?;
        }
        Ok(DeepFool { config })
    }

    /// The settings.
    pub fn config(&self) -> &DeepFoolConfig {
        &self.config
    }

    /// The perturbed images, the size of each perturbation in the attack's
    /// norm, and whether each crossed the boundary.
    pub fn margins(&self, model: &dyn Classifier, x: &Tensor, y: &Tensor) -> Result<Margins> {
        let n = check_batch(model, x, y)?;
        if n == 0 {
            return Ok(Margins {
                adv: x.clone(),
                margins: Vec::new(),
                flipped: Vec::new(),
            });
        }
        let c = &self.config;
        let d: usize = x.dims()[1..].iter().product();
        let basis = match &c.subspace {
            Some(b) => {
                if b.dim(1)? != d {
                    return Err(invalid_input(
                        "subspace",
                        format!("basis of shape {:?} for images of {d} pixels", b.dims()),
                    ));
                }
                Some(b.to_dtype(x.dtype())?.to_device(x.device())?)
            }
            None => None,
        };
        let project = |g: Tensor| -> Result<Tensor> {
            match &basis {
                Some(b) => {
                    let shape = g.dims().to_vec();
                    let flat = g.reshape((shape[0], d))?;
                    Ok(flat.matmul(&b.t()?)?.matmul(b)?.reshape(shape)?)
                }
                None => Ok(g),
            }
        };

        let labels = to_u32_vec(y)?;
        let classes = model.num_classes();
        let clean = logits(model, x)?;
        let clean_v: Vec<Vec<f64>> = clean.to_dtype(DType::F64)?.to_vec2()?;
        let m = c
            .candidates
            .unwrap_or(classes)
            .min(classes)
            .saturating_sub(1);
        // The m classes other than the label with the highest clean logits.
        let others: Vec<Vec<u32>> = (0..n)
            .map(|i| {
                let mut order: Vec<u32> = (0..classes as u32).filter(|&k| k != labels[i]).collect();
                order.sort_by(|&a, &b| clean_v[i][b as usize].total_cmp(&clean_v[i][a as usize]));
                order.truncate(m);
                order
            })
            .collect();

        // Only the images still standing are run: a flipped image's
        // perturbation is final, so each step costs in proportion to the
        // images left, not to the batch.
        let mut flipped = vec![false; n];
        let mut r_tot = x.zeros_like()?;
        let mut step = 0;
        loop {
            let idx: Vec<usize> = (0..n).filter(|&i| !flipped[i]).collect();
            if idx.is_empty() {
                break;
            }
            let rows = |t: &Tensor| -> Result<Tensor> {
                if idx.len() == n {
                    Ok(t.clone())
                } else {
                    gather_rows(t, &idx)
                }
            };
            let (x_a, r_a) = (rows(x)?, rows(&r_tot)?);
            let mut cur_a = (&x_a + r_a.affine(1.0 + c.overshoot, 0.0)?)?;
            if basis.is_none() {
                cur_a = cur_a.clamp(0.0, 1.0)?;
            }
            let var = Var::from_tensor(&cur_a.detach())?;
            let l = logits(model, var.as_tensor())?;
            let pred = to_u32_vec(&l.argmax(D::Minus1)?)?;
            for (p, &i) in idx.iter().enumerate() {
                flipped[i] = pred[p] != labels[i];
            }
            let standing: Vec<bool> = idx.iter().map(|&i| !flipped[i]).collect();
            if step == c.steps || m == 0 || !standing.iter().any(|&s| s) {
                break;
            }
            step += 1;
            let y_a = Tensor::from_vec(
                idx.iter().map(|&i| labels[i]).collect::<Vec<u32>>(),
                (idx.len(), 1),
                x.device(),
            )?;
            let (gaps, raw) = if c.one_pass {
                one_pass_gradients(model, &cur_a, &idx, &labels, &others, m)?
            } else {
                per_candidate_gradients(&l, &var, &y_a, &idx, &others, m)?
            };
            let mut grads = Vec::with_capacity(m);
            // Per candidate and image: the projected gradient norm below
            // which the projection is rounding noise of the full gradient.
            let mut floors: Vec<Vec<f64>> = Vec::with_capacity(m);
            for g in raw {
                floors.push(match &basis {
                    Some(_) => per_sample_norms(&g, Norm::L2)?
                        .into_iter()
                        .map(|v| v * projection_noise(x.dtype()))
                        .collect(),
                    None => vec![0.0; idx.len()],
                });
                grads.push(project(g)?);
            }
            let dual: Vec<Vec<f64>> = grads
                .iter()
                .map(|g| match c.norm {
                    Norm::L2 => per_sample_norms(g, Norm::L2),
                    Norm::Linf => per_sample_l1(g),
                })
                .collect::<Result<_>>()?;
            // coef[j][p]: the multiple of candidate j's direction in the step
            // of the p-th image still standing.
            let mut coef = vec![vec![0.0; idx.len()]; m];
            for p in (0..idx.len()).filter(|&p| standing[p]) {
                let nearest = (0..m)
                    .filter(|&j| dual[j][p] > floors[j][p] && dual[j][p].is_finite())
                    .map(|j| (j, gaps[j][p].abs() / dual[j][p]))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((j, dist)) = nearest {
                    coef[j][p] = match c.norm {
                        Norm::L2 => (dist + NUDGE) / dual[j][p],
                        Norm::Linf => dist + NUDGE,
                    };
                }
            }
            let mut r_new = r_a;
            for (j, g) in grads.iter().enumerate() {
                if coef[j].iter().any(|&v| v != 0.0) {
                    let dir = match c.norm {
                        Norm::L2 => g.clone(),
                        Norm::Linf => g.sign()?,
                    };
                    r_new = (r_new + scale_per_sample(&dir, &coef[j])?)?;
                }
            }
            r_tot = if idx.len() == n {
                r_new
            } else {
                scatter_rows(&r_tot, &idx, &r_new)?
            };
        }
        let mut cur = (x + r_tot.affine(1.0 + c.overshoot, 0.0)?)?;
        if basis.is_none() {
            cur = cur.clamp(0.0, 1.0)?;
        }
        let margins = per_sample_norms(&(&cur - x)?, c.norm)?
            .into_iter()
            .zip(&flipped)
            .map(|(v, &f)| f.then_some(v as f32))
            .collect();
        Ok(Margins {
            adv: cur,
            margins,
            flipped,
        })
    }
}

/// Gaps `f_k - f_y` per candidate (`[j][p]`) and their input gradients
/// `[na, C, H, W]` per candidate.
type CandidateGradients = (Vec<Vec<f64>>, Vec<Tensor>);

/// One backward pass per candidate through the graph of the forward pass
/// `l` at `var`: forward once, backward `m` times.
fn per_candidate_gradients(
    l: &Tensor,
    var: &Var,
    y_a: &Tensor,
    idx: &[usize],
    others: &[Vec<u32>],
    m: usize,
) -> Result<CandidateGradients> {
    let f_label = l.gather(y_a, 1)?;
    let mut gaps = Vec::with_capacity(m);
    let mut grads = Vec::with_capacity(m);
    let columns = (0..m).map(|j| idx.iter().map(|&i| others[i][j]).collect::<Vec<u32>>());
    for col in columns {
        let col = Tensor::from_vec(col, (idx.len(), 1), l.device())?;
        let gap = (l.gather(&col, 1)? - &f_label)?.squeeze(1)?;
        let g = match gap.sum_all()?.backward()?.get(var.as_tensor()) {
            Some(g) => g.detach(),
            None => var.as_tensor().zeros_like()?,
        };
        gaps.push(to_f64_vec(&gap)?);
        grads.push(g);
    }
    Ok((gaps, grads))
}

/// All candidates in one pass: the batch repeated `m` times (copy `j`
/// differentiates `f_{k_j} - f_y`), one forward and one backward pass of
/// `m` times the batch. The same numbers as [`per_candidate_gradients`]
/// for `m F` more work; it wins only where a pass's fixed cost dominates
/// (small batches, a GPU's launch latency).
fn one_pass_gradients(
    model: &dyn Classifier,
    cur: &Tensor,
    idx: &[usize],
    labels: &[u32],
    others: &[Vec<u32>],
    m: usize,
) -> Result<CandidateGradients> {
    let na = idx.len();
    let mut dims = vec![1; cur.rank()];
    dims[0] = m;
    let var = Var::from_tensor(&cur.detach().repeat(dims)?)?;
    let l = logits(model, var.as_tensor())?;
    let col: Vec<u32> = (0..m)
        .flat_map(|j| idx.iter().map(move |&i| others[i][j]))
        .collect();
    let ys: Vec<u32> = (0..m)
        .flat_map(|_| idx.iter().map(|&i| labels[i]))
        .collect();
    let col = Tensor::from_vec(col, (m * na, 1), cur.device())?;
    let ys = Tensor::from_vec(ys, (m * na, 1), cur.device())?;
    let gap = (l.gather(&col, 1)? - l.gather(&ys, 1)?)?.squeeze(1)?;
    let g = match gap.sum_all()?.backward()?.get(var.as_tensor()) {
        Some(g) => g.detach(),
        None => var.as_tensor().zeros_like()?,
    };
    let gap = to_f64_vec(&gap)?;
    let gaps = gap.chunks(na.max(1)).map(<[f64]>::to_vec).collect();
    let grads = (0..m)
        .map(|j| g.narrow(0, j * na, na))
        .collect::<candle_core::Result<_>>()?;
    Ok((gaps, grads))
}

/// The relative size of the rounding noise of a projection onto a
/// subspace, `100 eps` of the dtype: a projected gradient no longer than
/// this fraction of the full gradient is orthogonal to the subspace to
/// working precision (the model is blind along it there). Stepping along
/// it would follow rounding noise to a huge "margin"; such a candidate is
/// skipped, and an image with no other is censored, not flipped.
fn projection_noise(dtype: DType) -> f64 {
    let eps = match dtype {
        DType::F64 => f64::EPSILON,
        DType::F16 => 9.77e-4,
        DType::BF16 => 7.81e-3,
        _ => f64::from(f32::EPSILON),
    };
    100.0 * eps
}

fn check_basis(b: &Tensor) -> Result<()> {
    let (k, d) = b.dims2().map_err(|_| {
        invalid_input(
            "subspace",
            format!("shape {:?}: expected [k, C*H*W]", b.dims()),
        )
    })?;
    if !b.dtype().is_float() || k == 0 || k > d {
        return Err(invalid_input(
            "subspace",
            format!(
                "{:?} basis of shape [{k}, {d}]: expected a float matrix with 1 <= k <= d rows",
                b.dtype()
            ),
        ));
    }
    let b = b.to_dtype(DType::F64)?;
    let gram = b.matmul(&b.t()?)?;
    let eye = Tensor::eye(k, DType::F64, b.device())?;
    let err: f64 = (gram - eye)?.abs()?.max_all()?.to_scalar()?;
    if err.is_nan() || err > ORTHONORMAL_TOLERANCE {
        return Err(invalid_input(
            "subspace",
            format!("rows are not orthonormal: max |B B^T - I| = {err:e}"),
        ));
    }
    Ok(())
}

impl Attack for DeepFool {
    fn name(&self) -> &'static str {
        if self.config.subspace.is_some() {
            "deepfool-subspace"
        } else {
            "deepfool"
        }
    }

    fn params(&self) -> Vec<(&'static str, f64)> {
        let c = &self.config;
        let subspace_dim = c.subspace.as_ref().map_or(0, |b| b.dims()[0]);
        vec![
            ("steps", c.steps as f64),
            ("overshoot", c.overshoot),
            ("candidates", c.candidates.unwrap_or(0) as f64),
            ("subspace_dim", subspace_dim as f64),
            ("one_pass", f64::from(u8::from(c.one_pass))),
        ]
    }

    fn threat(&self) -> Option<ThreatModel> {
        None
    }

    fn perturb(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        y: &Tensor,
        _rng: &mut dyn RngCore,
    ) -> Result<Tensor> {
        Ok(self.margins(model, x, y)?.adv)
    }
}
