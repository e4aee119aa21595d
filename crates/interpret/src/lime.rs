//! LIME for images (Ribeiro et al. 2016, "Why should I trust you?", Sec. 3
//! and the `lime` package's `LimeImageExplainer`): explain the target
//! probability by a weighted linear model over superpixels switched on and off.

use crate::ridge::{weighted_ridge, RidgeFit};
use crate::slic::{Segments, Slic};
use crate::{check_inputs, invalid, Attribution, AttributionMap, Result};
use candle_core::{DType, Device, Tensor, D};
use rand::Rng;
use sc_core::{Classifier, Seed};
use serde::Serialize;

/// What a hidden superpixel shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LimeFill {
    /// Its own mean colour (`lime`'s default, `hide_color=None`).
    Mean,
    /// This value in every channel (`hide_color=v`).
    Constant(f32),
}

/// One image's LIME explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimeFit {
    /// Number of superpixels.
    pub segments: usize,
    /// One coefficient per superpixel: its contribution to the target probability.
    pub coefficients: Vec<f64>,
    /// The surrogate's intercept.
    pub intercept: f64,
    /// Weighted R^2 of the surrogate on the samples (`lime`'s `score`).
    pub r2: f64,
    /// The `top_k` superpixels by absolute coefficient, largest first
    /// (the order of `lime`'s `local_exp`).
    pub top: Vec<usize>,
}

/// LIME with `lime`'s defaults: `samples` random on/off masks over the
/// superpixels (each on with probability 1/2, the first sample all on),
/// hidden superpixels filled by [`LimeFill`], a sample weighted by
/// `sqrt(exp(-d^2 / width^2))` with `d` the cosine distance of its mask to
/// the all-on mask and `width = 0.25`, and ridge regression (`alpha = 1`,
/// with intercept) of the target class's softmax probability on the masks.
/// A pixel's attribution is its superpixel's coefficient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lime {
    samples: usize,
    slic: Slic,
    fill: LimeFill,
    kernel_width: f64,
    alpha: f64,
    top_k: usize,
    chunk: usize,
    seed: Seed,
}

impl Lime {
    /// LIME with `samples` masks (the package's default is 1000), SLIC with
    /// 16 segments, mean fill, top 5 reported, 256 images per forward pass.
    pub fn new(samples: usize, seed: Seed) -> Result<Self> {
        if samples == 0 {
            return Err(invalid("samples", "0: expected at least 1 mask"));
        }
        Ok(Lime {
            samples,
            slic: Slic::default(),
            fill: LimeFill::Mean,
            kernel_width: 0.25,
            alpha: 1.0,
            top_k: 5,
            chunk: 256,
            seed,
        })
    }

    /// Segments with `slic`.
    pub fn with_slic(self, slic: Slic) -> Self {
        Lime { slic, ..self }
    }

    /// Fills hidden superpixels with `fill`.
    pub fn with_fill(self, fill: LimeFill) -> Self {
        Lime { fill, ..self }
    }

    /// Reports the `top_k` superpixels.
    pub fn with_top_k(self, top_k: usize) -> Self {
        Lime { top_k, ..self }
    }

    /// At most `chunk` masked images per forward pass.
    pub fn with_chunk(self, chunk: usize) -> Result<Self> {
        if chunk == 0 {
            return Err(invalid("chunk", "0: expected at least 1 image per pass"));
        }
        Ok(Lime { chunk, ..self })
    }

    /// The same method with another seed (e.g. one per batch); image `i`
    /// of a batch draws its masks from `seed.index(i)`.
    pub fn with_seed(self, seed: Seed) -> Self {
        Lime { seed, ..self }
    }

    /// `lime`'s kernel on a mask: cosine distance `d` to the all-on mask
    /// (`1 - sqrt(on / k)`; 1 for the all-off mask, as scikit-learn's
    /// `pairwise_distances` gives for a zero vector), then `sqrt(exp(-d^2/w^2))`.
    pub fn kernel(&self, mask: &[bool]) -> f64 {
        let on = mask.iter().filter(|&&m| m).count();
        let d = if on == 0 {
            1.0
        } else {
            1.0 - (on as f64 / mask.len() as f64).sqrt()
        };
        (-d * d / (self.kernel_width * self.kernel_width))
            .exp()
            .sqrt()
    }

