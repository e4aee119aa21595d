//! Ridge regression and LIME against closed forms and a known region.
// Matrix code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]
use super::DEV;
use crate::ridge::weighted_ridge;
use crate::*;
use candle_core::Tensor;
use rand::Rng;
use sc_core::{Classifier, Seed};

/// Independent closed form: Gaussian elimination with partial pivoting on
/// the full normal equations `(A^T W A + P) z = A^T W y`, with `A = [1 X]`
/// and `P = diag(0, alpha, ..., alpha)` (the intercept unpenalised).
fn ridge_by_elimination(x: &[Vec<f64>], y: &[f64], w: &[f64], alpha: f64) -> Vec<f64> {
    let d = x[0].len() + 1;
    let rows: Vec<Vec<f64>> = x
        .iter()
        .map(|r| std::iter::once(1.0).chain(r.iter().copied()).collect())
        .collect();
    let mut m = vec![vec![0.0; d + 1]; d];
    for ((r, &yi), &wi) in rows.iter().zip(y).zip(w) {
        for i in 0..d {
            for j in 0..d {
                m[i][j] += wi * r[i] * r[j];
            }
            m[i][d] += wi * r[i] * yi;
        }
    }
    for (i, row) in m.iter_mut().enumerate().skip(1) {
        row[i] += alpha;
    }
    for col in 0..d {
        let piv = (col..d)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap();
        m.swap(col, piv);
        for r in 0..d {
            if r != col {
                let f = m[r][col] / m[col][col];
                for k in col..=d {
                    m[r][k] -= f * m[col][k];
                }
            }
        }
    }
    (0..d).map(|i| m[i][d] / m[i][i]).collect()
}

#[test]
fn ridge_on_a_linear_model_over_superpixel_indicators_is_its_closed_form() {
    let mut rng = Seed(2).stream("ridge-test");
    let k = 6;
    let truth: Vec<f64> = (0..k).map(|j| j as f64 * 0.3 - 0.7).collect();
    let lime = Lime::new(1000, Seed(0)).unwrap();
    let masks: Vec<Vec<bool>> = (0..1000)
        .map(|s| (0..k).map(|_| s == 0 || rng.random::<bool>()).collect())
        .collect();
    let x: Vec<Vec<f64>> = masks
        .iter()
        .map(|m| m.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect())
        .collect();
    let y: Vec<f64> = x
        .iter()
        .map(|r| 0.4 + r.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let w: Vec<f64> = masks.iter().map(|m| lime.kernel(m)).collect();
    let fit = weighted_ridge(&x, &y, &w, 1.0).unwrap();
    let exact = ridge_by_elimination(&x, &y, &w, 1.0);
    // Two f64 solutions of a well-conditioned 7x7 system: 1e-9.
    assert!((fit.intercept - exact[0]).abs() < 1e-9);
    for j in 0..k {
        assert!(
            (fit.coefficients[j] - exact[j + 1]).abs() < 1e-9,
            "{j}: {} vs {}",
            fit.coefficients[j],
            exact[j + 1]
        );
    }
    // alpha = 1 against weights summing to hundreds shrinks little: within 2%.
    for j in 0..k {
        assert!(
            (fit.coefficients[j] - truth[j]).abs() < 0.02 * truth[j].abs().max(0.1),
            "{j}"
        );
    }
    // Without the penalty the fit is exact: the weights and R^2 = 1.
    let free = weighted_ridge(&x, &y, &w, 0.0).unwrap();
    for j in 0..k {
        assert!((free.coefficients[j] - truth[j]).abs() < 1e-9);
    }
    assert!((free.intercept - 0.4).abs() < 1e-9);
    assert!((free.r2 - 1.0).abs() < 1e-12);
    assert!(fit.r2 < 1.0 && fit.r2 > 0.99);
    assert!(weighted_ridge(&x, &y[..3], &w, 1.0).is_err());
    assert!(weighted_ridge(&x, &y, &vec![0.0; 1000], 1.0).is_err());
}

#[test]
fn lime_kernel_is_the_cosine_distance_kernel() {
    let lime = Lime::new(10, Seed(0)).unwrap();
    for mask in [
        vec![true; 4],
        vec![true, false, true, false],
        vec![false, false, false, true],
    ] {
        // Cosine distance to the all-on vector, written out.
        let a: Vec<f64> = mask.iter().map(|&b| f64::from(u8::from(b))).collect();
        let dot: f64 = a.iter().sum();
        let norm = a.iter().map(|v| v * v).sum::<f64>().sqrt() * (a.len() as f64).sqrt();
        let d = 1.0 - dot / norm;
        let want = (-d * d / 0.0625).exp().sqrt();
        assert!((lime.kernel(&mask) - want).abs() < 1e-15);
    }
    assert_eq!(lime.kernel(&[true; 3]), 1.0);
    assert!((lime.kernel(&[false; 3]) - (-16f64).exp().sqrt()).abs() < 1e-15);
}

/// Two classes; logit 0 is `8 * mean(red channel of the top-left 8x8) - 4`:
/// only the top-left quadrant of a 16x16 image is evidence.
struct TopLeft;

impl Classifier for TopLeft {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let s = x
            .narrow(1, 0, 1)?
            .narrow(2, 0, 8)?
            .narrow(3, 0, 8)?
            .mean((1, 2, 3))?
            .affine(8.0, -4.0)?;
        Tensor::stack(&[&s, &s.zeros_like()?], 1)
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        [3, 16, 16]
    }
    fn name(&self) -> &str {
        "top-left"
    }
}

