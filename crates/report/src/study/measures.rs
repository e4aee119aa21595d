//! The per-run numbers that the claims and tables compare: one number per
//! (regime, seed), so that seeds can be paired.

use super::load::Run;
use super::stages::AlphaSweepResult;

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

/// The Fig. 1 fraction of `kind` at `level`: the share of test images with
/// a same-class image closer (in DS) than their own perturbed version
/// (paper Sec. 2.2).
pub fn discontinuity_fraction(run: &Run, kind: &str, level: u8) -> Option<f64> {
    Some(run.discontinuity.as_ref()?.get(kind, level)?.fraction)
}

/// The Fig. 1 mean rank of `kind` at `level`: how many same-class images
/// are closer than the perturbed version, on average.
pub fn discontinuity_rank(run: &Run, kind: &str, level: u8) -> Option<f64> {
    Some(run.discontinuity.as_ref()?.get(kind, level)?.mean_rank)
}

/// log10 of the median margin in DCT band `band` (companion paper);
/// `None` when the band was not probed or its median is undefined (at most
/// half of the images flipped: the median is beyond DeepFool's reach).
/// Margins span orders of magnitude, so they are averaged over seeds on
/// the log scale (a geometric mean).
pub fn log_margin(run: &Run, band: usize) -> Option<f64> {
    let m = run
        .margin
        .as_ref()?
        .bands
        .iter()
        .find(|b| b.band == band)?
        .median_margin?;
    (m > 0.0).then(|| m.log10())
}

/// The companion's measure of claim M: the mean of [`log_margin`] over the
/// high-frequency half of the bands (index at least half the band count);
/// `None` when any of them is undefined, so that a seed is compared on the
/// same bands in both regimes or not at all.
pub fn high_frequency_log_margin(run: &Run) -> Option<f64> {
    let bands = &run.margin.as_ref()?.bands;
    let half = bands.len() / 2;
    let high: Option<Vec<f64>> = bands
        .iter()
        .filter(|b| b.band >= half)
        .map(|b| log_margin(run, b.band))
        .collect();
    let high = high?;
    (!high.is_empty()).then(|| high.iter().sum::<f64>() / high.len() as f64)
}

/// Test accuracy of the regime trained on the colour-biased set (Table 4).
pub fn fairness_accuracy(run: &Run) -> Option<f64> {
    Some(run.fairness.as_ref()?.accuracy)
}

/// Share of predictions that change when only the background colour is
/// swapped: how much the model uses the colour (0 = not at all).
pub fn flip_rate(run: &Run) -> Option<f64> {
    Some(run.fairness.as_ref()?.flip_rate)
}

/// Test accuracy on the target after fine-tuning (Table 3).
pub fn transfer_accuracy(run: &Run) -> Option<f64> {
    run.transfer.as_ref()?.test_accuracy
}

/// Claim C2's measure on one seed's alpha sweep: the relative change of
/// the continuity score from the smallest to the largest alpha,
/// `score(max) / score(min) - 1` (negative = the score falls as alpha
/// grows); `None` with fewer than two alphas or a zero score at the
/// smallest alpha.
pub fn alpha_score_change(sweep: &AlphaSweepResult) -> Option<f64> {
    let p = sweep.sorted();
    let (first, last) = (p.first()?, p.last()?);
    (p.len() >= 2 && first.continuity_score > 0.0)
        .then(|| last.continuity_score / first.continuity_score - 1.0)
}

