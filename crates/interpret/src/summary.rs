//! Attribution maps of a whole image set, reduced to the numbers the paper
//! only shows as pictures (Sec. 4.5, Fig. 6): how smooth the maps are, how
//! much of their mass lies on the object, and how faithful they are to the
//! model (deletion and insertion, Petsiuk et al. 2018).

use crate::faithfulness::{deletion_insertion, Canvas};
use crate::metrics::{central_box, mass_inside, total_variation};
use crate::{invalid, AttributionMap, Result};
use candle_core::{DType, Device, Tensor};
use sc_core::Classifier;
use sc_data::{ImageSet, Order};
use serde::Serialize;

/// The scores of one image's map.
#[derive(Debug, Clone, Serialize)]
pub struct ImageScores {
    /// Position in the set.
    pub index: usize,
    /// The true class.
    pub label: u32,
    /// [`crate::metrics::total_variation`] of the map.
    pub total_variation: f64,
    /// Share of the map's absolute mass on the object (sets with masks).
    pub mass_on_object: Option<f64>,
    /// Share of the map's absolute mass in the central box
    /// ([`crate::metrics::central_box`]), on every set.
    pub mass_in_centre: f64,
    /// Integrated Gradients' completeness gap.
    pub completeness_gap: Option<f64>,
    /// Area under the deletion curve (lower is more faithful).
    pub deletion_auc: f64,
    /// Area under the insertion curve (higher is more faithful).
    pub insertion_auc: f64,
    /// LIME only: the surrogate's weighted R^2.
    pub lime_r2: Option<f64>,
    /// LIME only: the number of superpixels of the image.
    pub lime_segments: Option<usize>,
    /// LIME only: the top superpixels by absolute coefficient, as
    /// `(superpixel, coefficient)`, largest first.
    pub lime_top: Option<Vec<(usize, f64)>>,
}

/// The means of the per-image metrics (the issue's `metrics` object).
#[derive(Debug, Clone, Serialize)]
pub struct MeanMetrics {
    /// Mean [`crate::metrics::total_variation`].
    pub total_variation: f64,
    /// Mean share of the mass inside the object masks (sets with masks).
    pub mask_mass: Option<f64>,
    /// Mean area under the deletion curve.
    pub deletion_auc: f64,
    /// Mean area under the insertion curve.
    pub insertion_auc: f64,
}

/// Means over a set, and every image's scores.
#[derive(Debug, Clone, Serialize)]
pub struct AttributionSummary {
    /// The attribution method.
    pub method: String,
    /// Images summarised.
    pub n: usize,
    /// The largest absolute completeness gap (Integrated Gradients only).
    pub completeness_gap_max: Option<f64>,
    /// Means of the per-image metrics.
    pub metrics: MeanMetrics,
    /// Images summarised (the same as `n`; kept for older readers).
    pub images: usize,
    /// Mean total variation of the maps (lower is smoother).
    pub mean_total_variation: f64,
    /// Only for sets with object masks (`shapes`).
    pub mean_mass_on_object: Option<f64>,
    /// Share of the image area inside the masks: what `mean_mass_on_object`
    /// would be for a map spread evenly.
    pub mean_object_area: Option<f64>,
    /// Mean share of the mass in the central box, on every set (the
    /// stand-in for `mean_mass_on_object` where there are no masks).
    pub mean_mass_in_centre: f64,
    /// Share of the image area inside the central box: what
    /// `mean_mass_in_centre` would be for a map spread evenly.
    pub centre_area: f64,
    /// Mean absolute completeness gap (Integrated Gradients only).
    pub mean_abs_completeness_gap: Option<f64>,
    /// Mean weighted R^2 of LIME's surrogates (LIME only).
    pub mean_lime_r2: Option<f64>,
    /// The scores of every image.
    pub per_image: Vec<ImageScores>,
}

impl AttributionSummary {
    /// The per-image scores as CSV with a header line; absent values are empty.
    pub fn per_image_csv(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        let mut s = String::from(
            "index,label,total_variation,mass_on_object,mass_in_centre,completeness_gap,deletion_auc,insertion_auc,lime_r2\n",
        );
        for r in &self.per_image {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                r.index,
                r.label,
                r.total_variation,
                opt(r.mass_on_object),
                r.mass_in_centre,
                opt(r.completeness_gap),
                r.deletion_auc,
                r.insertion_auc,
                opt(r.lime_r2)
            ));
        }
        s
    }
}

/// How [`summarize`] batches the set and draws the faithfulness curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryConfig {
    /// Images per call of the attribution method.
    pub batch_size: usize,
    /// Steps of the deletion and insertion curves.
    pub curve_steps: usize,
    /// What deleted pixels become (Petsiuk et al.: black).
    pub deletion: Canvas,
    /// What pixels are inserted onto (Petsiuk et al.: a blurred copy).
    pub insertion: Canvas,
}

impl Default for SummaryConfig {
    fn default() -> Self {
        SummaryConfig {
            batch_size: 32,
            curve_steps: 16,
            deletion: Canvas::Black,
            insertion: Canvas::Blur,
        }
    }
}

