//! How fast the embedded `shapes` set is generated and batched.
//! The foundation issue's target: 10,000 images in under 2 s (release).

use candle_core::Device;
use criterion::{criterion_group, criterion_main, Criterion};
use sc_core::Seed;
use sc_data::shapes::ShapesConfig;
use sc_data::Order;

fn shapes(c: &mut Criterion) {
    let mut g = c.benchmark_group("shapes");
    g.sample_size(10);
    g.bench_function("generate 10k 32x32", |b| {
        b.iter(|| {
            ShapesConfig {
                train: 10_000,
                test: 0,
                ..ShapesConfig::default()
            }
            .generate()
            .expect("generate")
        })
    });
    let data = ShapesConfig {
        train: 10_000,
        test: 0,
        ..ShapesConfig::default()
    }
    .generate()
    .expect("generate");
    let train = data.train.expect("train split");
    g.bench_function("one shuffled epoch of batches (128)", |b| {
        b.iter(|| {
            let order = Order::Shuffled {
                seed: Seed(0),
                epoch: 0,
            };
            for batch in train
                .batches(128, order, false, &Device::Cpu)
                .expect("batches")
            {
                std::hint::black_box(batch.expect("batch"));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, shapes);
criterion_main!(benches);
