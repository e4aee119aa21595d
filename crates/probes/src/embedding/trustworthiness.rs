//! Trustworthiness of an embedding (Venna & Kaski 2001): how far the
//! neighbours a picture shows are neighbours in the original space.
//!
//! `T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in U_i} (r(i, j) - k)`,
//! where `U_i` are the points among the `k` nearest to `i` in the embedding
//! but not in the original space, and `r(i, j)` is the rank of `j` among
//! `i`'s neighbours in the original space (1 = nearest). 1 means every
//! neighbourhood of the picture is a true one; scikit-learn's
//! `sklearn.manifold.trustworthiness` computes the same (Euclidean
//! distances; ties broken by index here).

use super::{check_points, neighbour_order, squared_distances};
use crate::{Error, Result};

/// The trustworthiness `T(k)` of the 2-D embedding `y` of the points `x`
/// (`n x dim`, row-major). `k` must be at least 1 and below `n / 2`, where
/// the normalisation is defined (scikit-learn's condition).
pub fn trustworthiness(x: &[f64], dim: usize, y: &[[f64; 2]], k: usize) -> Result<f64> {
    let n = check_points(x, dim, 3, "trustworthiness input")?;
    if y.len() != n {
        return Err(Error::InvalidArgument {
            name: "trustworthiness embedding",
            problem: format!("{} embedded points for {n} input points", y.len()),
        });
    }
    if k == 0 || 2 * k >= n {
        return Err(Error::InvalidArgument {
            name: "trustworthiness k",
            problem: format!("k = {k} with {n} points; expected 1 <= k < n/2"),
        });
    }
    let flat: Vec<f64> = y.iter().flatten().copied().collect();
    check_points(&flat, 2, n, "trustworthiness embedding")?;
    let original = neighbour_order(&squared_distances(x, dim), n);
    let embedded = neighbour_order(&squared_distances(&flat, 2), n);
    let mut penalty = 0.0;
    let mut rank = vec![0usize; n];
    for i in 0..n {
        for (r, &j) in original[i].iter().enumerate() {
            rank[j] = r + 1;
        }
        for &j in &embedded[i][..k] {
            if rank[j] > k {
                penalty += (rank[j] - k) as f64;
            }
        }
    }
    let (n, k) = (n as f64, k as f64);
    Ok(1.0 - penalty * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use sc_core::Seed;

    /// The definition written out loop by loop: ranks by counting the points
    /// strictly closer (or as close with a lower index), neighbourhoods as
    /// explicit sets.
    fn brute_force(x: &[f64], dim: usize, y: &[[f64; 2]], k: usize) -> f64 {
        let n = y.len();
        let dx = |i: usize, j: usize| -> f64 {
            (0..dim)
                .map(|c| (x[i * dim + c] - x[j * dim + c]).powi(2))
                .sum()
        };
        let dy = |i: usize, j: usize| -> f64 {
            (y[i][0] - y[j][0]).powi(2) + (y[i][1] - y[j][1]).powi(2)
        };
        let rank = |d: &dyn Fn(usize, usize) -> f64, i: usize, j: usize| -> usize {
            1 + (0..n)
                .filter(|&m| m != i && m != j)
                .filter(|&m| d(i, m) < d(i, j) || (d(i, m) == d(i, j) && m < j))
                .count()
        };
        let mut sum = 0.0;
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                let in_embedding = rank(&dy, i, j) <= k;
                let r = rank(&dx, i, j);
                if in_embedding && r > k {
                    sum += (r - k) as f64;
                }
            }
        }
        1.0 - 2.0 / (n as f64 * k as f64 * (2.0 * n as f64 - 3.0 * k as f64 - 1.0)) * sum
    }

    #[test]
    fn a_hand_example_has_the_hand_computed_value() {
        // Points 0..5 on a line; the embedding swaps the ends 0 and 5
        // (positions 5, 1, 2, 3, 4, 0). k = 1, ties broken by index.
        // Nearest in the embedding, and its original rank:
        //   0 -> 4 (rank 4 of 1..5: penalty 3),
        //   1 -> 2 (5 and 2 tie; original: 0 and 2 tie, 2 is rank 2: penalty 1),
        //   2 -> 1 (rank 1), 3 -> 2 (rank 1),
        //   4 -> 0 (3 and 0 tie; original order 3, 5, 2, 1, 0: rank 5, penalty 4),
        //   5 -> 1 (original order 4, 3, 2, 1: rank 4, penalty 3).
        // Sum 11; T = 1 - 11 * 2 / (6 * 1 * (12 - 3 - 1)) = 1 - 22/48.
        let x: Vec<f64> = (0..6).map(f64::from).collect();
        let pos = [5.0, 1.0, 2.0, 3.0, 4.0, 0.0];
        let y: Vec<[f64; 2]> = pos.iter().map(|&p| [p, 0.0]).collect();
        let t = trustworthiness(&x, 1, &y, 1).unwrap();
        assert!((t - (1.0 - 22.0 / 48.0)).abs() < 1e-12, "{t}");
        assert!((brute_force(&x, 1, &y, 1) - t).abs() < 1e-12);
    }

    #[test]
    fn random_embeddings_match_the_brute_force_definition() {
        let mut rng = Seed(3).stream("trust");
        for (n, k) in [(9, 2), (12, 5), (15, 3)] {
            let x: Vec<f64> = (0..n * 3).map(|_| rng.random::<f64>()).collect();
            let y: Vec<[f64; 2]> = (0..n).map(|_| [rng.random(), rng.random()]).collect();
            let t = trustworthiness(&x, 3, &y, k).unwrap();
            let b = brute_force(&x, 3, &y, k);
            assert!((t - b).abs() < 1e-12, "n={n} k={k}: {t} vs {b}");
            assert!(t < 1.0);
        }
    }

    #[test]
    fn an_isometric_embedding_is_fully_trustworthy_and_bad_k_is_an_error() {
        let x = [0.0, 0.0, 1.0, 0.2, 3.0, 1.0, 7.0, 2.0, 4.0, 9.0, 2.0, 5.0];
        let y: Vec<[f64; 2]> = x.chunks(2).map(|p| [p[1] * 3.0, -p[0] * 3.0]).collect();
        assert_eq!(trustworthiness(&x, 2, &y, 2).unwrap(), 1.0);
        assert!(trustworthiness(&x, 2, &y, 3)
            .unwrap_err()
            .to_string()
            .contains("k = 3"));
        assert!(trustworthiness(&x, 2, &y[..5], 1).is_err());
    }
}
