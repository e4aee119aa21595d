//! SmoothGrad against its base method and its closed form.
use super::{max_abs_diff, Mlp, DEV};
use crate::*;
use candle_core::{DType, Tensor};
use sc_core::Seed;

#[test]
fn smoothgrad_without_noise_is_its_base_method_exactly() {
    let m = Mlp::new([2, 3, 3], 4, Some(6), DType::F32);
    let x = Tensor::rand(0f32, 1f32, (3, 2, 3, 3), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 3, 1], &DEV).unwrap();
    let sg = SmoothGrad::new(SmoothGradBase::Saliency, 0.0, 7, Seed(1)).unwrap();
    let got = sg.attribute(&m, &x, &t).unwrap();
    let base = Saliency.attribute(&m, &x, &t).unwrap();
    assert_eq!(max_abs_diff(&got.attributions, &base.attributions), 0.0);
    assert_eq!(max_abs_diff(&got.map, &base.map), 0.0);
    let ig = IntegratedGradients::new(4).unwrap();
    let sg = SmoothGrad::new(SmoothGradBase::IntegratedGradients(ig), 0.0, 3, Seed(1)).unwrap();
    let got = sg.attribute(&m, &x, &t).unwrap();
    let base = ig.attribute(&m, &x, &t).unwrap();
    assert_eq!(max_abs_diff(&got.attributions, &base.attributions), 0.0);
    assert_eq!(max_abs_diff(&got.map, &base.map), 0.0);
}

#[test]
fn smoothgrad_of_a_linear_model_is_the_weight_row_at_any_noise() {
    // The gradient of a linear model is the same everywhere: every noisy
    // copy gives the weight row, and so does their mean.
    let m = Mlp::new([3, 2, 2], 4, None, DType::F32);
    let x = Tensor::rand(0f32, 1f32, (2, 3, 2, 2), &DEV).unwrap();
    let t = Tensor::new(&[2u32, 0], &DEV).unwrap();
    let sg = SmoothGrad::new(SmoothGradBase::Saliency, 0.5, 10, Seed(3)).unwrap();
    let got = sg.attribute(&m, &x, &t).unwrap();
    let w =
        m.w1.index_select(&t, 0)
            .unwrap()
            .reshape((2, 3, 2, 2))
            .unwrap();
    // f32 sums of 10 equal values: 1e-6 on weights of order 1.
    assert!(max_abs_diff(&got.attributions, &w) < 1e-6);
    assert!(max_abs_diff(&got.map, &w.abs().unwrap().max(1).unwrap()) < 1e-6);
}

#[test]
fn smoothgrad_is_reproducible_from_its_seed_and_the_noise_matters() {
    let m = Mlp::new([2, 3, 3], 4, Some(6), DType::F64);
    let x = Tensor::rand(0f64, 1f64, (2, 2, 3, 3), &DEV).unwrap();
    let t = Tensor::new(&[1u32, 2], &DEV).unwrap();
    let run = |seed| {
        SmoothGrad::new(SmoothGradBase::Saliency, 0.3, 5, Seed(seed))
            .unwrap()
            .attribute(&m, &x, &t)
            .unwrap()
            .attributions
    };
    assert_eq!(max_abs_diff(&run(7), &run(7)), 0.0);
    // A nonlinear model: other noise, another mean gradient.
    assert!(max_abs_diff(&run(7), &run(8)) > 1e-6);
    let base = Saliency.attribute(&m, &x, &t).unwrap().attributions;
    assert!(max_abs_diff(&run(7), &base) > 1e-6);
    assert!(SmoothGrad::new(SmoothGradBase::Saliency, 0.1, 0, Seed(0)).is_err());
    assert!(SmoothGrad::new(SmoothGradBase::Saliency, -0.1, 5, Seed(0)).is_err());
    assert!(SmoothGrad::new(SmoothGradBase::Saliency, f64::NAN, 5, Seed(0)).is_err());
}

#[test]
fn smoothgrad_is_the_mean_of_saliency_over_its_noisy_copies() {
    // Independent computation: redraw the same noise from the same stream
    // and average plain saliency maps of the noisy images by hand.
    let m = Mlp::new([1, 2, 2], 3, Some(5), DType::F64);
    let x = Tensor::new(&[0.1f64, 0.9, 0.5, 0.3], &DEV)
        .unwrap()
        .reshape((1, 1, 2, 2))
        .unwrap();
    let t = Tensor::new(&[2u32], &DEV).unwrap();
    let (std, samples) = (0.2, 4);
    let got = SmoothGrad::new(SmoothGradBase::Saliency, std, samples, Seed(11))
        .unwrap()
        .attribute(&m, &x, &t)
        .unwrap()
        .attributions;
    let mut rng = Seed(11).stream("smoothgrad");
    let sigma = std * (0.9 - 0.1);
    let mut mean = vec![0.0; 4];
    for _ in 0..samples {
        let noise: Vec<f64> = sc_core::standard_normals(&mut rng, 4)
            .iter()
            .map(|v| v * sigma)
            .collect();
        let noisy = (&x + Tensor::from_vec(noise, (1, 1, 2, 2), &DEV).unwrap()).unwrap();
        let g = Saliency.attribute(&m, &noisy, &t).unwrap().attributions;
        for (a, b) in mean
            .iter_mut()
            .zip(g.flatten_all().unwrap().to_vec1::<f64>().unwrap())
        {
            *a += b / samples as f64;
        }
    }
    let got = got.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    for (a, b) in got.iter().zip(&mean) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}
