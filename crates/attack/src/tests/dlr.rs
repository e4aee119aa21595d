//! The DLR losses against a naive per-sample computation of the
//! reference's formulas, their gradients against finite differences, and
//! their scale invariance.

use super::*;
use crate::dlr::{dlr_per_sample, dlr_targeted_per_sample};

/// The reference's formulas, sample by sample, on host f64 values (sorted
/// with the standard library).
fn naive(row: &[f64], y: usize, target: Option<usize>) -> f64 {
    let mut sorted = row.to_vec();
    sorted.sort_by(f64::total_cmp); // ascending, like torch.sort
    let k = sorted.len();
    let top_is_y = row[y] == sorted[k - 1];
    match target {
        None => {
            let other = if top_is_y {
                sorted[k - 2]
            } else {
                sorted[k - 1]
            };
            -(row[y] - other) / (sorted[k - 1] - sorted[k - 3] + 1e-12)
        }
        Some(t) => {
            -(row[y] - row[t]) / (sorted[k - 1] - 0.5 * (sorted[k - 3] + sorted[k - 4]) + 1e-12)
        }
    }
}

fn random_logits(n: usize, k: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut r = rng(seed);
    (0..n)
        .map(|_| (0..k).map(|_| 3.0 * normal(&mut r)).collect())
        .collect()
}

fn tensor(rows: &[Vec<f64>]) -> Tensor {
    let (n, k) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (n, k), &Device::Cpu).unwrap()
}

#[test]
fn dlr_losses_match_a_naive_per_sample_computation_in_f64() {
    let (n, k) = (64, 6);
    let l = random_logits(n, k, 1);
    // Half the labels are the top class (the `ind` branch), half are not.
    let y: Vec<u32> = (0..n)
        .map(|i| {
            let top = (0..k).max_by(|&a, &b| l[i][a].total_cmp(&l[i][b])).unwrap();
            if i % 2 == 0 {
                top as u32
            } else {
                ((top + 1 + i % (k - 1)) % k) as u32
            }
        })
        .collect();
    let t: Vec<u32> = y.iter().map(|&c| (c + 2) % k as u32).collect();
    let got: Vec<f64> = dlr_per_sample(&tensor(&l), &labels(&y))
        .unwrap()
        .to_vec1()
        .unwrap();
    let got_t: Vec<f64> = dlr_targeted_per_sample(&tensor(&l), &labels(&y), &labels(&t))
        .unwrap()
        .to_vec1()
        .unwrap();
    let mut branches = [0; 2];
    for i in 0..n {
        let e = naive(&l[i], y[i] as usize, None);
        let e_t = naive(&l[i], y[i] as usize, Some(t[i] as usize));
        // The same f64 operations up to order: 1e-12 relative.
        assert!(
            (got[i] - e).abs() <= 1e-12 * e.abs().max(1.0),
            "{i}: {} vs {e}",
            got[i]
        );
        assert!(
            (got_t[i] - e_t).abs() <= 1e-12 * e_t.abs().max(1.0),
            "{i}: {} vs {e_t}",
            got_t[i]
        );
        branches[usize::from(e < 0.0)] += 1;
    }
    // Correctly classified samples have DLR < 0, misclassified ones > 0.
    assert!(branches[0] > 0 && branches[1] > 0, "{branches:?}");
}

#[test]
fn dlr_keeps_the_reference_1e_minus_12_in_its_denominators() {
    // Four equal top logits make both denominators exactly 1e-12.
    let l = tensor(&[vec![0.5, 0.5, 0.5, 0.5, 0.0]]);
    let v: Vec<f64> = dlr_per_sample(&l, &labels(&[4]))
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(v[0], 0.5 / 1e-12);
    let v: Vec<f64> = dlr_targeted_per_sample(&l, &labels(&[4]), &labels(&[1]))
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(v[0], 0.5 / 1e-12);
}

#[test]
fn dlr_losses_are_invariant_to_scaling_and_shifting_the_logits() {
    let l = random_logits(16, 5, 2);
    let y: Vec<u32> = (0..16).map(|i| (i % 5) as u32).collect();
    let t: Vec<u32> = y.iter().map(|c| (c + 1) % 5).collect();
    let scaled: Vec<Vec<f64>> = l
        .iter()
        .map(|r| r.iter().map(|v| 1e4 * v - 7.0).collect())
        .collect();
    let a: Vec<f64> = dlr_per_sample(&tensor(&l), &labels(&y))
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f64> = dlr_per_sample(&tensor(&scaled), &labels(&y))
        .unwrap()
        .to_vec1()
        .unwrap();
    let at: Vec<f64> = dlr_targeted_per_sample(&tensor(&l), &labels(&y), &labels(&t))
        .unwrap()
        .to_vec1()
        .unwrap();
    let bt: Vec<f64> = dlr_targeted_per_sample(&tensor(&scaled), &labels(&y), &labels(&t))
        .unwrap()
        .to_vec1()
        .unwrap();
    for i in 0..16 {
        // Only the 1e-12 breaks the invariance: relative 1e-9 is ample.
        assert!((a[i] - b[i]).abs() <= 1e-9 * a[i].abs().max(1.0));
        assert!((at[i] - bt[i]).abs() <= 1e-9 * at[i].abs().max(1.0));
    }
}

#[test]
fn dlr_losses_need_three_and_four_classes() {
    let l3 = tensor(&random_logits(2, 3, 3));
    let y = labels(&[0, 1]);
    assert!(dlr_per_sample(&l3, &y).is_ok());
    let e = dlr_targeted_per_sample(&l3, &y, &labels(&[1, 2])).unwrap_err();
    assert!(e.to_string().contains("at least 4"), "{e}");
    let l2 = tensor(&random_logits(2, 2, 4));
    let e = dlr_per_sample(&l2, &y).unwrap_err();
    assert!(e.to_string().contains("at least 3"), "{e}");
}
