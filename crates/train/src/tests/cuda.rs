//! Training on CUDA against the CPU (feature `cuda`): the same
//! configuration, seed and data give the same per-step losses and
//! accuracies within float noise. `#[ignore]`d (listed as ignored by a plain
//! `cargo test`); `scripts/gpu-check.sh` runs it with `--include-ignored`
//! on a GPU host, where it fails if no GPU answers.
//!
//! Tolerance: 1e-3 relative on each step's loss (`|cpu - gpu| <= 1e-3 *
//! |cpu|`). The first loss compares the forward passes (same weights, same
//! augmented images), the later ones the optimiser steps in between; f32
//! sums in another order move each by ~1e-6 relative per layer, and a few
//! Adam steps at lr 3e-3 do not amplify that to 1e-3. A wrong kernel or a
//! skipped update is off by O(1).

use crate::{train, Observer, Regime, StepInfo, TrainConfig};
use candle_core::Device;

#[derive(Default)]
struct Losses(Vec<f64>);

impl Observer for Losses {
    fn step(&mut self, info: &StepInfo) {
        self.0.push(info.loss);
    }
}

#[test]
#[ignore = "needs a CUDA GPU (scripts/gpu-check.sh runs it)"]
fn cuda_training_steps_match_the_cpu() {
    let gpu = Device::new_cuda(0)
        .unwrap_or_else(|e| panic!("cuda_training_steps_match_the_cpu: needs a CUDA device ({e})"));
    for (regime, model) in [(Regime::C, "small-cnn"), (Regime::Base, "resnet18")] {
        let config = TrainConfig {
            data: "shapes:n=48,test=16,size=32,seed=2".into(),
            model: model.into(),
            regime,
            epochs: 1,
            batch_size: 16,
            eval_limit: 16,
            ..TrainConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let run = |dev: &Device, name: &str| {
            let mut losses = Losses::default();
            let report = train(&config, &dir.path().join(name), false, dev, &mut losses).unwrap();
            (report, losses.0)
        };
        let (cpu, lc) = run(&Device::Cpu, "cpu");
        let (cuda, lg) = run(&gpu, "cuda");
        assert_eq!(lc.len(), 3);
        assert_eq!(lc.len(), lg.len());
        for (i, (a, b)) in lc.iter().zip(&lg).enumerate() {
            assert!(
                (a - b).abs() <= 1e-3 * a.abs(),
                "{model} step {i}: cpu {a} vs cuda {b}"
            );
        }
        let (a, b) = (cpu.test_accuracy.unwrap(), cuda.test_accuracy.unwrap());
        // 16 test images: at most one may flip on a near-tie.
        assert!(
            (a - b).abs() <= 1.0 / 16.0 + 1e-12,
            "{model} test accuracy {a} vs {b}"
        );
    }
}
