use super::*;
use candle_core::{Device, Var};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

fn logits(n: usize, k: usize, seed: u64, scale: f64) -> (Vec<f64>, Tensor) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..n * k)
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    let t = Tensor::from_vec(v.clone(), (n, k), &Device::Cpu).unwrap();
    (v, t)
}

fn naive_ds(a: &[f64], b: &[f64], n: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0.0; n];
    for i in 0..n {
        for j in 0..k {
            let d = b[i * k + j] - a[i * k + j];
            out[i] += d * d;
        }
    }
    out
}

fn log_softmax_row(row: &[f64]) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    row.iter().map(|v| v - lse).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ds_is_a_non_negative_symmetric_squared_norm(n in 1usize..6, k in 1usize..12, s1 in any::<u64>(), s2 in any::<u64>(), scale in 0.1f64..100.0) {
        let (av, a) = logits(n, k, s1, scale);
        let (bv, b) = logits(n, k, s2, scale);
        let d: Vec<f64> = ds(&a, &b).unwrap().to_vec1().unwrap();
        let naive = naive_ds(&av, &bv, n, k);
        for (x, y) in d.iter().zip(&naive) {
            prop_assert!(*x >= 0.0);
            prop_assert!((x - y).abs() <= 1e-12 * y.max(1.0), "{x} vs naive {y}");
        }
        let back: Vec<f64> = ds(&b, &a).unwrap().to_vec1().unwrap();
        prop_assert_eq!(&d, &back);
        let same: Vec<f64> = ds(&a, &a).unwrap().to_vec1().unwrap();
        prop_assert!(same.iter().all(|v| *v == 0.0));
        let mean: f64 = ds_mean(&a, &b).unwrap().to_scalar().unwrap();
        prop_assert!((mean - naive.iter().sum::<f64>() / n as f64).abs() <= 1e-9 * mean.max(1.0));
        let diff: Vec<Vec<f64>> = ld(&a, &b).unwrap().to_vec2().unwrap();
        prop_assert!((diff[0][0] - (bv[0] - av[0])).abs() < 1e-12);
    }

    #[test]
    fn kl_matches_a_naive_sum_and_vanishes_on_equal_inputs(n in 1usize..5, k in 2usize..10, s1 in any::<u64>(), s2 in any::<u64>()) {
        let (av, a) = logits(n, k, s1, 5.0);
        let (bv, b) = logits(n, k, s2, 5.0);
        let got: Vec<f64> = kl_per_sample(&a, &b).unwrap().to_vec1().unwrap();
        for i in 0..n {
            let lp = log_softmax_row(&av[i * k..(i + 1) * k]);
            let lq = log_softmax_row(&bv[i * k..(i + 1) * k]);
            let naive: f64 = lp.iter().zip(&lq).map(|(p, q)| p.exp() * (p - q)).sum();
            prop_assert!(got[i] >= -1e-12);
            prop_assert!((got[i] - naive).abs() < 1e-10, "{} vs {}", got[i], naive);
        }
        let zero: f64 = kl(&a, &a).unwrap().to_scalar().unwrap();
        prop_assert!(zero.abs() < 1e-12);
    }
}

#[test]
fn cross_entropy_matches_a_naive_computation() {
    let (v, a) = logits(3, 4, 9, 3.0);
    let labels = Tensor::new(&[0u32, 3, 2], &Device::Cpu).unwrap();
    let got: f64 = cross_entropy(&a, &labels).unwrap().to_scalar().unwrap();
    let naive = [0usize, 3, 2]
        .iter()
        .enumerate()
        .map(|(i, &y)| -log_softmax_row(&v[i * 4..(i + 1) * 4])[y])
        .sum::<f64>()
        / 3.0;
    assert!((got - naive).abs() < 1e-12, "{got} vs {naive}");
}

/// `F(x) = x W^T + b`, a model simple enough to differentiate by hand, with
/// `x' = 1.5 x + 0.1` as a fixed differentiable perturbation.
fn linear_loss(
    w: &Tensor,
    b: &Tensor,
    x: &Tensor,
    labels: &Tensor,
    loss: &ContinuityLoss,
) -> Tensor {
    let f = |x: &Tensor| x.matmul(&w.t().unwrap()).unwrap().broadcast_add(b).unwrap();
    let xp = x.affine(1.5, 0.1).unwrap();
    loss.compute(&f(x), &f(&xp), labels).unwrap().total
}

