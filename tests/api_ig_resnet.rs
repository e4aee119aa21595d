//! Integrated Gradients on a real architecture through the crate API:
//! completeness (Sundararajan et al. 2017, Prop. 1) holds to within 1% of
//! `|F(x) - F(0)|` at 256 midpoint steps on a ResNet18, not only on the
//! smooth toy networks of sc-interpret's own tests. ReLU networks are only
//! piecewise smooth, so this is the check that the step count the CLI
//! offers is enough on the models the study uses.

use candle_core::{DType, Device, Tensor};
use sc_core::{Classifier, Seed};
use sc_interpret::{Attribution, IntegratedGradients};
use sc_models::{Arch, Model, Normalize};

#[test]
fn ig_completeness_gap_is_below_one_percent_at_256_steps_on_resnet18() {
    let dev = Device::Cpu;
    let model = Model::new(
        Arch::ResNet18,
        10,
        [3, 32, 32],
        Some(Normalize::cifar10()),
        Seed(3),
        DType::F32,
        &dev,
    )
    .unwrap();
    let x = Tensor::rand(0f32, 1f32, (1, 3, 32, 32), &dev).unwrap();
    // The class whose logit moves most from the black baseline, so the
    // relative gap is measured against a rise well above float noise.
    let both = model
        .logits(&Tensor::cat(&[&x, &x.zeros_like().unwrap()], 0).unwrap())
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let (mut targets, mut rises) = (Vec::new(), Vec::new());
    for i in 0..1 {
        let (t, rise) = (0..10)
            .map(|c| (c, both[i][c] - both[i + 1][c]))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        targets.push(t as u32);
        rises.push(f64::from(rise));
    }
    let t = Tensor::new(targets.as_slice(), &dev).unwrap();
    let map = IntegratedGradients::new(256)
        .unwrap()
        .attribute(&model, &x, &t)
        .unwrap();
    for (gap, rise) in map.completeness_gap.unwrap().iter().zip(&rises) {
        assert!(
            rise.abs() > 1e-3,
            "rise {rise} too small to measure against"
        );
        let rel = gap.abs() / rise.abs();
        assert!(
            rel < 0.01,
            "gap {gap} is {:.3}% of |F(x)-F(0)| = {rise}",
            rel * 100.0
        );
    }
}
