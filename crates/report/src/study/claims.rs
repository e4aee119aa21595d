//! The claims table: one row per claim of the paper (C1-C9 and the
//! companion paper's margin claim M), with the paper's finding (from
//! PAPER.md), ours as a paired difference over seeds with its 95% CI, and
//! the verdict from that CI alone ([`Verdict::from_ci`]). A claim whose
//! stage this study did not run says so; nothing is filled in.

use super::load::{Run, Study};
use super::measures::{
    alpha_score_change, discontinuity_fraction, ds, fairness_accuracy, flip_rate,
    high_frequency_log_margin, mean_accuracy_drop, photometric_mean, robust_accuracy,
    scale_free_ds, total_variation, transfer_accuracy,
};
use super::stats::{paired_difference, Estimate};
use super::verdict::{Expect, Verdict};

/// One row of the claims table.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    /// `C1`, `C1'`, `C6`, `M`, ...
    pub id: String,
    /// The claim, in words.
    pub claim: String,
    /// The comparison `A - B` (e.g. `c - base`), or empty when not run.
    pub comparison: String,
    /// What is compared, with its unit.
    pub measure: String,
    /// What the paper found.
    pub paper: String,
    /// Our paired difference over seeds (already in the measure's unit).
    pub ours: Option<Estimate>,
    /// Decimals to show `ours` with.
    pub decimals: usize,
    /// The verdict.
    pub verdict: Verdict,
}

impl ClaimRow {
    /// Our finding as the table shows it.
    pub fn ours_text(&self) -> String {
        match (&self.ours, self.verdict) {
            (_, Verdict::NotRun) => "not run in this study".into(),
            // `display` already says "n=1, no CI" without an interval.
            (Some(e), _) if e.ci.is_none() => e.display(self.decimals),
            (Some(e), _) => format!("{} (n={})", e.display(self.decimals), e.n),
            (None, _) => "no paired seeds with a value".into(),
        }
    }
}

/// A measured comparison: `a - b` of `measure` (scaled by `scale`).
struct Comparison<'a> {
    id: &'a str,
    claim: &'a str,
    measure: &'a str,
    paper: &'a str,
    a: &'a str,
    b: &'a str,
    expect: Expect,
    scale: f64,
    decimals: usize,
}

fn compare(study: &Study, c: Comparison<'_>, f: &dyn Fn(&Run) -> Option<f64>) -> ClaimRow {
    let (a, b) = (study.per_seed(c.a, f), study.per_seed(c.b, f));
    let ours = paired_difference(&a, &b).map(|e| e.scaled(c.scale));
    let verdict = match &ours {
        Some(e) => Verdict::from_ci(e, c.expect),
        None if a.is_empty() || b.is_empty() => Verdict::NotRun,
        None => Verdict::Inconclusive,
    };
    ClaimRow {
        id: c.id.into(),
        claim: c.claim.into(),
        comparison: format!("{} - {}", c.a, c.b),
        measure: c.measure.into(),
        paper: c.paper.into(),
        ours,
        decimals: c.decimals,
        verdict,
    }
}

fn not_run(id: &str, claim: &str, paper: &str, stage: &str) -> ClaimRow {
    ClaimRow {
        id: id.into(),
        claim: claim.into(),
        comparison: String::new(),
        measure: stage.into(),
        paper: paper.into(),
        ours: None,
        decimals: 0,
        verdict: Verdict::NotRun,
    }
}