/// The accuracy change from the smallest to the largest alpha (the paper:
/// a slight drop); `None` with fewer than two alphas.
pub fn alpha_accuracy_change(sweep: &AlphaSweepResult) -> Option<f64> {
    let p = sweep.sorted();
    (p.len() >= 2).then(|| p[p.len() - 1].accuracy - p[0].accuracy)
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
            ..Run::default()
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

    #[test]
    fn margin_measures_average_the_upper_bands_on_the_log_scale() {
        use super::super::stages::{BandMargin, MarginResult};
        let band = |b, m| BandMargin {
            band: b,
            start: 8 * b,
            dim: 192,
            median_margin: m,
            flipped_fraction: 0.9,
        };
        let mut run = Run {
            margin: Some(MarginResult {
                images: 20,
                band_size: 8,
                max_iter: 50,
                accuracy: 0.9,
                bands: vec![
                    band(0, Some(0.5)),
                    band(1, None),
                    band(2, Some(10.0)),
                    band(3, Some(1000.0)),
                ],
                meta: None,
            }),
            ..Run::default()
        };
        assert_eq!(log_margin(&run, 3), Some(3.0));
        assert_eq!(log_margin(&run, 1), None);
        // Bands 2 and 3 of 4: (1 + 3) / 2; band 1's undefined median is below the half.
        assert_eq!(high_frequency_log_margin(&run), Some(2.0));
        // An undefined median among the upper bands: no value for this seed.
        run.margin.as_mut().unwrap().bands[3].median_margin = None;
        assert_eq!(high_frequency_log_margin(&run), None);
        assert_eq!(high_frequency_log_margin(&Run::default()), None);
    }

    #[test]
    fn alpha_changes_run_from_the_smallest_to_the_largest_alpha() {
        use super::super::stages::AlphaPoint;
        let point = |alpha, accuracy, continuity_score| AlphaPoint {
            alpha,
            accuracy,
            continuity_score,
        };
        // Listed out of order: the measures sort by alpha.
        let sweep = AlphaSweepResult {
            points: vec![
                point(1.0, 0.80, 2.0),
                point(0.0, 0.90, 8.0),
                point(0.1, 0.88, 5.0),
            ],
            images: Some(100),
        };
        // 2 / 8 - 1 = -0.75; 0.80 - 0.90 = -0.10.
        assert!((alpha_score_change(&sweep).unwrap() + 0.75).abs() < 1e-12);
        assert!((alpha_accuracy_change(&sweep).unwrap() + 0.10).abs() < 1e-12);
        let one = AlphaSweepResult {
            points: vec![point(0.1, 0.9, 3.0)],
            images: None,
        };
        assert_eq!(alpha_score_change(&one), None);
        assert_eq!(alpha_accuracy_change(&one), None);
    }

    #[test]
    fn discontinuity_measures_read_their_kind_and_level() {
        use super::super::stages::{
            DiscontinuityResult, EmbeddingQuality, Embeddings, Fig1Entry, Fig2Summary,
        };
        let q = |t| EmbeddingQuality { trustworthiness: t };
        let entry = |k: &str, l, f, m| Fig1Entry {
            perturbation: k.into(),
            level: l,
            fraction: f,
            mean_rank: m,
        };
        let run = Run {
            discontinuity: Some(DiscontinuityResult {
                images: 30,
                fig1: vec![
                    entry("brightness", 1, 0.2, 1.5),
                    entry("hue", 4, 0.6, 7.0),
                    entry("hue", 1, 0.1, 0.5),
                ],
                embeddings: Embeddings {
                    pca: q(0.9),
                    tsne: q(0.95),
                    umap: q(0.93),
                },
                fig2: Fig2Summary {
                    class_name: "ring".into(),
                    anchor: 3,
                    level: 1,
                    points: 7,
                },
                meta: None,
            }),
            ..Run::default()
        };
        assert_eq!(discontinuity_fraction(&run, "hue", 4), Some(0.6));
        assert_eq!(discontinuity_rank(&run, "hue", 4), Some(7.0));
        assert_eq!(discontinuity_fraction(&run, "hue", 2), None);
        // (0.2 + 0.6 + 0.1) / 3 over the measured pairs only.
        let m = photometric_mean(&run, discontinuity_fraction).unwrap();
        assert!((m - 0.3).abs() < 1e-12, "{m}");
        assert_eq!(
            photometric_mean(&Run::default(), discontinuity_fraction),
            None
        );
    }
}
