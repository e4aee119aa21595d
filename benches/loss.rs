//! The continuity loss kernels: DS and its gradient, CE + alpha*DS with its
//! gradient (batch 128; 10, 100 and 1000 classes), and the photometric
//! perturbations on a 128x3x32x32 batch.

use candle_core::{Device, Tensor, Var};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sc_core::{Level, Seed};
use sc_loss::{ds_mean, ContinuityLoss, ContinuityTerm};
use sc_perturb::{Perturbation, PerturbationKind, RandomPhotometric};

const BATCH: usize = 128;

fn losses(c: &mut Criterion) {
    let dev = Device::Cpu;
    let mut g = c.benchmark_group("loss");
    g.throughput(Throughput::Elements(BATCH as u64));
    for classes in [10usize, 100, 1000] {
        let clean =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, (BATCH, classes), &dev).expect("randn"))
                .expect("var");
        let perturbed =
            Var::from_tensor(&Tensor::randn(0f32, 1.0, (BATCH, classes), &dev).expect("randn"))
                .expect("var");
        let labels = Tensor::from_vec(
            (0..BATCH as u32)
                .map(|i| i % classes as u32)
                .collect::<Vec<_>>(),
            BATCH,
            &dev,
        )
        .expect("labels");
        g.bench_with_input(BenchmarkId::new("ds+grad", classes), &classes, |b, _| {
            b.iter(|| {
                ds_mean(clean.as_tensor(), perturbed.as_tensor())
                    .expect("ds")
                    .backward()
                    .expect("backward")
            })
        });
        let loss = ContinuityLoss::new(1.0, ContinuityTerm::Ds).expect("alpha");
        g.bench_with_input(
            BenchmarkId::new("ce+alpha*ds+grad", classes),
            &classes,
            |b, _| {
                b.iter(|| {
                    loss.compute(clean.as_tensor(), perturbed.as_tensor(), &labels)
                        .expect("loss")
                        .total
                        .backward()
                        .expect("backward")
                })
            },
        );
    }
    g.finish();
}

fn photometric(c: &mut Criterion) {
    let x = Tensor::rand(0f32, 1f32, (BATCH, 3, 32, 32), &Device::Cpu).expect("rand");
    let mut g = c.benchmark_group("perturb 128x3x32x32");
    g.throughput(Throughput::Elements(BATCH as u64));
    let level = Level::new(2).expect("level");
    let mut rng = Seed(0).stream("bench");
    for kind in PerturbationKind::PHOTOMETRIC {
        let p = kind.at_level(level).expect("perturbation");
        g.bench_function(kind.name(), |b| {
            b.iter(|| p.apply(&x, &mut rng).expect("apply"))
        });
    }
    let random = RandomPhotometric::new(level);
    g.bench_function("random-photometric", |b| {
        b.iter(|| random.apply(&x, &mut rng).expect("apply"))
    });
    g.finish();
}

criterion_group!(benches, losses, photometric);
criterion_main!(benches);