/// Four flat quadrants of different colours, the top-left one red.
fn quadrants() -> Tensor {
    let colours = [
        [0.9f32, 0.1, 0.1],
        [0.1, 0.8, 0.2],
        [0.2, 0.2, 0.9],
        [0.8, 0.8, 0.1],
    ];
    let mut v = vec![0f32; 3 * 256];
    for y in 0..16 {
        for x in 0..16 {
            let q = usize::from(y >= 8) * 2 + usize::from(x >= 8);
            for c in 0..3 {
                v[c * 256 + y * 16 + x] = colours[q][c];
            }
        }
    }
    Tensor::from_vec(v, (1, 3, 16, 16), &DEV).unwrap()
}

#[test]
fn lime_ranks_the_superpixels_of_the_only_region_the_model_uses_first() {
    let x = quadrants();
    let t = Tensor::new(&[0u32], &DEV).unwrap();
    let lime = Lime::new(300, Seed(4))
        .unwrap()
        .with_fill(LimeFill::Constant(0.0))
        .with_top_k(16)
        .with_chunk(64)
        .unwrap();
    let (seg, fit) = lime
        .explain_one(&TopLeft, &x.get(0).unwrap(), 0, Seed(4))
        .unwrap();
    // The superpixels inside the evidence quadrant.
    let inside: Vec<usize> = (0..seg.count)
        .filter(|&l| (0..256).any(|p| seg.labels[p] == l && p / 16 < 8 && p % 16 < 8))
        .collect();
    assert!(!inside.is_empty() && inside.len() < seg.count);
    let mut first: Vec<usize> = fit.top[..inside.len()].to_vec();
    first.sort();
    assert_eq!(first, inside, "{fit:?}");
    // The other superpixels carry no evidence: their coefficients are
    // sampling noise of a response that is not linear in the masks (a
    // softmax), far below the weakest evidence superpixel's.
    let weakest = inside
        .iter()
        .map(|&l| fit.coefficients[l])
        .fold(f64::INFINITY, f64::min);
    assert!(weakest > 0.05, "{fit:?}");
    for l in (0..seg.count).filter(|l| !inside.contains(l)) {
        assert!(fit.coefficients[l].abs() < weakest / 5.0, "{fit:?}");
    }
    // The map is each pixel's superpixel's coefficient.
    let (map, fits) = lime.explain(&TopLeft, &x, &t).unwrap();
    let m = map.map.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for p in 0..256 {
        assert_eq!(m[p], fits[0].coefficients[seg.labels[p]] as f32);
    }
}

#[test]
fn lime_is_reproducible_from_its_seed() {
    let x = Tensor::rand(0f32, 1f32, (2, 3, 16, 16), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 1], &DEV).unwrap();
    let fits = |s| {
        Lime::new(50, Seed(s))
            .unwrap()
            .explain(&TopLeft, &x, &t)
            .unwrap()
            .1
    };
    assert_eq!(fits(1), fits(1));
    assert_ne!(fits(1), fits(2));
    assert!(Lime::new(0, Seed(0)).is_err());
    assert!(Lime::new(5, Seed(0)).unwrap().with_chunk(0).is_err());
}
