//! Exact t-SNE (van der Maaten & Hinton 2008) with the optimiser settings of
//! van der Maaten 2014 (JMLR 15, "Accelerating t-SNE using tree-based
//! algorithms", Sec. 2 and 5): Gaussian input affinities calibrated to a
//! perplexity by binary search, symmetrised; Student-t output affinities;
//! early exaggeration 12 for the first 250 iterations with momentum 0.5,
//! then momentum 0.8; per-coordinate gains (+0.2 / x0.8, at least 0.01);
//! initialisation from N(0, 1e-4^2) drawn from the seed. The learning rate
//! defaults to scikit-learn's `auto`, `max(n / 12 / 4, 50)`. Exact O(n^2)
//! gradients: the sets embedded here are one class of test images.

use super::{check_points, squared_distances};
use crate::{Error, Result};
use sc_core::Seed;

/// Settings of [`tsne`]; the defaults are the papers'.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneOptions {
    /// Effective number of neighbours of each point (30).
    pub perplexity: f64,
    /// Gradient steps in all (1000).
    pub iterations: usize,
    /// Factor on the input affinities in the first steps (12).
    pub early_exaggeration: f64,
    /// Steps with exaggeration and momentum 0.5 (250).
    pub exaggeration_iterations: usize,
    /// Step size; `None`: `max(n / early_exaggeration / 4, 50)`.
    pub learning_rate: Option<f64>,
    /// Fixes the initial positions.
    pub seed: Seed,
}

impl Default for TsneOptions {
    fn default() -> Self {
        TsneOptions {
            perplexity: 30.0,
            iterations: 1000,
            early_exaggeration: 12.0,
            exaggeration_iterations: 250,
            learning_rate: None,
            seed: Seed(0),
        }
    }
}

/// The t-SNE embedding in 2-D of the points `x` (`n x dim`, row-major).
/// The perplexity must be below `n - 1` (the most a point with `n - 1`
/// neighbours can have).
pub fn tsne(x: &[f64], dim: usize, opts: &TsneOptions) -> Result<Vec<[f64; 2]>> {
    let n = check_points(x, dim, 3, "t-SNE input")?;
    if !(opts.perplexity >= 1.0 && opts.perplexity < (n - 1) as f64) {
        return Err(Error::InvalidArgument {
            name: "t-SNE perplexity",
            problem: format!(
                "{} with {n} points; expected 1 <= perplexity < n - 1 = {}",
                opts.perplexity,
                n - 1
            ),
        });
    }
    let p = joint_probabilities(&squared_distances(x, dim), n, opts.perplexity);
    let lr = opts
        .learning_rate
        .unwrap_or_else(|| (n as f64 / opts.early_exaggeration / 4.0).max(50.0));
    let init = sc_core::standard_normals(&mut opts.seed.stream("tsne-init"), 2 * n);
    let mut y: Vec<f64> = init.iter().map(|v| 1e-4 * v).collect();
    let mut update = vec![0.0; 2 * n];
    let mut gains = vec![1.0; 2 * n];
    let mut num = vec![0.0; n * n];
    let mut grad = vec![0.0; 2 * n];
    for it in 0..opts.iterations {
        let early = it < opts.exaggeration_iterations;
        let exaggeration = if early { opts.early_exaggeration } else { 1.0 };
        let momentum = if early { 0.5 } else { 0.8 };
        // Student-t kernel and its normaliser Z.
        let mut z = 0.0;
        for i in 0..n {
            for j in i + 1..n {
                let d = (y[2 * i] - y[2 * j]).powi(2) + (y[2 * i + 1] - y[2 * j + 1]).powi(2);
                let q = 1.0 / (1.0 + d);
                num[i * n + j] = q;
                num[j * n + i] = q;
                z += 2.0 * q;
            }
        }
        // dC/dy_i = 4 sum_j (p_ij - q_ij) (1 + |y_i - y_j|^2)^-1 (y_i - y_j).
        for i in 0..n {
            let (mut gx, mut gy) = (0.0, 0.0);
            for j in (0..n).filter(|&j| j != i) {
                let q = num[i * n + j];
                let m = (exaggeration * p[i * n + j] - q / z) * q;
                gx += m * (y[2 * i] - y[2 * j]);
                gy += m * (y[2 * i + 1] - y[2 * j + 1]);
            }
            grad[2 * i] = 4.0 * gx;
            grad[2 * i + 1] = 4.0 * gy;
        }
        for c in 0..2 * n {
            let gain: f64 = if (grad[c] > 0.0) != (update[c] > 0.0) {
                gains[c] + 0.2
            } else {
                gains[c] * 0.8
            };
            gains[c] = gain.max(0.01);
            update[c] = momentum * update[c] - lr * gains[c] * grad[c];
            y[c] += update[c];
        }
        // Keep the embedding centred (van der Maaten's reference code).
        for axis in 0..2 {
            let mean = (0..n).map(|i| y[2 * i + axis]).sum::<f64>() / n as f64;
            (0..n).for_each(|i| y[2 * i + axis] -= mean);
        }
    }
    Ok(y.chunks(2).map(|c| [c[0], c[1]]).collect())
}

