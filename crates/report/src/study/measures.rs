//! The per-run numbers that the claims and tables compare: one number per
//! (regime, seed), so that seeds can be paired.

use super::load::Run;

/// The photometric kinds of Table 1 (Fig. 3).
pub const PHOTOMETRIC: [&str; 4] = ["brightness", "contrast", "saturation", "hue"];

/// The semantic-destroying probes of Sec. 4.3 (Figs. 6, 8, 10).
pub const SEMANTIC: [&str; 3] = ["channel-translation", "centre-shuffle", "sliding-puzzle"];

/// The levels of every perturbation.
pub const LEVELS: [u8; 4] = [1, 2, 3, 4];

/// DS of `kind` at `level` divided by the mean DS between two different
/// images of the same class: how far the perturbation moves the logits in
/// units of the distance to another image of the class (the Fig. 1
/// comparison). Free of the logit scale, which differs between regimes.
pub fn scale_free_ds(run: &Run, kind: &str, level: u8) -> Option<f64> {
    let sweep = run.sweep.as_ref()?;
    let reference = sweep.same_class_ds.filter(|d| *d > 0.0)?;
    Some(sweep.get(kind, level)?.mean_ds / reference)
}

/// `DS(x, P(x))` of `kind` at `level`.
pub fn ds(run: &Run, kind: &str, level: u8) -> Option<f64> {
    Some(run.sweep.as_ref()?.get(kind, level)?.mean_ds)
}

/// The mean over the photometric (kind, level) pairs that were measured of
/// `f`; `None` if none was. (Not-applicable pairs, e.g. hue on gray images,
/// are absent in every regime alike, so the mean stays paired.)
pub fn photometric_mean(run: &Run, f: fn(&Run, &str, u8) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = PHOTOMETRIC
        .iter()
        .flat_map(|k| LEVELS.iter().map(move |l| (*k, *l)))
        .filter_map(|(k, l)| f(run, k, l))
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Accuracy lost to `kind` at `level`: clean accuracy minus accuracy on
/// the perturbed images (the sweep's own clean accuracy, same images).
pub fn accuracy_drop(run: &Run, kind: &str, level: u8) -> Option<f64> {
    let sweep = run.sweep.as_ref()?;
    Some(sweep.clean_accuracy - sweep.get(kind, level)?.accuracy)
}

/// The mean accuracy drop of `kind` over its four levels (all four needed).
pub fn mean_accuracy_drop(run: &Run, kind: &str) -> Option<f64> {
    let v: Option<Vec<f64>> = LEVELS
        .iter()
        .map(|l| accuracy_drop(run, kind, *l))
        .collect();
    let v = v?;
    Some(v.iter().sum::<f64>() / v.len() as f64)
}

/// Robust accuracy: the per-image worst case over every attack run.
pub fn robust_accuracy(run: &Run) -> Option<f64> {
    Some(run.eval.as_ref()?.robust_accuracy)
}

/// Accuracy after the first `k + 1` attacks of the evaluation.
pub fn accuracy_after(run: &Run, k: usize) -> Option<f64> {
    Some(run.eval.as_ref()?.attacks.get(k)?.accuracy)
}

/// Clean accuracy of the evaluation.
pub fn clean_accuracy(run: &Run) -> Option<f64> {
    Some(run.eval.as_ref()?.clean_accuracy)
}

/// Mean total variation of `method`'s maps (lower = smoother).
pub fn total_variation(run: &Run, method: &str) -> Option<f64> {
    Some(run.attribution.get(method)?.mean_total_variation)
}

#[cfg(test)]
mod tests {
    use super::super::stages::{SweepEntry, SweepResult};
    use super::*;
    use std::collections::BTreeMap;

    fn run_with(entries: Vec<(&str, u8, f64, f64)>, same_class: Option<f64>) -> Run {
        Run {
            regime: "base".into(),
            seed: 0,
            train: None,
            eval: None,
            sweep: Some(SweepResult {
                images: 10,
                clean_accuracy: 0.9,
                reduction: "sum".into(),
                same_class_ds: same_class,
                entries: entries
                    .into_iter()
                    .map(|(k, l, d, a)| SweepEntry {
                        kind: k.into(),
                        level: l,
                        mean_ds: d,
                        accuracy: a,
                    })
                    .collect(),
                meta: None,
            }),
            attribution: BTreeMap::new(),
            attribution_images: BTreeMap::new(),
        }
    }

    #[test]
    fn measures_are_the_hand_computed_numbers() {
        let r = run_with(
            vec![
                ("brightness", 1, 2.0, 0.8),
                ("hue", 3, 4.0, 0.7),
                ("sliding-puzzle", 1, 9.0, 0.8),
                ("sliding-puzzle", 2, 9.0, 0.6),
                ("sliding-puzzle", 3, 9.0, 0.5),
                ("sliding-puzzle", 4, 9.0, 0.3),
            ],
            Some(8.0),
        );
        // Only the two photometric entries count: (2 + 4) / 2.
        assert_eq!(photometric_mean(&r, ds), Some(3.0));
        assert_eq!(photometric_mean(&r, scale_free_ds), Some(3.0 / 8.0));
        assert_eq!(scale_free_ds(&r, "hue", 3), Some(0.5));
        // Drops 0.1, 0.3, 0.4, 0.6: mean 0.35.
        let d = mean_accuracy_drop(&r, "sliding-puzzle").unwrap();
        assert!((d - 0.35).abs() < 1e-12);
        // A kind with missing levels has no mean drop; no reference, no scale-free DS.
        assert_eq!(mean_accuracy_drop(&r, "centre-shuffle"), None);
        let no_ref = run_with(vec![("hue", 1, 1.0, 0.5)], None);
        assert_eq!(scale_free_ds(&no_ref, "hue", 1), None);
        assert_eq!(photometric_mean(&no_ref, scale_free_ds), None);
    }
}
