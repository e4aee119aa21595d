//! UMAP (McInnes, Healy & Melville 2018, arXiv 1802.03426), as umap-learn
//! computes it with `init="random"`:
//!
//! 1. the exact k-NN graph (`n_neighbors` including the point itself);
//! 2. each point's local fuzzy simplicial set (Alg. 2-3): `rho_i` = the
//!    distance to its nearest neighbour, `sigma_i` by bisection so that
//!    `sum_j exp(-(d_ij - rho_i) / sigma_i) = log2(k)`;
//! 3. their fuzzy union `W + W^T - W o W^T`;
//! 4. `a`, `b` of the output kernel `1 / (1 + a d^2b)` fitted by least
//!    squares to the offset exponential of `min_dist` and `spread`
//!    (umap-learn's `find_ab_params`);
//! 5. a seeded uniform [-10, 10] initial layout (spectral initialisation
//!    needs a sparse eigensolver; this choice is umap-learn's `random`);
//! 6. SGD (Alg. 5): each edge sampled in proportion to its weight, learning
//!    rate falling linearly from 1, attraction on both ends, `negative_sample_rate`
//!    repulsive samples per attraction, gradients clipped to 4.

use super::{check_points, neighbour_order, squared_distances};
use crate::{Error, Result};
use rand::Rng;
use sc_core::Seed;

/// Settings of [`umap`]; the defaults are umap-learn's.
#[derive(Debug, Clone, PartialEq)]
pub struct UmapOptions {
    /// Size of the neighbourhood graph, the point itself included (15).
    pub n_neighbors: usize,
    /// Smallest distance between embedded points (0.1).
    pub min_dist: f64,
    /// Scale of the embedded points (1).
    pub spread: f64,
    /// SGD epochs; `None`: 500 for up to 10,000 points, else 200.
    pub epochs: Option<usize>,
    /// Repulsive samples per attractive one (5).
    pub negative_sample_rate: usize,
    /// Fixes the initial layout and the negative samples.
    pub seed: Seed,
}

impl Default for UmapOptions {
    fn default() -> Self {
        UmapOptions {
            n_neighbors: 15,
            min_dist: 0.1,
            spread: 1.0,
            epochs: None,
            negative_sample_rate: 5,
            seed: Seed(0),
        }
    }
}

/// The UMAP embedding in 2-D of the points `x` (`n x dim`, row-major);
/// `n_neighbors` must be 2 or more and at most `n`.
pub fn umap(x: &[f64], dim: usize, opts: &UmapOptions) -> Result<Vec<[f64; 2]>> {
    let n = check_points(x, dim, 3, "UMAP input")?;
    let k = opts.n_neighbors;
    if k < 2 || k > n {
        return Err(Error::InvalidArgument {
            name: "UMAP n_neighbors",
            problem: format!("{k} with {n} points; expected 2 <= n_neighbors <= n"),
        });
    }
    if !(opts.min_dist >= 0.0 && opts.spread > 0.0 && opts.min_dist < opts.spread) {
        return Err(Error::InvalidArgument {
            name: "UMAP min_dist/spread",
            problem: format!(
                "min_dist {} and spread {}; expected 0 <= min_dist < spread",
                opts.min_dist, opts.spread
            ),
        });
    }
    let graph = fuzzy_graph(x, dim, n, k);
    let (a, b) = fit_ab(opts.spread, opts.min_dist);
    let epochs = opts.epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 });
    let mut rng = opts.seed.stream("umap");
    let mut y: Vec<f64> = (0..2 * n).map(|_| rng.random_range(-10.0..10.0)).collect();
    optimise(
        &mut y,
        &graph,
        n,
        a,
        b,
        epochs,
        opts.negative_sample_rate,
        &mut rng,
    );
    Ok(y.chunks(2).map(|c| [c[0], c[1]]).collect())
}

