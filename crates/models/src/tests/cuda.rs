//! CPU against CUDA (feature `cuda`): the same weights (initialisation is
//! drawn on the host, so a seed gives the same model on every device) must
//! give the same eval logits, input gradients, train-mode logits, weight
//! gradients and BatchNorm running statistics. `#[ignore]`d (a plain
//! `cargo test` lists it as ignored, never passed silently);
//! `scripts/gpu-check.sh` runs it with `--include-ignored` on a GPU host,
//! where it fails if no GPU answers.
//!
//! Tolerance: 1e-3 of the largest magnitude (`max |cpu - gpu| / max |cpu|`)
//! in f32. The GPU sums in another order (cuBLAS GEMMs, candle's im2col
//! conv and reductions), which moves each of ResNet18's ~20 layers by a few
//! f32 ulps relative to its inputs (~1e-6); BatchNorm's division by a small
//! batch standard deviation amplifies that by up to ~100. A wrong kernel
//! (a transposed weight, a missing bias, a mis-routed max-pool gradient) is
//! off by O(1).

use super::*;
use crate::{Arch, ConvImpl};
use candle_core::Var;
use sc_core::Classifier;

const TOL: f64 = 1e-3;

/// The first GPU; the test fails when none answers.
pub(crate) fn gpu(test: &str) -> Device {
    Device::new_cuda(0).unwrap_or_else(|e| panic!("{test}: needs a CUDA device ({e})"))
}

/// `max |a - b| / max |a|`, on the host in f64.
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let host = |t: &Tensor| {
        t.to_device(&Device::Cpu)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    };
    let (a, b) = (host(a), host(b));
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    if diff == 0.0 {
        0.0
    } else {
        diff / scale
    }
}

#[test]
#[ignore = "needs a CUDA GPU (scripts/gpu-check.sh runs it)"]
fn cuda_forward_and_backward_match_the_cpu() {
    let gpu = gpu("cuda_forward_and_backward_match_the_cpu");
    for arch in [Arch::SmallCnn, Arch::ResNet18] {
        let make = |dev: &Device| {
            Model::new(
                arch,
                10,
                [3, 32, 32],
                Some(Normalize::cifar100()),
                Seed(11),
                DType::F32,
                dev,
            )
            .unwrap()
        };
        let (cpu, cuda) = (make(&Device::Cpu), make(&gpu));
        assert_eq!(cuda.conv_impl(), ConvImpl::Candle);
        for ((name, a), (_, b)) in cpu.named_vars().iter().zip(cuda.named_vars()) {
            assert_eq!(
                rel_diff(a.as_tensor(), b.as_tensor()),
                0.0,
                "init of {name}"
            );
        }
        let x = pixels([8, 3, 32, 32], 3, DType::F32);
        let r = pixels([8, 10], 4, DType::F32);
        let labels: Vec<u32> = (0..8).map(|i| i % 10).collect();

        // Eval: logits and the input gradient of <logits, r>.
        let eval = |m: &Model, dev: &Device| {
            let x = Var::from_tensor(&x.to_device(dev).unwrap()).unwrap();
            let logits = m.logits(x.as_tensor()).unwrap();
            let g = (&logits * r.to_device(dev).unwrap())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (logits, g.get(&x).unwrap().clone())
        };
        let (lc, gc) = eval(&cpu, &Device::Cpu);
        let (lg, gg) = eval(&cuda, &gpu);
        assert!(
            rel_diff(&lc, &lg) < TOL,
            "{arch} eval logits: {}",
            rel_diff(&lc, &lg)
        );
        assert!(
            rel_diff(&gc, &gg) < TOL,
            "{arch} input gradient: {}",
            rel_diff(&gc, &gg)
        );

        // Train mode: logits, cross-entropy weight gradients, running stats.
        let train = |m: &Model, dev: &Device| {
            let logits = m.forward_train(&x.to_device(dev).unwrap()).unwrap();
            let y = Tensor::from_vec(labels.clone(), 8, dev).unwrap();
            let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
            (logits, loss.backward().unwrap())
        };
        let (lc, gc) = train(&cpu, &Device::Cpu);
        let (lg, gg) = train(&cuda, &gpu);
        assert!(
            rel_diff(&lc, &lg) < TOL,
            "{arch} train logits: {}",
            rel_diff(&lc, &lg)
        );
        for ((name, vc), (_, vg)) in cpu.trainable_vars().iter().zip(cuda.trainable_vars()) {
            let (a, b) = (gc.get(vc).unwrap(), gg.get(&vg).unwrap());
            assert!(
                rel_diff(a, b) < TOL,
                "{arch} gradient of {name}: {}",
                rel_diff(a, b)
            );
        }
        for ((name, a), (_, b)) in cpu.named_vars().iter().zip(cuda.named_vars()) {
            if name.contains("running_") {
                let d = rel_diff(a.as_tensor(), b.as_tensor());
                assert!(d < TOL, "{arch} {name}: {d}");
            }
        }
    }
}
