//! The fairness numbers of one model on one grouped set and its
//! counterfactual (paper Sec. 4.7).

use crate::{Error, Result};
use candle_core::{Device, Tensor};
use sc_core::Classifier;
use sc_data::{ImageSet, Order};

/// Accuracy on the images of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAccuracy {
    /// The group's name (a background colour in a Colorful set).
    pub group: String,
    /// Images of the group.
    pub n: usize,
    /// Share of them classified correctly; `None` when the group is empty.
    pub accuracy: Option<f64>,
}

/// What [`evaluate`] measures.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessReport {
    /// Images evaluated.
    pub n: usize,
    /// Share of all images classified correctly.
    pub accuracy: f64,
    /// Accuracy per group, in group order.
    pub groups: Vec<GroupAccuracy>,
    /// Best minus worst accuracy over the non-empty groups; `None` with
    /// fewer than two.
    pub gap: Option<f64>,
    /// Share of images whose predicted class differs on the counterfactual.
    pub flip_rate: f64,
    /// Share of counterfactual images classified correctly.
    pub counterfactual_accuracy: f64,
}

/// The predicted class (arg-max of the logits; the first on ties) of every
/// image of `set`, in set order, `batch_size` images at a time.
pub fn predictions(
    model: &dyn Classifier,
    set: &ImageSet,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(set.len());
    for batch in set.batches(batch_size, Order::Sequential, false, device)? {
        let logits: Tensor = model.logits(&batch?.images)?;
        let rows: Vec<Vec<f32>> = logits.to_dtype(candle_core::DType::F32)?.to_vec2()?;
        out.extend(rows.iter().map(|r| first_argmax(r)));
    }
    Ok(out)
}

fn first_argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Accuracy, per-group accuracy and gap of `model` on `set` (which must
/// carry groups, [`ImageSet::groups`]), and the flip rate and accuracy on
/// `counterfactual`: the same images, in the same order, with only the
/// spurious attribute changed.
pub fn evaluate(
    model: &dyn Classifier,
    set: &ImageSet,
    counterfactual: &ImageSet,
    batch_size: usize,
    device: &Device,
) -> Result<FairnessReport> {
    let bad = |name: &'static str, problem: String| Error::InvalidArgument { name, problem };
    let groups = set.groups().ok_or_else(|| {
        bad(
            "image set",
            "it has no groups: expected a Colorful set (colorful:SPEC)".into(),
        )
    })?;
    if set.is_empty() {
        return Err(bad("image set", "it is empty".into()));
    }
    if counterfactual.labels() != set.labels() || counterfactual.image_shape() != set.image_shape()
    {
        return Err(bad(
            "counterfactual set",
            format!(
                "{} images of {:?}: expected the {} images of {:?} with the same labels",
                counterfactual.len(),
                counterfactual.image_shape(),
                set.len(),
                set.image_shape()
            ),
        ));
    }
    if model.input_shape() != set.image_shape() || model.num_classes() != set.num_classes() {
        return Err(bad(
            "model",
            format!(
                "{} takes {:?} images and has {} classes; the set has {:?} images and {} classes",
                model.name(),
                model.input_shape(),
                model.num_classes(),
                set.image_shape(),
                set.num_classes()
            ),
        ));
    }
    let predicted = predictions(model, set, batch_size, device)?;
    let predicted_cf = predictions(model, counterfactual, batch_size, device)?;
    let labels = set.labels();
    let n = set.len();
    let share = |count: usize, of: usize| count as f64 / of as f64;
    let correct = |p: &[u32], i: usize| p[i] == labels[i];
    let accuracy = share((0..n).filter(|&i| correct(&predicted, i)).count(), n);
    let groups: Vec<GroupAccuracy> = groups
        .names()
        .iter()
        .enumerate()
        .map(|(g, name)| {
            let members: Vec<usize> = (0..n)
                .filter(|&i| groups.of_image()[i] as usize == g)
                .collect();
            let hits = members.iter().filter(|&&i| correct(&predicted, i)).count();
            GroupAccuracy {
                group: name.clone(),
                n: members.len(),
                accuracy: (!members.is_empty()).then(|| share(hits, members.len())),
            }
        })
        .collect();
    let present: Vec<f64> = groups.iter().filter_map(|g| g.accuracy).collect();
    let gap = (present.len() >= 2).then(|| {
        present.iter().cloned().fold(f64::MIN, f64::max)
            - present.iter().cloned().fold(f64::MAX, f64::min)
    });
    Ok(FairnessReport {
        n,
        accuracy,
        groups,
        gap,
        flip_rate: share(
            (0..n).filter(|&i| predicted[i] != predicted_cf[i]).count(),
            n,
        ),
        counterfactual_accuracy: share((0..n).filter(|&i| correct(&predicted_cf, i)).count(), n),
    })
}

#[cfg(test)]
mod tests;
