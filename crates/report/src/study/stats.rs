//! Statistics over seeds: the mean with its 95% confidence interval by
//! Student's t, and paired differences (the rule: every number of a
//! study is a mean over seeds with a CI, every comparison a paired
//! difference over seeds on the same test images).
//!
//! The t quantile is computed, not tabulated: the t CDF through the
//! regularized incomplete beta function (continued fraction, modified
//! Lentz; Press et al., *Numerical Recipes*, 3rd ed., Sec. 6.4), inverted by
//! bisection to machine precision.

use serde::{Deserialize, Serialize};

/// A mean over `n` values with its two-sided 95% confidence interval
/// (`None` for fewer than two values: one seed says nothing about noise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Number of values (seeds).
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// `mean -/+ t_{0.975, n-1} * sd / sqrt(n)`, sd the sample standard deviation.
    pub ci: Option<(f64, f64)>,
}

impl Estimate {
    /// Mean and 95% t interval of `values`; `None` when there are none or
    /// one is not finite (a NaN would silently poison the mean).
    pub fn of(values: &[f64]) -> Option<Estimate> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let ci = (n >= 2).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let half = t_quantile(0.975, (n - 1) as f64) * (var / n as f64).sqrt();
            (mean - half, mean + half)
        });
        Some(Estimate { n, mean, ci })
    }

    /// The same estimate with every number multiplied by `k` (e.g. 100 for %).
    pub fn scaled(&self, k: f64) -> Estimate {
        let (a, b) = match self.ci {
            Some((lo, hi)) if k < 0.0 => (k * hi, k * lo),
            Some((lo, hi)) => (k * lo, k * hi),
            None => (f64::NAN, f64::NAN),
        };
        Estimate {
            n: self.n,
            mean: k * self.mean,
            ci: self.ci.map(|_| (a, b)),
        }
    }

    /// `mean [lo, hi]` with `decimals` decimals (`mean (1 seed, no CI)`
    /// without an interval).
    pub fn display(&self, decimals: usize) -> String {
        let f = |x: f64| number(x, decimals);
        match self.ci {
            Some((lo, hi)) => format!("{} [{}, {}]", f(self.mean), f(lo), f(hi)),
            None => format!("{} (n={}, no CI)", f(self.mean), self.n),
        }
    }
}

/// `x` with `decimals` decimals, without the sign of a value that rounds
/// to zero (`-0.4` to no decimals is `0`, not `-0`).
fn number(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

/// The paired difference `a_i - b_i` over seeds present in both (pairs are
/// `(seed, value)`), as an [`Estimate`]: the CI of a paired t test. Pairing
/// removes what the two share per seed (data order, test images), so it is
/// the right interval for "A vs B" whenever both ran with the same seeds.
pub fn paired_difference(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Estimate> {
    let diffs: Vec<f64> = a
        .iter()
        .filter_map(|(seed, x)| b.iter().find(|(s, _)| s == seed).map(|(_, y)| x - y))
        .collect();
    Estimate::of(&diffs)
}

/// The `p` quantile of Student's t distribution with `df` degrees of
/// freedom (`0 < p < 1`, `df > 0`; NaN otherwise).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0 && df > 0.0) {
        return f64::NAN;
    }
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    // Bracket, then bisect: the CDF is monotone, so this cannot fail.
    let mut hi = 1.0;
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The CDF of Student's t with `df` degrees of freedom at `t`:
/// `1 - I_{df/(df+t^2)}(df/2, 1/2) / 2` for `t >= 0`, symmetric below.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(x, 0.5 * df, 0.5);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The regularized incomplete beta function `I_x(a, b)`.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a+1)/(a+b+2); use the
    // symmetry I_x(a,b) = 1 - I_{1-x}(b,a) otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(x, a, b) / a
    } else {
        1.0 - front * beta_continued_fraction(1.0 - x, b, a) / b
    }
}

