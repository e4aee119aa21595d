use crate::{
    check_inputs, invalid, Attribution, AttributionMap, IntegratedGradients, Result, Saliency,
};
use candle_core::{DType, Tensor};
use sc_core::{Classifier, Seed};

/// The attribution that [`SmoothGrad`] averages over noisy copies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SmoothGradBase {
    /// The input gradient ([`Saliency`]): SmoothGrad as Smilkov et al. define it.
    Saliency,
    /// [`IntegratedGradients`] ("SmoothGrad-IG" in Smilkov et al., Sec. 4).
    IntegratedGradients(IntegratedGradients),
}

/// SmoothGrad (Smilkov et al. 2017, Eq. 3): the mean of a base attribution
/// over `samples` copies of the image with Gaussian noise,
/// `M(x) = 1/n sum_k A(x + N(0, sigma^2))`, where `sigma` is `noise_std`
/// times the image's value range `max(x) - min(x)` (the paper's "noise
/// level", best at 10-20%).
///
/// The signed attributions are averaged (as Captum's `NoiseTunnel` does with
/// `abs=False`); the map is then reduced as the base method reduces it
/// (saliency: largest absolute value over channels; IG: sum over channels).
/// Noise is drawn from `seed.stream("smoothgrad")`, so the same seed gives
/// the same map. The noisy images are not clipped to `[0, 1]`, as in the paper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothGrad {
    base: SmoothGradBase,
    noise_std: f64,
    samples: usize,
    seed: Seed,
}

impl SmoothGrad {
    /// SmoothGrad over `base` with noise of `noise_std` times the image
    /// range (the paper's default 0.15) averaged over `samples` draws (50).
    pub fn new(base: SmoothGradBase, noise_std: f64, samples: usize, seed: Seed) -> Result<Self> {
        if samples == 0 {
            return Err(invalid(
                "noise samples",
                "0: expected at least 1 noisy copy",
            ));
        }
        if !(noise_std.is_finite() && noise_std >= 0.0) {
            return Err(invalid(
                "noise std",
                format!("{noise_std}: expected a finite fraction >= 0 of the input range"),
            ));
        }
        Ok(SmoothGrad {
            base,
            noise_std,
            samples,
            seed,
        })
    }

    /// The same method with another seed (e.g. one per batch).
    pub fn with_seed(self, seed: Seed) -> Self {
        SmoothGrad { seed, ..self }
    }
}

impl Attribution for SmoothGrad {
    fn name(&self) -> &'static str {
        match self.base {
            SmoothGradBase::Saliency => "smoothgrad",
            SmoothGradBase::IntegratedGradients(_) => "smoothgrad-ig",
        }
    }

    fn attribute(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<AttributionMap> {
        let n = check_inputs(model, x, target)?;
        let x = x.detach();
        let per_image = x.elem_count() / n.max(1);
        let flat = x.flatten_from(1)?;
        let range = (flat.max(1)? - flat.min(1)?)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        let mut rng = self.seed.stream("smoothgrad");
        let mut sum: Option<Tensor> = None;
        for _ in 0..self.samples {
            let mut noise = sc_core::standard_normals(&mut rng, x.elem_count());
            for (i, chunk) in noise.chunks_mut(per_image).enumerate() {
                let sigma = self.noise_std * range[i];
                chunk.iter_mut().for_each(|v| *v *= sigma);
            }
            let noise = Tensor::from_vec(noise, x.dims(), x.device())?.to_dtype(x.dtype())?;
            let noisy = (&x + noise)?;
            let a = match &self.base {
                SmoothGradBase::Saliency => Saliency.attribute(model, &noisy, target)?,
                SmoothGradBase::IntegratedGradients(ig) => ig.attribute(model, &noisy, target)?,
            }
            .attributions
            .to_dtype(DType::F64)?;
            sum = Some(match sum {
                Some(s) => (s + a)?,
                None => a,
            });
        }
        // A true division (not a multiplication by 1/n), so that n equal
        // f32 attributions (zero noise) average back to exactly themselves.
        let count = Tensor::new(self.samples as f64, x.device())?;
        let attributions = sum
            .expect("samples >= 1 checked in new")
            .broadcast_div(&count)?
            .to_dtype(x.dtype())?;
        let map = match self.base {
            SmoothGradBase::Saliency => attributions.abs()?.max(1)?,
            SmoothGradBase::IntegratedGradients(_) => attributions.sum(1)?,
        };
        Ok(AttributionMap {
            attributions,
            map,
            completeness_gap: None,
            coarse: None,
            lime: None,
        })
    }
}
