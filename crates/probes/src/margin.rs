//! Margins to the decision boundary along frequency bands (Ortiz-Jimenez et
//! al. 2020, "Hold me tight! Influence of discriminative features on deep
//! network boundaries", Sec. 3 and Fig. 2).
//!
//! For each diagonal band of the 2-D DCT spectrum ([`crate::dct`]) and each
//! image `x`, DeepFool restricted to the band ([`sc_attack::DeepFool`] with
//! a subspace) looks for the smallest `r` in the band that changes the
//! model's decision; the margin is `||(1 + overshoot) r||_2` in `[0, 1]`
//! pixel units, *not* clipped to the image box (the companion measures a
//! distance in input space, not an image). Each image is measured against
//! the model's own prediction, so every image, correctly classified or not,
//! gets its distance to its own decision boundary.
//!
//! An image whose decision does not flip within `max_iter` steps is *not
//! flipped*: the model is (near) invariant along that band there. Its
//! margin is unknown but larger than any step reached, so it is never
//! averaged in: [`BandMargins::median_margin`] counts it as `+inf` and
//! [`BandMargins::median_margin_flipped`] leaves it out.
//!
//! Images are run in batches (the companion code runs one at a time), and
//! DeepFool drops an image from the batch once it has flipped.

use crate::continuity::check_fit;
use crate::dct::{diagonal_bands, DctBand};
use crate::stats::median_of_sorted;
use crate::{Error, Result};
use candle_core::{Device, Tensor, D};
use sc_attack::{DeepFool, DeepFoolConfig, Norm};
use sc_core::Classifier;
use sc_data::{ImageSet, Order};

/// The settings of [`margin_probe`]; the defaults are the companion's.
#[derive(Debug, Clone, PartialEq)]
pub struct MarginOptions {
    /// Frequencies per axis of a band (default 8).
    pub band_size: usize,
    /// Distance between the starts of consecutive bands on the diagonal
    /// (default 8: disjoint bands; the companion used 2 on CIFAR).
    pub band_step: usize,
    /// Candidate classes of DeepFool: the `k` with the highest logits
    /// (the prediction included); `None` = all classes (default).
    pub candidates: Option<usize>,
    /// DeepFool steps before an image counts as not flipped (default 50).
    pub max_iter: usize,
    /// The perturbation is scaled by `1 + overshoot` (default 0.02).
    pub overshoot: f64,
    /// Images per DeepFool batch (memory, not results, depends on it).
    pub batch_size: usize,
    /// DeepFool's candidate gradients in one pass of the batch repeated per
    /// candidate ([`DeepFoolConfig::one_pass`]); same result, other speed.
    pub one_pass: bool,
}

impl Default for MarginOptions {
    fn default() -> Self {
        MarginOptions {
            band_size: 8,
            band_step: 8,
            candidates: None,
            max_iter: 50,
            overshoot: 0.02,
            batch_size: 128,
            one_pass: false,
        }
    }
}

/// The margins of one band over all images.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BandMargins {
    /// The band's position, 0 = lowest frequencies.
    pub band: usize,
    /// Its first frequency on each axis.
    pub start: usize,
    /// The dimension of its subspace: `band_size^2 * channels`.
    pub dim: usize,
    /// The median over all images of the margin, a not-flipped image
    /// counting as `+inf` (its margin exceeds any distance reached); `None`
    /// (null) when that median is infinite, i.e. unless more than half of
    /// the images flipped.
    pub median_margin: Option<f64>,
    /// The median over the flipped images only; `None` when none flipped.
    /// Smaller than the true median when some did not flip.
    pub median_margin_flipped: Option<f64>,
    /// The share of images whose decision flipped within `max_iter`.
    pub flipped_fraction: f64,
}

/// One image's margin in one band.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImageMargin {
    /// Position of the image in the probed set.
    pub image: usize,
    /// Its true label.
    pub label: u32,
    /// The model's prediction, the decision whose boundary is measured.
    pub prediction: u32,
    /// The band.
    pub band: usize,
    /// `||(1 + overshoot) r||_2` when the decision flipped, else `None`.
    pub margin: Option<f64>,
    /// Whether the decision flipped within `max_iter` steps.
    pub flipped: bool,
}