/// The continued fraction of `I_x(a, b)` by the modified Lentz method.
fn beta_continued_fraction(x: f64, a: f64, b: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// `ln Gamma(x)` for `x > 0` (Lanczos, g = 7, n = 9; relative error < 1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1-x) = pi / sin(pi x).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_tables_to_1e_5() {
        // Two-sided 95% critical values (any t table, e.g. NIST/SEMATECH
        // e-Handbook 1.3.6.7.2).
        for (df, want) in [
            (1.0, 12.706205),
            (2.0, 4.302653),
            (3.0, 3.182446),
            (4.0, 2.776445),
            (9.0, 2.262157),
            (29.0, 2.045230),
            (100.0, 1.983972),
        ] {
            let got = t_quantile(0.975, df);
            assert!((got - want).abs() < 1e-5, "df {df}: {got} vs {want}");
        }
        assert!((t_quantile(0.95, 5.0) - 2.015048).abs() < 1e-5);
        assert!((t_quantile(0.025, 4.0) + 2.776445).abs() < 1e-5);
        // Large df tends to the normal quantile 1.959964.
        assert!((t_quantile(0.975, 1e7) - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn t_quantiles_match_closed_forms_for_one_and_two_df() {
        // df 1 is Cauchy: tan(pi (p - 1/2)); df 2: (2p-1) / sqrt(2 p (1-p)).
        for p in [0.6, 0.75, 0.9, 0.975, 0.995] {
            let cauchy = (std::f64::consts::PI * (p - 0.5)).tan();
            assert!((t_quantile(p, 1.0) - cauchy).abs() < 1e-9 * cauchy.max(1.0));
            let two = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
            assert!((t_quantile(p, 2.0) - two).abs() < 1e-9 * two.max(1.0));
        }
        assert!(t_quantile(1.0, 3.0).is_nan() && t_quantile(0.5, 0.0).is_nan());
    }

    #[test]
    fn mean_ci_is_the_hand_computed_t_interval() {
        // 1, 2, 6: mean 3, sd sqrt(7), half = 4.302653 * sqrt(7/3).
        let e = Estimate::of(&[1.0, 2.0, 6.0]).unwrap();
        let half = 4.302653 * (7.0f64 / 3.0).sqrt();
        let (lo, hi) = e.ci.unwrap();
        assert_eq!(e.n, 3);
        assert!((e.mean - 3.0).abs() < 1e-12);
        assert!((lo - (3.0 - half)).abs() < 1e-5 && (hi - (3.0 + half)).abs() < 1e-5);
        assert_eq!(number(-0.4, 0), "0");
        assert_eq!(number(-0.0004, 3), "0.000");
        assert_eq!(number(-0.6, 0), "-1");
        assert_eq!(number(-1.25, 1), "-1.2");
        let one = Estimate::of(&[0.5]).unwrap();
        assert!(one.ci.is_none() && one.display(2).contains("no CI"));
        assert!(Estimate::of(&[]).is_none() && Estimate::of(&[1.0, f64::NAN]).is_none());
        let pct = e.scaled(-100.0);
        assert!((pct.ci.unwrap().0 + 100.0 * hi).abs() < 1e-9);
    }

    #[test]
    fn paired_difference_matches_a_hand_computation_and_pairs_by_seed() {
        // Seeds 0..4; a - b = 1, 3, 2, 2 (seed 9 of a has no partner).
        let a = [(0, 5.0), (1, 7.0), (2, 6.0), (3, 9.0), (9, 100.0)];
        let b = [(3, 7.0), (2, 4.0), (1, 4.0), (0, 4.0)];
        let d = paired_difference(&a, &b).unwrap();
        // mean 2, sd sqrt(2/3), n 4: half = 3.182446 * sqrt(2/3) / 2.
        let half = 3.182446 * (2.0f64 / 3.0).sqrt() / 2.0;
        assert_eq!(d.n, 4);
        assert!((d.mean - 2.0).abs() < 1e-12);
        let (lo, hi) = d.ci.unwrap();
        assert!((lo - (2.0 - half)).abs() < 1e-5 && (hi - (2.0 + half)).abs() < 1e-5);
        // Unpaired, the between-seed spread of a would swamp the effect.
        assert!(hi - lo < 3.0);
    }
}