/// Claim C2 (Fig. 4). The rule: per seed's sweep, the relative change of
/// the continuity score from the smallest to the largest alpha
/// ([`alpha_score_change`]); the paper predicts it negative, and the
/// verdict is the CI of its mean over seeds. One seed has no CI: the
/// verdict is then `inconclusive`, whatever the value. The accuracy side
/// ("drops slightly") has no stated size to test and is shown, not judged.
fn alpha_row(study: &Study) -> ClaimRow {
    const CLAIM: &str = "as alpha grows, accuracy drops slightly and DS strongly";
    const PAPER: &str = "alpha 1.0 chosen from the trade-off (Fig. 4, no numbers)";
    if study.alpha_sweeps.is_empty() {
        return not_run("C2", CLAIM, PAPER, "alpha sweep");
    }
    let changes: Vec<f64> = study
        .alpha_sweeps
        .iter()
        .filter_map(|(_, s)| alpha_score_change(s))
        .collect();
    let ours = Estimate::of(&changes).map(|e| e.scaled(100.0));
    let verdict = ours.as_ref().map_or(Verdict::Inconclusive, |e| {
        Verdict::from_ci(e, Expect::Negative)
    });
    let (lo, hi) = study
        .alpha_sweeps
        .iter()
        .flat_map(|(_, s)| s.points.iter().map(|p| p.alpha))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    ClaimRow {
        id: "C2".into(),
        claim: CLAIM.into(),
        comparison: format!("alpha {hi} vs {lo}"),
        measure: "relative change of the continuity score (sum of level-1 DS), %".into(),
        paper: PAPER.into(),
        ours,
        decimals: 1,
        verdict,
    }
}

/// The pairs each claim is checked on: the constraint added to plain
/// training, and to adversarial training.
const PAIRS: [(&str, &str); 2] = [("c", "base"), ("adv-c", "adv")];