/// The result of [`margin_probe`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MarginReport {
    /// The classifier's name.
    pub model: String,
    /// Images probed.
    pub images: usize,
    /// Band size and step, as asked.
    pub band_size: usize,
    /// See [`MarginOptions::band_step`].
    pub band_step: usize,
    /// See [`MarginOptions::candidates`] (`None` = all classes).
    pub candidates: Option<usize>,
    /// See [`MarginOptions::overshoot`].
    pub overshoot: f64,
    /// See [`MarginOptions::max_iter`].
    pub max_iter: usize,
    /// Accuracy of the model's predictions on the probed images.
    pub accuracy: f64,
    /// Per band, low to high frequencies.
    pub bands: Vec<BandMargins>,
    /// Every image in every band, band-major (not serialised: a CSV's
    /// content, not a summary's).
    #[serde(skip)]
    pub per_image: Vec<ImageMargin>,
}

/// The summary of one band from its images' margins (`None` = not flipped).
pub fn summarize_band(band: &DctBand, channels: usize, margins: &[Option<f64>]) -> BandMargins {
    let mut flipped: Vec<f64> = margins.iter().flatten().copied().collect();
    flipped.sort_by(f64::total_cmp);
    let mut all = flipped.clone();
    all.resize(margins.len(), f64::INFINITY);
    BandMargins {
        band: band.index,
        start: band.start,
        dim: band.dim(channels),
        median_margin: median_of_sorted(&all).filter(|m| m.is_finite()),
        median_margin_flipped: median_of_sorted(&flipped),
        flipped_fraction: if margins.is_empty() {
            0.0
        } else {
            flipped.len() as f64 / margins.len() as f64
        },
    }
}

/// Measures every image of `set` along every band of `opts`. Errors name
/// the option: a band size that does not divide the images, zero values,
/// fewer than 2 candidates, an empty set, a model made for other images.
pub fn margin_probe(
    model: &dyn Classifier,
    set: &ImageSet,
    opts: &MarginOptions,
    device: &Device,
) -> Result<MarginReport> {
    let bad = |name: &'static str, problem: String| Error::InvalidArgument { name, problem };
    if set.is_empty() {
        return Err(bad("image set", "it is empty".into()));
    }
    if opts.batch_size == 0 {
        return Err(bad("batch size", "must be at least 1".into()));
    }
    if opts.max_iter == 0 {
        return Err(bad("max_iter", "must be at least 1".into()));
    }
    if let Some(k) = opts.candidates {
        if k < 2 {
            return Err(bad(
                "candidates",
                format!("{k}: expected at least 2 (the prediction and one other class)"),
            ));
        }
    }
    check_fit(model, set)?;
    let shape = set.image_shape();
    let bands = diagonal_bands(shape, opts.band_size, opts.band_step)?;

    // The decision of the model on each image: the boundary DeepFool seeks.
    let mut predictions: Vec<u32> = Vec::with_capacity(set.len());
    for batch in set.batches(opts.batch_size, Order::Sequential, false, device)? {
        let batch = batch?;
        let pred = model.logits(&batch.images)?.argmax(D::Minus1)?;
        predictions.extend(pred.to_vec1::<u32>()?);
    }
    let labels = set.labels();
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, y)| p == y)
        .count();

    let mut per_image = Vec::with_capacity(set.len() * bands.len());
    let mut summaries = Vec::with_capacity(bands.len());
    for band in &bands {
        let attack = DeepFool::new(DeepFoolConfig {
            steps: opts.max_iter,
            overshoot: opts.overshoot,
            candidates: opts.candidates,
            subspace: Some(band.basis(shape, device)?),
            one_pass: opts.one_pass,
            ..DeepFoolConfig::new(Norm::L2)
        })?;
        let mut margins = Vec::with_capacity(set.len());
        for batch in set.batches(opts.batch_size, Order::Sequential, false, device)? {
            let batch = batch?;
            let pred: Vec<u32> = batch.indices.iter().map(|&i| predictions[i]).collect();
            let y = Tensor::from_vec(pred, batch.indices.len(), device)?;
            let found = attack.margins(model, &batch.images, &y)?;
            for (p, &i) in batch.indices.iter().enumerate() {
                let margin = found.margins[p].map(f64::from);
                margins.push(margin);
                per_image.push(ImageMargin {
                    image: i,
                    label: labels[i],
                    prediction: predictions[i],
                    band: band.index,
                    margin,
                    flipped: found.flipped[p],
                });
            }
        }
        summaries.push(summarize_band(band, shape[0], &margins));
    }
    Ok(MarginReport {
        model: model.name().to_string(),
        images: set.len(),
        band_size: opts.band_size,
        band_step: opts.band_step,
        candidates: opts.candidates,
        overshoot: opts.overshoot,
        max_iter: opts.max_iter,
        accuracy: correct as f64 / set.len() as f64,
        bands: summaries,
        per_image,
    })
}

#[cfg(test)]
mod tests;