/// Everything [`summarize`] computed, on the CPU, in the set's order.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The numbers.
    pub summary: AttributionSummary,
    /// Per input value, `[N, C, H, W]`.
    pub attributions: Tensor,
    /// The maps `[N, H, W]` the pictures show.
    pub maps: Tensor,
    /// GradCAM's maps before upsampling, `[N, h, w]`.
    pub coarse: Option<Tensor>,
    /// The true class of each image.
    pub labels: Vec<u32>,
    /// Each image's position in the set.
    pub indices: Vec<usize>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Runs `attribute(images, labels)` over `set` in batches (each image's
/// map explains its true label), scores every map (smoothness, mass on the
/// object, deletion and insertion AUC under `model`) and returns the
/// summary with the attributions and maps.
pub fn summarize(
    set: &ImageSet,
    method: &str,
    model: &dyn Classifier,
    config: SummaryConfig,
    device: &Device,
    attribute: &mut dyn FnMut(&Tensor, &Tensor) -> Result<AttributionMap>,
) -> Result<Explained> {
    if config.batch_size == 0 {
        return Err(invalid("batch size", "0: expected at least 1"));
    }
    if config.curve_steps == 0 {
        return Err(invalid("curve steps", "0: expected at least 1 step"));
    }
    if set.is_empty() {
        return Err(invalid("images", "the set is empty"));
    }
    let mut per_image = Vec::with_capacity(set.len());
    let (mut maps, mut attributions, mut coarse) = (Vec::new(), Vec::new(), Vec::new());
    let (mut labels, mut indices) = (Vec::new(), Vec::new());
    let mut areas = Vec::new();
    for batch in set.batches(config.batch_size, Order::Sequential, false, device)? {
        let batch = batch?;
        let map = attribute(&batch.images, &batch.labels)?;
        let tv = total_variation(&map.map)?;
        let mass = match &batch.masks {
            Some(m) => {
                areas.extend(m.mean((1, 2))?.to_dtype(DType::F64)?.to_vec1::<f64>()?);
                Some(mass_inside(&map.map, m)?)
            }
            None => None,
        };
        let (n, h, w) = map.map.dims3()?;
        let centre =
            Tensor::from_vec(central_box(h, w), (1, h, w), map.map.device())?.repeat((n, 1, 1))?;
        let centre_mass = mass_inside(&map.map, &centre)?;
        let curves = deletion_insertion(
            model,
            &batch.images,
            &batch.labels,
            &map.map,
            config.curve_steps,
            config.deletion,
            config.insertion,
        )?;
        let batch_labels = batch.labels.to_vec1::<u32>()?;
        for (i, &index) in batch.indices.iter().enumerate() {
            per_image.push(ImageScores {
                index,
                label: batch_labels[i],
                total_variation: tv[i],
                mass_on_object: mass.as_ref().map(|m| m[i]),
                mass_in_centre: centre_mass[i],
                completeness_gap: map.completeness_gap.as_ref().map(|g| g[i]),
                deletion_auc: curves.deletion_auc[i],
                insertion_auc: curves.insertion_auc[i],
                lime_r2: map.lime.as_ref().map(|f| f[i].r2),
                lime_segments: map.lime.as_ref().map(|f| f[i].segments),
                lime_top: map.lime.as_ref().map(|f| {
                    f[i].top
                        .iter()
                        .map(|&l| (l, f[i].coefficients[l]))
                        .collect()
                }),
            });
        }
        labels.extend(batch_labels);
        indices.extend(batch.indices.iter().copied());
        maps.push(map.map.to_device(&Device::Cpu)?);
        attributions.push(map.attributions.to_device(&Device::Cpu)?);
        if let Some(c) = &map.coarse {
            coarse.push(c.to_device(&Device::Cpu)?);
        }
    }
    let total_variation = mean(per_image.iter().map(|s| s.total_variation)).unwrap_or(0.0);
    let mask_mass = mean(per_image.iter().filter_map(|s| s.mass_on_object));
    let gaps = || {
        per_image
            .iter()
            .filter_map(|s| s.completeness_gap.map(f64::abs))
    };
    let summary = AttributionSummary {
        method: method.to_string(),
        n: per_image.len(),
        completeness_gap_max: gaps().reduce(f64::max),
        metrics: MeanMetrics {
            total_variation,
            mask_mass,
            deletion_auc: mean(per_image.iter().map(|s| s.deletion_auc)).unwrap_or(0.0),
            insertion_auc: mean(per_image.iter().map(|s| s.insertion_auc)).unwrap_or(0.0),
        },
        images: per_image.len(),
        mean_total_variation: total_variation,
        mean_mass_on_object: mask_mass,
        mean_object_area: mean(areas.into_iter()),
        mean_mass_in_centre: mean(per_image.iter().map(|s| s.mass_in_centre)).unwrap_or(0.0),
        centre_area: {
            let (h, w) = (set.image_shape()[1], set.image_shape()[2]);
            central_box(h, w).iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64
        },
        mean_abs_completeness_gap: mean(gaps()),
        mean_lime_r2: mean(per_image.iter().filter_map(|s| s.lime_r2)),
        per_image,
    };
    let coarse = if coarse.is_empty() {
        None
    } else {
        Some(Tensor::cat(&coarse, 0)?)
    };
    Ok(Explained {
        summary,
        attributions: Tensor::cat(&attributions, 0)?,
        maps: Tensor::cat(&maps, 0)?,
        coarse,
        labels,
        indices,
    })
}
