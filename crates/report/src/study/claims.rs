//! The claims table: one row per claim of the paper (C1-C9 and the
//! companion paper's margin claim M), with the paper's finding (from
//! PAPER.md), ours as a paired difference over seeds with its 95% CI, and
//! the verdict from that CI alone ([`Verdict::from_ci`]). A claim whose
//! stage this study did not run says so; nothing is filled in.

use super::load::{Run, Study};
use super::measures::{
    ds, mean_accuracy_drop, photometric_mean, robust_accuracy, scale_free_ds, total_variation,
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
            (Some(e), _) => format!("{} (n={})", e.display(self.decimals), e.n),
            (None, _) => "no paired seeds".into(),
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
    rows.push(not_run(
        "C2",
        "as alpha grows, accuracy drops slightly and DS strongly",
        "alpha 1.0 chosen from the trade-off (Fig. 4)",
        "alpha sweep",
    ));
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
    rows.push(not_run(
        "C8",
        "constrained models transfer better when fine-tuned",
        "C - base: +0.17 (CIFAR-10), +0.35 (SVHN), +0.05 (MNIST) points; ADV+C - ADV: +1.23, +0.24, 0.00 (Table 3)",
        "transfer",
    ));
    rows.push(not_run(
        "C9",
        "constrained models are fairer under a colour bias",
        "C - base: +1.53 points on Colorful MNIST (97.54% vs 96.01%, Table 4)",
        "fairness",
    ));
    rows.push(not_run(
        "M",
        "a semantically continuous model has larger margins along high-frequency DCT directions (companion paper)",
        "networks are nearly invariant along non-discriminative directions (Ortiz-Jimenez et al. 2020)",
        "DCT margins",
    ));
    rows
}