/// The claims table of `study`.
pub fn claims(study: &Study) -> Vec<ClaimRow> {
    let mut rows = Vec::new();
    for (a, b) in PAIRS {
        rows.push(compare(
            study,
            Comparison {
                id: "C1",
                claim: "constrained models have smaller DS under photometric perturbations",
                measure: "DS, mean over kinds and levels",
                paper: "smaller for C and ADV+C at every kind and level (Fig. 3; no numbers)",
                a,
                b,
                expect: Expect::Negative,
                scale: 1.0,
                decimals: 3,
            },
            &|r| photometric_mean(r, ds),
        ));
    }
    for (a, b) in PAIRS {
        rows.push(compare(
            study,
            Comparison {
                id: "C1'",
                claim: "C1 on the scale-free DS (DS / mean same-class DS)",
                measure: "scale-free DS, mean over kinds and levels",
                paper: "not measured (the paper compares raw DS)",
                a,
                b,
                expect: Expect::Negative,
                scale: 1.0,
                decimals: 4,
            },
            &|r| photometric_mean(r, scale_free_ds),
        ));
    }
    for (a, b) in PAIRS {
        rows.push(compare(
            study,
            Comparison {
                id: "F1",
                claim: "Fig. 1: constrained models have a lower discontinuity fraction",
                measure: "share of images with a same-class image closer than their perturbed \
                          version, mean over kinds and levels, points",
                paper:
                    "base ResNet50 (ImageNet): often closer (Fig. 1, no numbers); C not measured",
                a,
                b,
                expect: Expect::Negative,
                scale: 100.0,
                decimals: 2,
            },
            &|r| photometric_mean(r, discontinuity_fraction),
        ));
    }
    rows.push(alpha_row(study));
    let probes = [
        (
            "C3",
            "channel-translation",
            "constrained models lose more accuracy under RGB channel translation",
            "larger drop for C and ADV+C (Fig. 6)",
        ),
        (
            "C4",
            "centre-shuffle",
            "constrained models lose more accuracy when the centre is shuffled",
            "larger drop for C and ADV+C (Fig. 8)",
        ),
        (
            "C5",
            "sliding-puzzle",
            "constrained models lose accuracy faster in the sliding puzzle",
            "faster drop for C and ADV+C as blocks grow (Fig. 10)",
        ),
    ];
    for (id, kind, claim, paper) in probes {
        for (a, b) in PAIRS {
            rows.push(compare(
                study,
                Comparison {
                    id,
                    claim,
                    measure: "accuracy drop from clean, mean over levels 1-4, points",
                    paper,
                    a,
                    b,
                    expect: Expect::Positive,
                    scale: 100.0,
                    decimals: 2,
                },
                &|r| mean_accuracy_drop(r, kind),
            ));
        }
    }
    for ((a, b), paper) in PAIRS.into_iter().zip([
        "+6.67 points (16.01% vs 9.34%, PGD-10, Table 2)",
        "+9.74 points (54.04% vs 44.30%, PGD-10, Table 2)",
    ]) {
        rows.push(compare(
            study,
            Comparison {
                id: "C6",
                claim: "the constraint improves adversarial robustness",
                measure: "robust accuracy (worst case of PGD-10, APGD-CE, APGD-T), points",
                paper,
                a,
                b,
                expect: Expect::Positive,
                scale: 100.0,
                decimals: 2,
            },
            &robust_accuracy,
        ));
    }
    let methods: Vec<String> = {
        let mut m: Vec<String> = study
            .runs
            .iter()
            .flat_map(|r| r.attribution.keys().cloned())
            .collect();
        m.sort();
        m.dedup();
        m
    };
    if methods.is_empty() {
        rows.push(not_run(
            "C7",
            "constrained models' attribution maps are smoother",
            "smoother maps on the object (Figs. 11-13, pictures only)",
            "attribution",
        ));
    }
    for method in &methods {
        for (a, b) in PAIRS {
            rows.push(compare(
                study,
                Comparison {
                    id: "C7",
                    claim: "constrained models' attribution maps are smoother",
                    measure: &format!("total variation of the {method} maps"),
                    paper: "smoother maps on the object (Figs. 11-13, pictures only)",
                    a,
                    b,
                    expect: Expect::Negative,
                    scale: 1.0,
                    decimals: 4,
                },
                &|r| total_variation(r, method),
            ));
        }
    }
    let target = study
        .runs
        .iter()
        .find_map(|r| r.transfer.as_ref())
        .map_or_else(String::new, |t| format!(" on `{}`", t.data));
    for ((a, b), paper) in PAIRS.into_iter().zip([
        "+0.17 (CIFAR-10), +0.35 (SVHN), +0.05 (MNIST) points (Table 3)",
        "+1.23, +0.24, 0.00 points (Table 3)",
    ]) {
        rows.push(compare(
            study,
            Comparison {
                id: "C8",
                claim: "constrained models transfer better when fine-tuned",
                measure: &format!("test accuracy after fine-tuning{target}, points"),
                paper,
                a,
                b,
                expect: Expect::Positive,
                scale: 100.0,
                decimals: 2,
            },
            &transfer_accuracy,
        ));
    }
    let (a, b) = PAIRS[0];
    rows.push(compare(
        study,
        Comparison {
            id: "C9",
            claim: "constrained models are fairer under a colour bias",
            measure: "test accuracy on the colour-biased set, points",
            paper: "+1.53 points on Colorful MNIST (97.54% vs 96.01%, Table 4)",
            a,
            b,
            expect: Expect::Positive,
            scale: 100.0,
            decimals: 2,
        },
        &fairness_accuracy,
    ));
    rows.push(compare(
        study,
        Comparison {
            id: "C9'",
            claim: "C9 as the counterfactual flip rate (prediction changes when only the background colour is swapped)",
            measure: "flip rate, points",
            paper: "not measured (the paper reports accuracy)",
            a,
            b,
            expect: Expect::Negative,
            scale: 100.0,
            decimals: 2,
        },
        &flip_rate,
    ));
    let margins_ran = study.runs.iter().any(|r| r.margin.is_some());
    for (a, b) in PAIRS {
        let mut row = compare(
            study,
            Comparison {
                id: "M",
                claim: "a semantically continuous model has larger margins along high-frequency DCT directions (companion paper)",
                measure: "log10 of the median L2 margin, mean over the high-frequency half of the DCT bands (a log10 ratio)",
                paper: "networks are nearly invariant along non-discriminative directions (Ortiz-Jimenez et al. 2020); C not measured",
                a,
                b,
                expect: Expect::Positive,
                scale: 1.0,
                decimals: 3,
            },
            &high_frequency_log_margin,
        );
        // Probed, but no seed has a defined median in every upper band
        // (at most half flipped): measured and inconclusive, not "not run".
        if margins_ran && row.verdict == Verdict::NotRun {
            row.verdict = Verdict::Inconclusive;
        }
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::super::load::Manifest;
    use super::super::stages::{AlphaPoint, AlphaSweepResult};
    use super::*;

    fn study(sweeps: &[(u64, [f64; 3])]) -> Study {
        let sweep = |scores: [f64; 3]| AlphaSweepResult {
            points: [0.0, 0.1, 1.0]
                .iter()
                .zip(scores)
                .map(|(&alpha, continuity_score)| AlphaPoint {
                    alpha,
                    accuracy: 0.9 - alpha / 10.0,
                    continuity_score,
                })
                .collect(),
            images: Some(100),
        };
        Study {
            dir: "unused".into(),
            manifest: Manifest {
                title: "t".into(),
                command: "c".into(),
                git_revision: None,
                notes: Vec::new(),
                runs: Vec::new(),
                alpha_sweeps: Vec::new(),
                timings: Default::default(),
            },
            runs: Vec::new(),
            alpha_sweeps: sweeps.iter().map(|(s, v)| (*s, sweep(*v))).collect(),
        }
    }

    #[test]
    fn margins_probed_without_a_defined_median_are_inconclusive_not_unrun() {
        use super::super::load::Run;
        use super::super::stages::{BandMargin, MarginResult};
        let run = |regime: &str, seed, high: Option<f64>| Run {
            regime: regime.into(),
            seed,
            margin: Some(MarginResult {
                images: 10,
                band_size: 8,
                max_iter: 5,
                accuracy: 0.5,
                bands: (0..2)
                    .map(|b| BandMargin {
                        band: b,
                        start: 8 * b,
                        dim: 192,
                        median_margin: if b == 0 { Some(1.0) } else { high },
                        flipped_fraction: 0.5,
                    })
                    .collect(),
                meta: None,
            }),
            ..Run::default()
        };
        let mut s = study(&[]);
        s.runs = (0..2)
            .flat_map(|seed| [run("base", seed, None), run("c", seed, None)])
            .collect();
        let m = |s: &Study| claims(s).into_iter().find(|r| r.id == "M").unwrap();
        let row = m(&s);
        assert_eq!(row.verdict, Verdict::Inconclusive);
        assert_eq!(row.ours_text(), "no paired seeds with a value");
        // Defined: c's upper band is 10x base's on both seeds.
        s.runs = (0..2)
            .flat_map(|seed| [run("base", seed, Some(0.5)), run("c", seed, Some(5.0))])
            .collect();
        let row = m(&s);
        assert_eq!(row.verdict, Verdict::Holds);
        assert!((row.ours.unwrap().mean - 1.0).abs() < 1e-12);
        // Never probed: not run.
        s.runs.iter_mut().for_each(|r| r.margin = None);
        assert_eq!(m(&s).verdict, Verdict::NotRun);
    }

    #[test]
    fn the_alpha_rule_needs_a_ci_over_seeds() {
        assert_eq!(alpha_row(&study(&[])).verdict, Verdict::NotRun);
        // One seed with a strong drop (-75%): no CI, so never a verdict.
        let one = alpha_row(&study(&[(0, [8.0, 5.0, 2.0])]));
        assert_eq!(one.verdict, Verdict::Inconclusive);
        let e = one.ours.unwrap();
        assert!((e.mean + 75.0).abs() < 1e-9 && e.ci.is_none());
        assert_eq!(one.ours_text(), "-75.0 (n=1, no CI)");
        // Two seeds, -75% and -70%: mean -72.5, half-width
        // 12.706205 * 2.5 = 31.77: the CI is below zero.
        let two = alpha_row(&study(&[(0, [8.0, 5.0, 2.0]), (1, [10.0, 6.0, 3.0])]));
        assert_eq!(two.verdict, Verdict::Holds);
        let (lo, hi) = two.ours.unwrap().ci.unwrap();
        assert!((lo + 72.5 + 31.7655).abs() < 1e-3 && (hi + 72.5 - 31.7655).abs() < 1e-3);
        assert_eq!(two.comparison, "alpha 1 vs 0");
        // The score rising with alpha on both seeds (+300%, +290%: CI
        // 295 -/+ 63.5) contradicts the paper.
        let up = alpha_row(&study(&[(0, [2.0, 5.0, 8.0]), (1, [4.0, 6.0, 15.6])]));
        assert_eq!(up.verdict, Verdict::Contradicted);
    }
}
