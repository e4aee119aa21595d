//! Attribution maps of a whole image set, reduced to the numbers the paper
//! only shows as pictures (Sec. 4.5, Fig. 6): how smooth the maps are and
//! how much of their mass lies on the object.

use crate::metrics::{mass_inside, total_variation};
use crate::{invalid, AttributionMap, Result};
use candle_core::{Device, Tensor};
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
    /// Integrated Gradients' completeness gap.
    pub completeness_gap: Option<f64>,
}

/// Means over a set, and every image's scores.
#[derive(Debug, Clone, Serialize)]
pub struct AttributionSummary {
    /// The attribution method.
    pub method: String,
    /// Images summarised.
    pub images: usize,
    /// Mean total variation of the maps (lower is smoother).
    pub mean_total_variation: f64,
    /// Only for sets with object masks (`shapes`).
    pub mean_mass_on_object: Option<f64>,
    /// Share of the image area inside the masks: what `mean_mass_on_object`
    /// would be for a map spread evenly.
    pub mean_object_area: Option<f64>,
    /// Mean absolute completeness gap (Integrated Gradients only).
    pub mean_abs_completeness_gap: Option<f64>,
    /// The scores of every image.
    pub per_image: Vec<ImageScores>,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Runs `attribute(images, labels)` over `set` in batches (each image's
/// map explains its true label), scores every map, and returns the summary
/// with the maps `[N, H, W]` (on the CPU) for drawing.
pub fn summarize(
    set: &ImageSet,
    method: &str,
    batch_size: usize,
    device: &Device,
    attribute: &mut dyn FnMut(&Tensor, &Tensor) -> Result<AttributionMap>,
) -> Result<(AttributionSummary, Tensor)> {
    if batch_size == 0 {
        return Err(invalid("batch size", "0: expected at least 1"));
    }
    if set.is_empty() {
        return Err(invalid("images", "the set is empty"));
    }
    let mut per_image = Vec::with_capacity(set.len());
    let mut maps = Vec::new();
    let mut areas = Vec::new();
    for batch in set.batches(batch_size, Order::Sequential, false, device)? {
        let batch = batch?;
        let map = attribute(&batch.images, &batch.labels)?;
        let tv = total_variation(&map.map)?;
        let mass = match &batch.masks {
            Some(m) => {
                areas.extend(
                    m.mean((1, 2))?
                        .to_dtype(candle_core::DType::F64)?
                        .to_vec1::<f64>()?,
                );
                Some(mass_inside(&map.map, m)?)
            }
            None => None,
        };
        let labels = batch.labels.to_vec1::<u32>()?;
        for (i, &index) in batch.indices.iter().enumerate() {
            per_image.push(ImageScores {
                index,
                label: labels[i],
                total_variation: tv[i],
                mass_on_object: mass.as_ref().map(|m| m[i]),
                completeness_gap: map.completeness_gap.as_ref().map(|g| g[i]),
            });
        }
        maps.push(map.map.to_device(&Device::Cpu)?);
    }
    let summary = AttributionSummary {
        method: method.to_string(),
        images: per_image.len(),
        mean_total_variation: mean(per_image.iter().map(|s| s.total_variation)).unwrap_or(0.0),
        mean_mass_on_object: mean(per_image.iter().filter_map(|s| s.mass_on_object)),
        mean_object_area: mean(areas.into_iter()),
        mean_abs_completeness_gap: mean(
            per_image
                .iter()
                .filter_map(|s| s.completeness_gap.map(f64::abs)),
        ),
        per_image,
    };
    Ok((summary, Tensor::cat(&maps, 0)?))
}
