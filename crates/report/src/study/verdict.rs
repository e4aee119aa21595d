//! The verdict of a claim from its confidence interval alone (issue 14):
//! the paper predicts the sign of a difference; the 95% CI of the paired
//! difference over seeds either excludes zero on the paper's side
//! (`holds`), excludes it on the other side (`contradicted`), or contains
//! it (`inconclusive`). No means are compared and nothing is tuned.

use super::stats::Estimate;
use serde::{Deserialize, Serialize};

/// The sign the paper predicts for `A - B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// `A - B > 0`.
    Positive,
    /// `A - B < 0`.
    Negative,
}

/// What the study says about a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The CI excludes zero in the paper's direction.
    Holds,
    /// The CI excludes zero in the other direction.
    Contradicted,
    /// The CI contains zero, or there is no CI (fewer than two seeds).
    Inconclusive,
    /// The study did not run the stage this claim needs.
    NotRun,
}

impl Verdict {
    /// The verdict for the paired difference `diff` when the paper expects `expect`.
    pub fn from_ci(diff: &Estimate, expect: Expect) -> Verdict {
        let Some((lo, hi)) = diff.ci else {
            return Verdict::Inconclusive;
        };
        let (above, below) = (lo > 0.0, hi < 0.0);
        match (expect, above, below) {
            (Expect::Positive, true, _) | (Expect::Negative, _, true) => Verdict::Holds,
            (Expect::Positive, _, true) | (Expect::Negative, true, _) => Verdict::Contradicted,
            _ => Verdict::Inconclusive,
        }
    }

    /// The word the claims table shows.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Contradicted => "contradicted",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotRun => "not run in this study",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::stats::paired_difference;
    use super::*;

    fn seeds(values: &[f64]) -> Vec<(u64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64, *v))
            .collect()
    }

    #[test]
    fn verdicts_on_synthetic_results() {
        // A clear effect: A is 1.0 above B on every seed, with small noise.
        let b = seeds(&[0.30, 0.55, 0.42]);
        let a = seeds(&[1.31, 1.54, 1.43]);
        let d = paired_difference(&a, &b).unwrap();
        assert_eq!(Verdict::from_ci(&d, Expect::Positive), Verdict::Holds);
        // The same effect against a paper that predicts the opposite sign.
        assert_eq!(
            Verdict::from_ci(&d, Expect::Negative),
            Verdict::Contradicted
        );
        // Reversed data under the original prediction.
        let r = paired_difference(&b, &a).unwrap();
        assert_eq!(
            Verdict::from_ci(&r, Expect::Positive),
            Verdict::Contradicted
        );
        assert_eq!(Verdict::from_ci(&r, Expect::Negative), Verdict::Holds);
        // Noise: differences +0.2, -0.3, +0.05 straddle zero.
        let n = paired_difference(&seeds(&[0.7, 0.2, 0.55]), &seeds(&[0.5, 0.5, 0.5])).unwrap();
        assert!(n.mean.abs() < 0.1);
        assert_eq!(
            Verdict::from_ci(&n, Expect::Positive),
            Verdict::Inconclusive
        );
        assert_eq!(
            Verdict::from_ci(&n, Expect::Negative),
            Verdict::Inconclusive
        );
        // A large mean from a single seed has no CI: never a verdict.
        let one = paired_difference(&seeds(&[10.0]), &seeds(&[0.0])).unwrap();
        assert_eq!(
            Verdict::from_ci(&one, Expect::Positive),
            Verdict::Inconclusive
        );
        // A big mean effect with huge spread stays inconclusive (the CI decides, not the mean).
        let spread =
            paired_difference(&seeds(&[5.0, -3.0, 4.0]), &seeds(&[0.0, 0.0, 0.0])).unwrap();
        assert!(spread.mean > 1.0);
        assert_eq!(
            Verdict::from_ci(&spread, Expect::Positive),
            Verdict::Inconclusive
        );
    }
}
