//! Deletion and insertion curves on a model whose evidence is known.
use super::DEV;
use crate::faithfulness::*;
use candle_core::{DType, Tensor};
use sc_core::Classifier;

/// Two classes, logits `[s, -s]` with `s = 4 * mean(x over rows 0..2)` of
/// an 8x8 single-channel image: only the top quarter carries evidence.
struct TopRows;

impl Classifier for TopRows {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let s = x.narrow(2, 0, 2)?.mean((1, 2, 3))?.affine(4.0, 0.0)?;
        Tensor::stack(&[&s, &s.neg()?], 1)
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        [1, 8, 8]
    }
    fn name(&self) -> &str {
        "top-rows"
    }
}

/// Maps that rank the top rows first (`first = true`) or last.
fn ranking_map(n: usize, first: bool) -> Tensor {
    let v: Vec<f32> = (0..n * 64)
        .map(|i| {
            let top = (i % 64) / 8 < 2;
            if top == first {
                2.0 + (i % 7) as f32 * 0.01
            } else {
                1.0 - (i % 5) as f32 * 0.01
            }
        })
        .collect();
    Tensor::from_vec(v, (n, 8, 8), &DEV).unwrap()
}

#[test]
fn deletion_is_fastest_and_insertion_slowest_when_the_evidence_ranks_first() {
    let x = Tensor::rand(0.5f32, 1f32, (3, 1, 8, 8), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 0, 0], &DEV).unwrap();
    let curves = |first| {
        deletion_insertion(
            &TopRows,
            &x,
            &t,
            &ranking_map(3, first),
            16,
            Canvas::Black,
            Canvas::Black,
        )
        .unwrap()
    };
    let (good, bad) = (curves(true), curves(false));
    for i in 0..3 {
        assert!(
            good.deletion_auc[i] < bad.deletion_auc[i] - 0.2,
            "{good:?} {bad:?}"
        );
        assert!(
            good.insertion_auc[i] > bad.insertion_auc[i] + 0.2,
            "{good:?} {bad:?}"
        );
        // 16 pixels of evidence = 4 of the 16 steps: after them the
        // evidence is gone (deletion) or complete (insertion).
        assert_eq!(good.deletion[i][4], 0.5);
        let full = 1.0
            / (1.0
                + (-8.0
                    * x.get(i)
                        .unwrap()
                        .narrow(1, 0, 2)
                        .unwrap()
                        .mean_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap() as f64)
                    .exp());
        assert!((good.insertion[i][4] - full).abs() < 1e-6);
        assert!((good.deletion[i][0] - full).abs() < 1e-6);
        // Ranked last, the evidence is untouched for the first 12 steps.
        assert!((bad.deletion[i][12] - full).abs() < 1e-6);
    }
    assert_eq!(good.fractions.len(), 17);
    assert_eq!(good.fractions[0], 0.0);
    assert_eq!(good.fractions[16], 1.0);
}

#[test]
fn areas_of_known_curves() {
    let xs: Vec<f64> = (0..=10).map(|k| k as f64 / 10.0).collect();
    assert_eq!(trapezoid(&xs, &[0.3; 11]), 0.3 * 1.0);
    // A straight line from 0 to 1: the trapezoid rule is exact, 1/2.
    assert!((trapezoid(&xs, &xs) - 0.5).abs() < 1e-15);
    // A model that ignores its input gives a constant curve: AUC = that probability.
    struct Constant;
    impl Classifier for Constant {
        fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            let n = x.dim(0)?;
            Tensor::new(&[1f32, 0.0], x.device())?
                .unsqueeze(0)?
                .repeat((n, 1))
        }
        fn num_classes(&self) -> usize {
            2
        }
        fn input_shape(&self) -> [usize; 3] {
            [1, 8, 8]
        }
        fn name(&self) -> &str {
            "constant"
        }
    }
    let x = Tensor::rand(0f32, 1f32, (2, 1, 8, 8), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 1], &DEV).unwrap();
    let c = deletion_insertion(
        &Constant,
        &x,
        &t,
        &ranking_map(2, true),
        5,
        Canvas::Blur,
        Canvas::Blur,
    )
    .unwrap();
    let p0 = 1.0 / (1.0 + (-1f64).exp());
    for (i, p) in [p0, 1.0 - p0].into_iter().enumerate() {
        assert!((c.deletion_auc[i] - p).abs() < 1e-6);
        assert!((c.insertion_auc[i] - p).abs() < 1e-6);
    }
    assert!(deletion_insertion(
        &Constant,
        &x,
        &t,
        &ranking_map(2, true),
        0,
        Canvas::Black,
        Canvas::Black
    )
    .is_err());
    assert!(deletion_insertion(
        &Constant,
        &x,
        &t,
        &ranking_map(3, true),
        4,
        Canvas::Black,
        Canvas::Black
    )
    .is_err());
}

#[test]
fn gaussian_blur_keeps_constants_and_matches_a_direct_sum() {
    let c = (Tensor::ones((1, 2, 6, 7), DType::F64, &DEV).unwrap() * 0.375).unwrap();
    let b = gaussian_blur(&c, 5.0, 5).unwrap();
    let v = b.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    assert!(v.iter().all(|x| (x - 0.375).abs() < 1e-12));
    // An impulse in the middle of a 11x11 plane, radius 2, sigma 1: the
    // blurred image is the normalised 2-D Gaussian kernel around it.
    let mut imp = vec![0f64; 121];
    imp[60] = 1.0;
    let imp = Tensor::from_vec(imp, (1, 1, 11, 11), &DEV).unwrap();
    let b = gaussian_blur(&imp, 1.0, 2)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let g = |d: f64| (-d * d / 2.0).exp();
    let norm: f64 = (-2..=2).map(|d| g(d as f64)).sum();
    for y in 0..11 {
        for x in 0..11 {
            let (dy, dx) = (y as f64 - 5.0, x as f64 - 5.0);
            let want = if dy.abs() <= 2.0 && dx.abs() <= 2.0 {
                g(dy) * g(dx) / norm / norm
            } else {
                0.0
            };
            assert!((b[y * 11 + x] - want).abs() < 1e-12);
        }
    }
}
