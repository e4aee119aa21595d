//! Weighted ridge regression with an unpenalised intercept, as
//! scikit-learn's `Ridge(alpha, fit_intercept=True)` fits it with
//! `sample_weight` (the surrogate model of LIME, Ribeiro et al. 2016).

use crate::{invalid, Result};

/// A fitted linear model `y ~ intercept + coefficients . x`.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeFit {
    /// One coefficient per feature.
    pub coefficients: Vec<f64>,
    /// The intercept (not penalised).
    pub intercept: f64,
    /// Weighted coefficient of determination of the fit on its own data,
    /// `1 - sum w (y - yhat)^2 / sum w (y - ybar_w)^2` (scikit-learn's
    /// `score` with `sample_weight`); 1 for a constant `y` fitted exactly.
    pub r2: f64,
}

/// Solves `min sum_i w_i (y_i - b - x_i . beta)^2 + alpha |beta|^2` in f64:
/// centre `x` and `y` by their weighted means, solve the normal equations
/// `(Xc^T W Xc + alpha I) beta = Xc^T W yc` by Cholesky, and set
/// `b = ybar - xbar . beta` (scikit-learn's route for dense data).
// Matrix code reads best with explicit indices.
#[allow(clippy::needless_range_loop)]
pub fn weighted_ridge(x: &[Vec<f64>], y: &[f64], w: &[f64], alpha: f64) -> Result<RidgeFit> {
    let n = x.len();
    let d = x.first().map_or(0, Vec::len);
    if n == 0 || y.len() != n || w.len() != n || x.iter().any(|r| r.len() != d) {
        return Err(invalid(
            "ridge data",
            format!(
                "{n} rows, {} targets, {} weights: expected equal counts of equal rows",
                y.len(),
                w.len()
            ),
        ));
    }
    let total: f64 = w.iter().sum();
    let usable = total > 0.0 && w.iter().all(|v| *v >= 0.0) && alpha >= 0.0;
    if !usable {
        return Err(invalid(
            "ridge weights",
            "expected weights >= 0 with a positive sum, and alpha >= 0",
        ));
    }
    let xbar: Vec<f64> = (0..d)
        .map(|j| x.iter().zip(w).map(|(r, wi)| wi * r[j]).sum::<f64>() / total)
        .collect();
    let ybar = y.iter().zip(w).map(|(v, wi)| wi * v).sum::<f64>() / total;
    let mut a = vec![vec![0.0; d]; d];
    let mut rhs = vec![0.0; d];
    for ((r, &yi), &wi) in x.iter().zip(y).zip(w) {
        let c: Vec<f64> = r.iter().zip(&xbar).map(|(v, m)| v - m).collect();
        for j in 0..d {
            rhs[j] += wi * c[j] * (yi - ybar);
            for k in 0..=j {
                a[j][k] += wi * c[j] * c[k];
            }
        }
    }
    for j in 0..d {
        a[j][j] += alpha;
        for k in 0..j {
            a[k][j] = a[j][k];
        }
    }
    let coefficients = cholesky_solve(a, rhs)?;
    let intercept = ybar
        - xbar
            .iter()
            .zip(&coefficients)
            .map(|(m, b)| m * b)
            .sum::<f64>();
    let (mut res, mut tot) = (0.0, 0.0);
    for ((r, &yi), &wi) in x.iter().zip(y).zip(w) {
        let fit = intercept + r.iter().zip(&coefficients).map(|(v, b)| v * b).sum::<f64>();
        res += wi * (yi - fit).powi(2);
        tot += wi * (yi - ybar).powi(2);
    }
    let r2 = if tot > 0.0 {
        1.0 - res / tot
    } else if res == 0.0 {
        1.0
    } else {
        0.0
    };
    Ok(RidgeFit {
        coefficients,
        intercept,
        r2,
    })
}

/// Solves `a z = b` for a symmetric positive definite `a`.
#[allow(clippy::needless_range_loop)]
fn cholesky_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Result<Vec<f64>> {
    let d = b.len();
    for j in 0..d {
        let s = a[j][j] - (0..j).map(|k| a[j][k] * a[j][k]).sum::<f64>();
        if s.is_nan() || s <= 0.0 {
            return Err(invalid(
                "ridge system",
                "not positive definite: give alpha > 0 or features that vary",
            ));
        }
        a[j][j] = s.sqrt();
        for i in j + 1..d {
            a[i][j] = (a[i][j] - (0..j).map(|k| a[i][k] * a[j][k]).sum::<f64>()) / a[j][j];
        }
    }
    for i in 0..d {
        b[i] = (b[i] - (0..i).map(|k| a[i][k] * b[k]).sum::<f64>()) / a[i][i];
    }
    for i in (0..d).rev() {
        b[i] = (b[i] - (i + 1..d).map(|k| a[k][i] * b[k]).sum::<f64>()) / a[i][i];
    }
    Ok(b)
}
