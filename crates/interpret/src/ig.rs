use crate::{
    check_inputs, invalid, target_gradient, target_logit, Attribution, AttributionMap, Result,
};
use candle_core::{DType, Tensor};
use sc_core::Classifier;

/// Where the integration path of [`IntegratedGradients`] starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// Every pixel at this value (0 = black, the usual choice and the paper's).
    Constant(f32),
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline::Constant(0.0)
    }
}

/// Integrated Gradients (Sundararajan et al. 2017, Eq. 1):
/// `IG_i(x) = (x_i - b_i) * integral_0^1 dF_t(b + a (x - b)) / dx_i da`,
/// by the midpoint rule with `steps` points `a = (k + 1/2) / steps`.
///
/// The `steps * N` interpolated images are evaluated `chunk` at a time, so
/// memory stays bounded for large batches or images. The map is the sum over
/// channels (signed), and the completeness gap
/// `sum(IG(x)) - (F_t(x) - F_t(b))` measures the integration error; the
/// midpoint rule's error falls as `1 / steps^2` for smooth models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntegratedGradients {
    steps: usize,
    chunk: usize,
    baseline: Baseline,
}

impl IntegratedGradients {
    /// `steps` midpoints (the paper's figures use 32), black baseline,
    /// chunks of 128 images.
    pub fn new(steps: usize) -> Result<Self> {
        if steps == 0 {
            return Err(invalid("steps", "0: expected at least 1 integration step"));
        }
        Ok(IntegratedGradients {
            steps,
            chunk: 128,
            baseline: Baseline::default(),
        })
    }

    /// Evaluate at most `chunk` interpolated images per forward pass.
    pub fn with_chunk(self, chunk: usize) -> Result<Self> {
        if chunk == 0 {
            return Err(invalid("chunk", "0: expected at least 1 image per pass"));
        }
        Ok(IntegratedGradients { chunk, ..self })
    }

    /// Start the path at `baseline`.
    pub fn with_baseline(self, baseline: Baseline) -> Self {
        IntegratedGradients { baseline, ..self }
    }

    /// The number of integration points.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

impl Attribution for IntegratedGradients {
    fn name(&self) -> &'static str {
        "integrated-gradients"
    }

    fn attribute(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<AttributionMap> {
        let n = check_inputs(model, x, target)?;
        let x = x.detach();
        let Baseline::Constant(value) = self.baseline;
        let base = (x.zeros_like()? + f64::from(value))?;
        let diff = (&x - &base)?;
        let mut grad_sum = x.zeros_like()?;
        let total = self.steps * n;
        let mut start = 0;
        while start < total {
            let end = (start + self.chunk).min(total);
            // The path points [start, end): point j is image j % n at step j / n.
            let mut pieces = Vec::new();
            let mut j = start;
            while j < end {
                let (k, i) = (j / n, j % n);
                let len = (n - i).min(end - j);
                let alpha = (k as f64 + 0.5) / self.steps as f64;
                let point =
                    (diff.narrow(0, i, len)?.affine(alpha, 0.0)? + base.narrow(0, i, len)?)?;
                pieces.push((i, len, point));
                j += len;
            }
            let points: Vec<&Tensor> = pieces.iter().map(|(_, _, p)| p).collect();
            let points = Tensor::cat(&points, 0)?;
            let targets: Vec<Tensor> = pieces
                .iter()
                .map(|(i, len, _)| target.narrow(0, *i, *len))
                .collect::<candle_core::Result<_>>()?;
            let (grad, _) = target_gradient(model, &points, &Tensor::cat(&targets, 0)?)?;
            let mut offset = 0;
            for (i, len, _) in &pieces {
                let g = grad
                    .narrow(0, offset, *len)?
                    .pad_with_zeros(0, *i, n - i - len)?;
                grad_sum = (grad_sum + g)?;
                offset += len;
            }
            start = end;
        }
        let attributions = (diff * grad_sum.affine(1.0 / self.steps as f64, 0.0)?)?;
        let map = attributions.sum(1)?;
        let both = model.logits(&Tensor::cat(&[&x, &base], 0)?)?;
        let scores = target_logit(&both, &Tensor::cat(&[target, target], 0)?)?;
        let rise = (scores.narrow(0, 0, n)? - scores.narrow(0, n, n)?)?;
        let gap = (attributions.flatten_from(1)?.sum(1)? - rise)?;
        let completeness_gap = gap.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        Ok(AttributionMap {
            attributions,
            map,
            completeness_gap: Some(completeness_gap),
            coarse: None,
            lime: None,
        })
    }
}