/// The symmetric fuzzy graph as `(i, j, weight)` edges, both directions,
/// sorted by `(i, j)`; the weakest edges (below `max / 500`, never sampled
/// in 500 epochs) are kept: [`optimise`] skips what it cannot sample.
fn fuzzy_graph(x: &[f64], dim: usize, n: usize, k: usize) -> Vec<(usize, usize, f64)> {
    let d2 = squared_distances(x, dim);
    let order = neighbour_order(&d2, n);
    let target = (k as f64).log2();
    let mut w = vec![0.0; n * n];
    for i in 0..n {
        // k - 1 neighbours besides the point itself.
        let dists: Vec<f64> = order[i][..k - 1]
            .iter()
            .map(|&j| d2[i * n + j].sqrt())
            .collect();
        let rho = dists.iter().copied().find(|&d| d > 0.0).unwrap_or(0.0);
        let mass = |sigma: f64| -> f64 {
            dists
                .iter()
                .map(|&d| {
                    if d > rho {
                        (-(d - rho) / sigma).exp()
                    } else {
                        1.0
                    }
                })
                .sum()
        };
        let (mut lo, mut hi, mut sigma) = (0.0, f64::INFINITY, 1.0);
        for _ in 0..64 {
            let m = mass(sigma);
            if (m - target).abs() < 1e-5 {
                break;
            }
            if m > target {
                hi = sigma;
                sigma = (lo + hi) / 2.0;
            } else {
                lo = sigma;
                sigma = if hi.is_finite() {
                    (lo + hi) / 2.0
                } else {
                    sigma * 2.0
                };
            }
        }
        // umap-learn's floor: 1e-3 of the mean neighbour distance.
        let mean = dists.iter().sum::<f64>() / dists.len() as f64;
        if rho > 0.0 {
            sigma = sigma.max(1e-3 * mean);
        }
        for (&j, &d) in order[i][..k - 1].iter().zip(&dists) {
            w[i * n + j] = if d > rho {
                (-(d - rho) / sigma).exp()
            } else {
                1.0
            };
        }
    }
    let mut edges = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let (p, q) = (w[i * n + j], w[j * n + i]);
            let union = p + q - p * q;
            if union > 0.0 {
                edges.push((i, j, union));
            }
        }
    }
    edges
}

/// Least-squares fit of `1 / (1 + a x^2b)` to `1` below `min_dist` and
/// `exp(-(x - min_dist) / spread)` above, on 300 points of `[0, 3 spread]`
/// (umap-learn's `find_ab_params`), by Levenberg-Marquardt from `(1, 1)`.
pub(crate) fn fit_ab(spread: f64, min_dist: f64) -> (f64, f64) {
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs
        .iter()
        .map(|&x| {
            if x < min_dist {
                1.0
            } else {
                (-(x - min_dist) / spread).exp()
            }
        })
        .collect();
    let cost = |a: f64, b: f64| -> f64 {
        xs.iter()
            .zip(&ys)
            .map(|(&x, &y)| (1.0 / (1.0 + a * x.powf(2.0 * b)) - y).powi(2))
            .sum()
    };
    let (mut a, mut b, mut lambda) = (1.0, 1.0, 1e-3);
    let mut c = cost(a, b);
    for _ in 0..500 {
        let (mut jtj, mut jtr) = ([[0.0; 2]; 2], [0.0; 2]);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x == 0.0 {
                continue; // f(0) = 1 for every (a, b): no gradient.
            }
            let p = x.powf(2.0 * b);
            let f = 1.0 / (1.0 + a * p);
            let ja = -p * f * f;
            let jb = -a * p * 2.0 * x.ln() * f * f;
            let r = f - y;
            jtj[0][0] += ja * ja;
            jtj[0][1] += ja * jb;
            jtj[1][1] += jb * jb;
            jtr[0] += ja * r;
            jtr[1] += jb * r;
        }
        let (m00, m11, m01) = (
            jtj[0][0] * (1.0 + lambda),
            jtj[1][1] * (1.0 + lambda),
            jtj[0][1],
        );
        let det = m00 * m11 - m01 * m01;
        let da = -(m11 * jtr[0] - m01 * jtr[1]) / det;
        let db = -(m00 * jtr[1] - m01 * jtr[0]) / det;
        let trial = cost(a + da, b + db);
        if trial < c {
            (a, b, c) = (a + da, b + db, trial);
            lambda /= 10.0;
            if da.abs() < 1e-12 && db.abs() < 1e-12 {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e12 {
                break;
            }
        }
    }
    (a, b)
}

