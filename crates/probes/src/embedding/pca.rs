//! Principal component analysis: the 2-D projection of Fig. 2's first
//! panel and the share of variance each component carries (how much of the
//! logit space a 2-D picture shows).
//!
//! The covariance matrix of the centred points (`dim x dim`, small: one
//! logit per class) is diagonalised by the cyclic Jacobi method (Golub &
//! Van Loan, Matrix Computations, Sec. 8.5), which is accurate to machine
//! precision for symmetric matrices and needs no linear-algebra crate.

use super::check_points;
use crate::Result;

/// The result of [`pca`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Each point projected on the first two components.
    pub coords: Vec<[f64; 2]>,
    /// The share of the total variance of each of the `dim` components,
    /// largest first (sums to 1 unless every point is the same).
    pub explained_variance_ratio: Vec<f64>,
    /// The unit components, largest variance first, each of length `dim`;
    /// signed so that the entry of largest magnitude is positive (a fixed
    /// convention, so the picture does not flip between runs).
    pub components: Vec<Vec<f64>>,
}

/// PCA of the points `x` (`n x dim`, row-major, `n >= 2`, `dim >= 2`).
pub fn pca(x: &[f64], dim: usize) -> Result<Pca> {
    let n = check_points(x, dim, 2, "PCA input")?;
    if dim < 2 {
        return Err(crate::Error::InvalidArgument {
            name: "PCA input",
            problem: "a 2-D projection needs points of dimension 2 or more".into(),
        });
    }
    let mut mean = vec![0.0; dim];
    for row in x.chunks(dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n as f64;
        }
    }
    let centred: Vec<f64> = x
        .chunks(dim)
        .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
        .collect();
    let mut cov = vec![0.0; dim * dim];
    for row in centred.chunks(dim) {
        for a in 0..dim {
            for b in a..dim {
                cov[a * dim + b] += row[a] * row[b] / (n as f64 - 1.0);
            }
        }
    }
    for a in 0..dim {
        for b in 0..a {
            cov[a * dim + b] = cov[b * dim + a];
        }
    }
    let (values, vectors) = symmetric_eigen(cov, dim);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let explained_variance_ratio = order
        .iter()
        .map(|&i| {
            if total > 0.0 {
                values[i].max(0.0) / total
            } else {
                0.0
            }
        })
        .collect();
    let components: Vec<Vec<f64>> = order
        .iter()
        .map(|&i| {
            let mut v: Vec<f64> = (0..dim).map(|r| vectors[r * dim + i]).collect();
            let largest = v
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(0.0);
            if largest < 0.0 {
                v.iter_mut().for_each(|c| *c = -*c);
            }
            v
        })
        .collect();
    let coords = centred
        .chunks(dim)
        .map(|row| {
            let project = |c: &[f64]| row.iter().zip(c).map(|(a, b)| a * b).sum::<f64>();
            [project(&components[0]), project(&components[1])]
        })
        .collect();
    Ok(Pca {
        coords,
        explained_variance_ratio,
        components,
    })
}

