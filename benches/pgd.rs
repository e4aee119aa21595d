//! PGD, the kernel of adversarial training and robustness evaluation: one
//! step (forward + input gradient + projection) and a full PGD-10 (8/255,
//! 2/255) on `small-cnn` and `resnet18` (32x32), in images per second.
//!
//! Batch 128 as in the issue for small-cnn; resnet18 uses batch 16 unless
//! `SEMCON_BENCH_FULL=1` (a batch-128 PGD-10 of resnet18 takes minutes per
//! sample on two cores, and criterion takes at least ten samples).

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sc_attack::{Attack, Pgd, PgdConfig, ThreatModel};
use sc_core::Seed;
use sc_models::{Arch, Model};

fn pgd(c: &mut Criterion) {
    let dev = Device::Cpu;
    let full = std::env::var("SEMCON_BENCH_FULL").is_ok_and(|v| v == "1");
    let mut g = c.benchmark_group("pgd");
    g.sample_size(10);
    for (arch, batch) in [
        (Arch::SmallCnn, 128usize),
        (Arch::ResNet18, if full { 128 } else { 16 }),
    ] {
        let model =
            Model::new(arch, 10, [3, 32, 32], None, Seed(0), DType::F32, &dev).expect("model");
        let x = Tensor::rand(0f32, 1f32, (batch, 3, 32, 32), &dev).expect("images");
        let y = Tensor::from_vec(
            (0..batch as u32).map(|i| i % 10).collect::<Vec<_>>(),
            batch,
            &dev,
        )
        .expect("labels");
        let threat = ThreatModel::linf(8.0 / 255.0).expect("threat");
        g.throughput(Throughput::Elements(batch as u64));
        let one = Pgd::new(PgdConfig {
            random_start: false,
            ..PgdConfig::new(threat, 2.0 / 255.0, 1)
        })
        .expect("pgd-1");
        g.bench_with_input(
            BenchmarkId::new(format!("{arch} one step"), batch),
            &batch,
            |b, _| {
                b.iter(|| {
                    one.perturb(&model, &x, &y, &mut Seed(1).stream("bench"))
                        .expect("step")
                })
            },
        );
        let ten = Pgd::paper_cifar();
        g.bench_with_input(
            BenchmarkId::new(format!("{arch} PGD-10"), batch),
            &batch,
            |b, _| {
                b.iter(|| {
                    ten.perturb(&model, &x, &y, &mut Seed(1).stream("bench"))
                        .expect("pgd")
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, pgd);
criterion_main!(benches);