/// Symmetric joint probabilities `p_ij = (p_j|i + p_i|j) / 2n` (at least
/// 1e-12) from [`conditional_probabilities`].
fn joint_probabilities(d: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    let cond = conditional_probabilities(d, n, perplexity);
    let mut p = vec![0.0; n * n];
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            p[i * n + j] = ((cond[i * n + j] + cond[j * n + i]) / (2.0 * n as f64)).max(1e-12);
        }
    }
    p
}

/// Each row `p_.|i`: a Gaussian over the squared distances `d` whose
/// precision is found by bisection so that its entropy is `ln(perplexity)`
/// to 1e-5 nats.
fn conditional_probabilities(d: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let mut cond = vec![0.0; n * n];
    for i in 0..n {
        let row = &d[i * n..(i + 1) * n];
        let (mut beta, mut lo, mut hi) = (1.0, 0.0, f64::INFINITY);
        // Shift by the smallest distance so the exponentials cannot all underflow.
        let dmin = (0..n)
            .filter(|&j| j != i)
            .map(|j| row[j])
            .fold(f64::INFINITY, f64::min);
        for _ in 0..200 {
            let mut sum = 0.0;
            let mut weighted = 0.0;
            for j in (0..n).filter(|&j| j != i) {
                let e = (-(row[j] - dmin) * beta).exp();
                cond[i * n + j] = e;
                sum += e;
                weighted += (row[j] - dmin) * e;
            }
            // H = ln(sum) + beta * E[d - dmin].
            let entropy = sum.ln() + beta * weighted / sum;
            for j in (0..n).filter(|&j| j != i) {
                cond[i * n + j] /= sum;
            }
            let diff = entropy - target;
            if diff.abs() < 1e-5 {
                break;
            }
            if diff > 0.0 {
                lo = beta;
                beta = if hi.is_finite() {
                    (beta + hi) / 2.0
                } else {
                    beta * 2.0
                };
            } else {
                hi = beta;
                beta = (beta + lo) / 2.0;
            }
        }
    }
    cond
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{blobs, nearest_neighbour_agreement};
    use super::super::trustworthiness;
    use super::*;

    #[test]
    fn conditional_affinities_have_the_requested_perplexity() {
        let (x, _) = blobs(2, 15, 3, 1);
        let n = 30;
        let d = squared_distances(&x, 3);
        let cond = conditional_probabilities(&d, n, 5.0);
        for i in 0..n {
            let row = &cond[i * n..(i + 1) * n];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let entropy: f64 = row.iter().filter(|&&v| v > 0.0).map(|v| -v * v.ln()).sum();
            // Tolerance: the bisection stops within 1e-5 nats.
            assert!(
                (entropy.exp() - 5.0).abs() < 5.0 * 2e-5,
                "row {i}: {}",
                entropy.exp()
            );
        }
        let p = joint_probabilities(&d, n, 5.0);
        // Symmetric, sums to 1 (floor 1e-12 aside).
        let total: f64 = p.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        for i in 0..n {
            for j in 0..n {
                assert_eq!(p[i * n + j], p[j * n + i]);
            }
        }
    }

    #[test]
    fn well_separated_clusters_stay_separated_and_runs_repeat() {
        let (x, label) = blobs(3, 20, 5, 2);
        let opts = TsneOptions {
            perplexity: 10.0,
            iterations: 500,
            seed: Seed(4),
            ..TsneOptions::default()
        };
        let y = tsne(&x, 5, &opts).unwrap();
        let t = trustworthiness(&x, 5, &y, 5).unwrap();
        assert!(t > 0.9, "trustworthiness {t}");
        assert_eq!(nearest_neighbour_agreement(&y, &label), 1.0);
        assert_eq!(tsne(&x, 5, &opts).unwrap(), y);
        let other = tsne(
            &x,
            5,
            &TsneOptions {
                seed: Seed(5),
                ..opts
            },
        )
        .unwrap();
        assert_ne!(other, y);
    }

    #[test]
    fn a_perplexity_too_large_for_the_points_is_an_error() {
        let (x, _) = blobs(2, 5, 3, 1);
        let e = tsne(&x, 3, &TsneOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("perplexity") && e.contains("n - 1 = 9"), "{e}");
    }
}