    /// Explains `image` (`[C, H, W]`) for class `target`: its segmentation and fit.
    pub fn explain_one(
        &self,
        model: &dyn Classifier,
        image: &Tensor,
        target: u32,
        seed: Seed,
    ) -> Result<(Segments, LimeFit)> {
        let (c, h, w) = image.dims3()?;
        let plane = h * w;
        let pixels = image
            .to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()?;
        let seg = self.slic.segment(&pixels, [c, h, w])?;
        let k = seg.count;
        let fill: Vec<f32> = match self.fill {
            LimeFill::Constant(v) => vec![v; c * k],
            LimeFill::Mean => {
                let mut sums = vec![0.0f64; c * k];
                let mut counts = vec![0usize; k];
                for (p, &l) in seg.labels.iter().enumerate() {
                    counts[l] += 1;
                    for ch in 0..c {
                        sums[ch * k + l] += pixels[ch * plane + p];
                    }
                }
                sums.iter()
                    .enumerate()
                    .map(|(i, s)| (s / counts[i % k] as f64) as f32)
                    .collect()
            }
        };
        let mut rng = seed.stream("lime-masks");
        let masks: Vec<Vec<bool>> = (0..self.samples)
            .map(|s| (0..k).map(|_| s == 0 || rng.random::<bool>()).collect())
            .collect();
        let original: Vec<f32> = pixels.iter().map(|&v| v as f32).collect();
        let mut probs = Vec::with_capacity(self.samples);
        for group in masks.chunks(self.chunk) {
            let mut data = Vec::with_capacity(group.len() * c * plane);
            for mask in group {
                for ch in 0..c {
                    for p in 0..plane {
                        let l = seg.labels[p];
                        data.push(if mask[l] {
                            original[ch * plane + p]
                        } else {
                            fill[ch * k + l]
                        });
                    }
                }
            }
            let batch = Tensor::from_vec(data, (group.len(), c, h, w), &Device::Cpu)?
                .to_device(image.device())?
                .to_dtype(image.dtype())?;
            let p =
                candle_nn::ops::softmax(&model.logits(&batch)?.to_dtype(DType::F64)?, D::Minus1)?;
            probs.extend(
                p.narrow(1, target as usize, 1)?
                    .squeeze(1)?
                    .to_vec1::<f64>()?,
            );
        }
        let weights: Vec<f64> = masks.iter().map(|m| self.kernel(m)).collect();
        let features: Vec<Vec<f64>> = masks
            .iter()
            .map(|m| m.iter().map(|&b| f64::from(u8::from(b))).collect())
            .collect();
        let RidgeFit {
            coefficients,
            intercept,
            r2,
        } = weighted_ridge(&features, &probs, &weights, self.alpha)?;
        let mut top: Vec<usize> = (0..k).collect();
        top.sort_by(|&a, &b| {
            coefficients[b]
                .abs()
                .total_cmp(&coefficients[a].abs())
                .then(a.cmp(&b))
        });
        top.truncate(self.top_k);
        Ok((
            seg,
            LimeFit {
                segments: k,
                coefficients,
                intercept,
                r2,
                top,
            },
        ))
    }

    /// [`Attribution::attribute`] with every image's fit.
    pub fn explain(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<(AttributionMap, Vec<LimeFit>)> {
        let n = check_inputs(model, x, target)?;
        let (_, c, h, w) = x.dims4()?;
        let targets = target.to_vec1::<u32>()?;
        let mut maps = Vec::with_capacity(n * h * w);
        let mut fits = Vec::with_capacity(n);
        for (i, &t) in targets.iter().enumerate() {
            let (seg, fit) = self.explain_one(model, &x.get(i)?, t, self.seed.index(i as u64))?;
            maps.extend(seg.labels.iter().map(|&l| fit.coefficients[l] as f32));
            fits.push(fit);
        }
        let map = Tensor::from_vec(maps, (n, h, w), &Device::Cpu)?
            .to_device(x.device())?
            .to_dtype(x.dtype())?;
        let attributions = map.unsqueeze(1)?.repeat((1, c, 1, 1))?;
        Ok((
            AttributionMap {
                attributions,
                map,
                completeness_gap: None,
                coarse: None,
                lime: Some(fits.clone()),
            },
            fits,
        ))
    }
}

impl Attribution for Lime {
    fn name(&self) -> &'static str {
        "lime"
    }

    fn attribute(
        &self,
        model: &dyn Classifier,
        x: &Tensor,
        target: &Tensor,
    ) -> Result<AttributionMap> {
        Ok(self.explain(model, x, target)?.0)
    }
}