#[test]
fn continuity_loss_gradient_matches_central_differences() {
    let dev = Device::Cpu;
    let (n, d, k) = (5, 6, 4);
    let (_, x) = logits(n, d, 1, 1.0);
    let labels = Tensor::new(&[0u32, 1, 2, 3, 1], &dev).unwrap();
    for term in [ContinuityTerm::Ds, ContinuityTerm::Kl] {
        let loss = ContinuityLoss::new(0.7, term).unwrap();
        let (wv, w0) = logits(k, d, 2, 0.5);
        let (_, b0) = logits(1, k, 3, 0.5);
        let b0 = b0.reshape(k).unwrap();
        let w = Var::from_tensor(&w0).unwrap();
        let grads = linear_loss(w.as_tensor(), &b0, &x, &labels, &loss)
            .backward()
            .unwrap();
        let g: Vec<f64> = grads
            .get(w.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let h = 1e-6;
        let mut max_err: f64 = 0.0;
        let mut max_g: f64 = 0.0;
        for i in 0..wv.len() {
            let eval = |delta: f64| -> f64 {
                let mut v = wv.clone();
                v[i] += delta;
                let w = Tensor::from_vec(v, (k, d), &dev).unwrap();
                linear_loss(&w, &b0, &x, &labels, &loss)
                    .to_scalar()
                    .unwrap()
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h);
            max_err = max_err.max((g[i] - fd).abs());
            max_g = max_g.max(fd.abs());
        }
        let rel = max_err / max_g;
        eprintln!("{term}: max |autograd - central difference| / max |gradient| = {rel:.2e}");
        assert!(rel < 1e-3, "{term}: relative gradient error {rel}");
        assert!(
            max_g > 1e-3,
            "gradient vanished: the test would prove nothing"
        );
    }
}

#[test]
fn alpha_weights_the_continuity_term() {
    let (_, a) = logits(4, 3, 5, 2.0);
    let (_, b) = logits(4, 3, 6, 2.0);
    let labels = Tensor::new(&[0u32, 1, 2, 0], &Device::Cpu).unwrap();
    let t0 = ContinuityLoss::new(0.0, ContinuityTerm::Ds)
        .unwrap()
        .compute(&a, &b, &labels)
        .unwrap();
    let t2 = ContinuityLoss::new(2.0, ContinuityTerm::Ds)
        .unwrap()
        .compute(&a, &b, &labels)
        .unwrap();
    let s = |t: &Tensor| -> f64 { t.to_scalar().unwrap() };
    assert_eq!(s(&t0.total), s(&t0.ce));
    assert!((s(&t2.total) - s(&t2.ce) - 2.0 * s(&t2.continuity)).abs() < 1e-12);
    assert!(s(&t2.continuity) > 0.0);
}

#[test]
fn bad_input_is_rejected_with_a_reason() {
    let (_, a) = logits(2, 3, 1, 1.0);
    let (_, b) = logits(3, 3, 1, 1.0);
    assert!(ds(&a, &b).unwrap_err().to_string().contains("differs"));
    for alpha in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(ContinuityLoss::new(alpha, ContinuityTerm::Ds)
            .unwrap_err()
            .to_string()
            .contains("alpha"));
    }
    let bad = Tensor::new(&[0u32, 3], &Device::Cpu).unwrap();
    assert!(cross_entropy(&a, &bad)
        .unwrap_err()
        .to_string()
        .contains("class count"));
    let short = Tensor::new(&[0u32], &Device::Cpu).unwrap();
    assert!(cross_entropy(&a, &short).is_err());
    assert!("l2".parse::<ContinuityTerm>().is_err());
    let flat = Tensor::new(&[1.0f64, 2.0], &Device::Cpu).unwrap();
    assert!(ds(&flat, &flat)
        .unwrap_err()
        .to_string()
        .contains("[N, classes]"));
}
