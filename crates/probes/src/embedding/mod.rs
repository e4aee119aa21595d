//! 2-D embeddings of logit vectors, for the paper's Fig. 2 (Sec. 2.2): the
//! logits of one class's test images, an anchor image and its perturbed
//! versions, drawn as a scatter by three methods, each with a number that
//! says how far the picture can be trusted.
//!
//! - [`pca()`]: principal components through the eigen-decomposition of the
//!   covariance matrix (cyclic Jacobi), with the explained variance ratio of
//!   every component.
//! - [`tsne()`]: exact t-SNE (van der Maaten & Hinton 2008) with the
//!   optimiser of van der Maaten 2014 (early exaggeration, momentum, gains).
//! - [`umap()`]: UMAP (McInnes et al. 2018): fuzzy simplicial set on the exact
//!   k-NN graph, `a`, `b` fitted from `min_dist`, seeded random
//!   initialisation, SGD with negative sampling.
//! - [`trustworthiness()`]: Venna & Kaski 2001, as scikit-learn computes it.
//!
//! Points are row-major `n x dim` `f64` slices. No maintained Rust crate was
//! usable here: the t-SNE crate (bhtsne) pulls FFT and thread-pool stacks
//! and the UMAP crates are either unfinished or built on another tensor
//! framework, so both are implemented from the papers; the sets are small
//! (one class, a few hundred points), so exact O(n^2) steps suffice. All
//! randomness comes from a passed-in [`sc_core::Seed`].

pub mod pca;
pub mod trustworthiness;
pub mod tsne;
pub mod umap;

pub use pca::{pca, Pca};
pub use trustworthiness::trustworthiness;
pub use tsne::{tsne, TsneOptions};
pub use umap::{umap, UmapOptions};

use crate::{Error, Result};

/// The number of points in `x` (`n x dim`, row-major), after checking that
/// it holds at least `min_points` whole, finite rows; `what` names the
/// caller in the error.
pub(crate) fn check_points(
    x: &[f64],
    dim: usize,
    min_points: usize,
    what: &'static str,
) -> Result<usize> {
    let bad = |problem: String| Error::InvalidArgument {
        name: what,
        problem,
    };
    if dim == 0 || x.len() % dim != 0 {
        return Err(bad(format!(
            "{} values do not make rows of dimension {dim}",
            x.len()
        )));
    }
    let n = x.len() / dim;
    if n < min_points {
        return Err(bad(format!("{n} points; at least {min_points} are needed")));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!(
            "point {} has a non-finite coordinate {}",
            i / dim,
            x[i]
        )));
    }
    Ok(n)
}

/// The full `n x n` matrix of squared Euclidean distances between the rows
/// of `x` (`n x dim`), computed from differences (not from the
/// `|a|^2 + |b|^2 - 2ab` expansion, which loses the small distances that
/// neighbour ranks depend on).
pub(crate) fn squared_distances(x: &[f64], dim: usize) -> Vec<f64> {
    let n = x.len() / dim;
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        let a = &x[i * dim..(i + 1) * dim];
        for j in i + 1..n {
            let b = &x[j * dim..(j + 1) * dim];
            let s: f64 = a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum();
            d[i * n + j] = s;
            d[j * n + i] = s;
        }
    }
    d
}

/// For each point, the other points ordered by their distance to it
/// (nearest first; ties by index, so the order is a pure function of the
/// distances). `d` is an `n x n` distance matrix.
pub(crate) fn neighbour_order(d: &[f64], n: usize) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            let row = &d[i * n..(i + 1) * n];
            let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            others.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
            others
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testdata {
    //! Data of known structure for the embedding tests.
    use sc_core::Seed;

    /// `clusters` well-separated Gaussian blobs of `per` points each in
    /// `dim` dimensions: centres 20 apart along distinct axes, unit spread.
    /// Returns the points and each point's cluster.
    pub fn blobs(clusters: usize, per: usize, dim: usize, seed: u64) -> (Vec<f64>, Vec<usize>) {
        let noise =
            sc_core::standard_normals(&mut Seed(seed).stream("blobs"), clusters * per * dim);
        let mut x = Vec::with_capacity(noise.len());
        let mut label = Vec::new();
        for c in 0..clusters {
            for p in 0..per {
                for k in 0..dim {
                    let centre = if k == c % dim { 20.0 } else { 0.0 };
                    x.push(centre + noise[(c * per + p) * dim + k]);
                }
                label.push(c);
            }
        }
        (x, label)
    }

    /// Share of points whose nearest other point in the 2-D embedding `y`
    /// has the same cluster.
    pub fn nearest_neighbour_agreement(y: &[[f64; 2]], label: &[usize]) -> f64 {
        let n = y.len();
        let mut agree = 0;
        for i in 0..n {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (y[a][0] - y[i][0]).powi(2) + (y[a][1] - y[i][1]).powi(2);
                    let db = (y[b][0] - y[i][0]).powi(2) + (y[b][1] - y[i][1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap();
            agree += usize::from(label[nearest] == label[i]);
        }
        agree as f64 / n as f64
    }
}