/// umap-learn's `optimize_layout_euclidean` with the head and tail sets the
/// same (`move_other`), run sequentially so a seed fixes the result.
#[allow(clippy::too_many_arguments)]
fn optimise(
    y: &mut [f64],
    edges: &[(usize, usize, f64)],
    n: usize,
    a: f64,
    b: f64,
    epochs: usize,
    negative_rate: usize,
    rng: &mut impl Rng,
) {
    let max_w = edges.iter().map(|e| e.2).fold(0.0, f64::max);
    // Epochs between samples of each edge; an edge sampled less than once
    // in the whole run is dropped (umap-learn: weight < max / epochs).
    let per_sample: Vec<f64> = edges
        .iter()
        .map(|e| {
            if e.2 * epochs as f64 >= max_w {
                max_w / e.2
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let per_negative: Vec<f64> = per_sample
        .iter()
        .map(|p| p / negative_rate as f64)
        .collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let clip = |g: f64| g.clamp(-4.0, 4.0);
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f64 / epochs as f64;
        let now = epoch as f64;
        for (e, &(i, j, _)) in edges.iter().enumerate() {
            if next_sample[e] > now {
                continue;
            }
            let dx = [y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]];
            let d2 = dx[0] * dx[0] + dx[1] * dx[1];
            if d2 > 0.0 {
                let coeff = -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0);
                for c in 0..2 {
                    let g = clip(coeff * dx[c]) * alpha;
                    y[2 * i + c] += g;
                    y[2 * j + c] -= g;
                }
            }
            next_sample[e] += per_sample[e];
            let negatives = ((now - next_negative[e]) / per_negative[e])
                .floor()
                .max(0.0) as usize;
            for _ in 0..negatives {
                let k = rng.random_range(0..n);
                if k == i {
                    continue;
                }
                let dx = [y[2 * i] - y[2 * k], y[2 * i + 1] - y[2 * k + 1]];
                let d2 = dx[0] * dx[0] + dx[1] * dx[1];
                let coeff = if d2 > 0.0 {
                    2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0))
                } else {
                    0.0
                };
                for c in 0..2 {
                    let g = if coeff > 0.0 {
                        clip(coeff * dx[c])
                    } else {
                        4.0
                    };
                    y[2 * i + c] += g * alpha;
                }
            }
            next_negative[e] += negatives as f64 * per_negative[e];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{blobs, nearest_neighbour_agreement};
    use super::super::trustworthiness;
    use super::*;

    #[test]
    fn a_and_b_match_umap_learns_published_fit() {
        // umap-learn's find_ab_params(1.0, 0.1) (scipy curve_fit):
        // a = 1.5769, b = 0.8951. Tolerance 1e-3: two least-squares
        // solvers stop at slightly different points.
        let (a, b) = fit_ab(1.0, 0.1);
        assert!((a - 1.5769).abs() < 1e-3, "a = {a}");
        assert!((b - 0.8951).abs() < 1e-3, "b = {b}");
        // Another min_dist: the fit is a local least-squares minimum
        // (no neighbour 1e-3 away in a or b has a lower cost).
        let (a5, b5) = fit_ab(1.0, 0.5);
        let xs: Vec<f64> = (0..300).map(|i| 3.0 * i as f64 / 299.0).collect();
        let cost = |a: f64, b: f64| -> f64 {
            xs.iter()
                .map(|&x| {
                    let y = if x < 0.5 { 1.0 } else { (-(x - 0.5)).exp() };
                    (1.0 / (1.0 + a * x.powf(2.0 * b)) - y).powi(2)
                })
                .sum()
        };
        let best = cost(a5, b5);
        for (da, db) in [(1e-3, 0.0), (-1e-3, 0.0), (0.0, 1e-3), (0.0, -1e-3)] {
            assert!(cost(a5 + da, b5 + db) >= best, "({da}, {db})");
        }
    }

    #[test]
    fn the_fuzzy_graph_is_symmetric_with_weights_in_0_1() {
        let (x, _) = blobs(2, 10, 3, 3);
        let edges = fuzzy_graph(&x, 3, 20, 5);
        let w = |i: usize, j: usize| {
            edges
                .iter()
                .find(|e| e.0 == i && e.1 == j)
                .map_or(0.0, |e| e.2)
        };
        for &(i, j, v) in &edges {
            assert!(v > 0.0 && v <= 1.0 && i != j);
            assert_eq!(v, w(j, i));
        }
        // Each point's nearest neighbour has membership 1 (d = rho; the
        // union 1 + q - q is 1 up to rounding).
        let order = neighbour_order(&squared_distances(&x, 3), 20);
        for (i, o) in order.iter().enumerate() {
            assert!((w(i, o[0]) - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn well_separated_clusters_stay_separated_and_runs_repeat() {
        let (x, label) = blobs(3, 20, 5, 2);
        let opts = UmapOptions {
            n_neighbors: 10,
            epochs: Some(200),
            seed: Seed(4),
            ..UmapOptions::default()
        };
        let y = umap(&x, 5, &opts).unwrap();
        let t = trustworthiness(&x, 5, &y, 5).unwrap();
        assert!(t > 0.9, "trustworthiness {t}");
        assert_eq!(nearest_neighbour_agreement(&y, &label), 1.0);
        assert_eq!(umap(&x, 5, &opts).unwrap(), y);
        assert_ne!(
            umap(
                &x,
                5,
                &UmapOptions {
                    seed: Seed(5),
                    ..opts
                }
            )
            .unwrap(),
            y
        );
    }

    #[test]
    fn impossible_settings_are_errors() {
        let (x, _) = blobs(2, 3, 3, 1);
        assert!(umap(&x, 3, &UmapOptions::default())
            .unwrap_err()
            .to_string()
            .contains("n_neighbors"));
        let opts = UmapOptions {
            n_neighbors: 3,
            min_dist: 2.0,
            ..UmapOptions::default()
        };
        assert!(umap(&x, 3, &opts).is_err());
    }
}