/// Eigenvalues and eigenvectors (the columns of the returned row-major
/// `dim x dim` matrix) of the symmetric matrix `a`, by cyclic Jacobi
/// rotations until the off-diagonal mass is below `1e-15` of the total.
fn symmetric_eigen(mut a: Vec<f64>, dim: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; dim * dim];
    for i in 0..dim {
        v[i * dim + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>();
    for _sweep in 0..100 {
        let off: f64 = (0..dim)
            .flat_map(|p| (0..dim).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * dim + q].powi(2))
            .sum();
        if off <= 1e-30 * norm.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..dim {
            for q in p + 1..dim {
                let apq = a[p * dim + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub & Van Loan, Alg. 8.5.1).
                let theta = (a[q * dim + q] - a[p * dim + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..dim {
                    let (akp, akq) = (a[k * dim + p], a[k * dim + q]);
                    a[k * dim + p] = c * akp - s * akq;
                    a[k * dim + q] = s * akp + c * akq;
                }
                for k in 0..dim {
                    let (apk, aqk) = (a[p * dim + k], a[q * dim + k]);
                    a[p * dim + k] = c * apk - s * aqk;
                    a[q * dim + k] = s * apk + c * aqk;
                }
                for k in 0..dim {
                    let (vkp, vkq) = (v[k * dim + p], v[k * dim + q]);
                    v[k * dim + p] = c * vkp - s * vkq;
                    v[k * dim + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..dim).map(|i| a[i * dim + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use sc_core::Seed;

    /// The thin SVD reference `X = U S V^T` of the centred data, computed
    /// another way: power iteration with deflation on the `n x n` Gram
    /// matrix `X X^T`, whose eigenvectors are `U` and eigenvalues `S^2`.
    /// The PCA coordinates are then `U S`, and the explained variance
    /// ratios `s_i^2 / sum ||x||^2`.
    fn svd_reference(x: &[f64], dim: usize, k: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let n = x.len() / dim;
        let mean: Vec<f64> = (0..dim)
            .map(|c| (0..n).map(|i| x[i * dim + c]).sum::<f64>() / n as f64)
            .collect();
        let xc: Vec<f64> = (0..n * dim).map(|i| x[i] - mean[i % dim]).collect();
        let mut gram: Vec<f64> = (0..n * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                (0..dim).map(|c| xc[i * dim + c] * xc[j * dim + c]).sum()
            })
            .collect();
        let total: f64 = xc.iter().map(|v| v * v).sum();
        let (mut coords, mut ratios) = (Vec::new(), Vec::new());
        for _ in 0..k {
            let mut u = vec![1.0; n];
            u[0] = 2.0;
            let mut lambda = 0.0;
            for _ in 0..5000 {
                let w: Vec<f64> = (0..n)
                    .map(|i| (0..n).map(|j| gram[i * n + j] * u[j]).sum())
                    .collect();
                lambda = w.iter().map(|v| v * v).sum::<f64>().sqrt();
                u = w.iter().map(|v| v / lambda).collect();
            }
            coords.push(u.iter().map(|v| v * lambda.sqrt()).collect());
            ratios.push(lambda / total);
            for i in 0..n {
                for j in 0..n {
                    gram[i * n + j] -= lambda * u[i] * u[j];
                }
            }
        }
        (coords, ratios)
    }

    #[test]
    fn projections_and_variance_ratios_equal_an_svd_reference() {
        // 20 points in 4-D with clearly distinct variances 16, 4, 1, 0.25
        // along rotated axes, so the components are well defined.
        let mut rng = Seed(11).stream("pca");
        let dim = 4;
        let scales = [4.0, 2.0, 1.0, 0.5];
        let x: Vec<f64> = (0..20)
            .flat_map(|_| {
                let z: Vec<f64> = scales
                    .iter()
                    .map(|s| s * (rng.random::<f64>() * 2.0 - 1.0))
                    .collect();
                // A fixed rotation mixing all axes.
                vec![
                    0.5 * (z[0] + z[1] + z[2] + z[3]) + 3.0,
                    0.5 * (z[0] - z[1] + z[2] - z[3]),
                    0.5 * (z[0] + z[1] - z[2] - z[3]) - 1.0,
                    0.5 * (z[0] - z[1] - z[2] + z[3]),
                ]
            })
            .collect();
        let p = pca(&x, dim).unwrap();
        let (coords, ratios) = svd_reference(&x, dim, 4);
        assert_eq!(p.explained_variance_ratio.len(), 4);
        assert!((p.explained_variance_ratio.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for (a, b) in p.explained_variance_ratio.iter().zip(&ratios) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        // Coordinates agree up to the sign of each component (tolerance
        // 1e-8: the power iteration converges to ~1e-12 here).
        for c in 0..2 {
            let sign = (p.coords[0][c] * coords[c][0]).signum();
            for (i, pt) in p.coords.iter().enumerate() {
                assert!(
                    (pt[c] - sign * coords[c][i]).abs() < 1e-8,
                    "point {i} component {c}"
                );
            }
        }
        // Components are orthonormal.
        for a in 0..4 {
            for b in 0..4 {
                let dot: f64 = p.components[a]
                    .iter()
                    .zip(&p.components[b])
                    .map(|(u, v)| u * v)
                    .sum();
                assert!((dot - f64::from(u8::from(a == b))).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn too_few_points_or_dimensions_are_errors() {
        assert!(pca(&[1.0, 2.0], 2).is_err());
        assert!(pca(&[1.0, 2.0, 3.0], 1).is_err());
        assert!(pca(&[1.0, f64::NAN, 3.0, 4.0], 2).is_err());
    }
}
