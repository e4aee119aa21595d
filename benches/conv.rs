//! The convolutions of the models on the CPU: candle's `conv2d` and its
//! backward ops (`conv_transpose2d` for the input gradient, a conv2d of the
//! transposed input for the weight gradient) against `sc_models::conv`
//! (im2col + GEMM), per layer shape of small-cnn (batch 128) and
//! ResNet18-32 (batch 32), f32. Throughput is in FLOP/s (2·N·O·OH·OW·C·K²
//! per pass), shown by criterion as "elem/s".
//!
//! `cargo bench --bench conv [-- FILTER]`, e.g. `-- small-cnn` or `-- fast`.

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sc_models::conv;
use std::time::Duration;

/// As the sc-bench binary (candle allocates a buffer per op).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A conv layer: name, input channels, output channels, input size,
/// kernel, stride, padding.
type Layer = (&'static str, usize, usize, usize, usize, usize, usize);

const SMALL_CNN: [Layer; 4] = [
    ("conv1", 3, 32, 32, 3, 1, 1),
    ("conv2", 32, 64, 16, 3, 1, 1),
    ("conv3", 64, 128, 8, 3, 1, 1),
    ("conv4", 128, 256, 4, 3, 1, 1),
];

const RESNET18: [Layer; 11] = [
    ("conv1", 3, 64, 32, 3, 1, 1),
    ("layer1", 64, 64, 32, 3, 1, 1),
    ("layer2.0.conv1", 64, 128, 32, 3, 2, 1),
    ("layer2.0.downsample", 64, 128, 32, 1, 2, 0),
    ("layer2", 128, 128, 16, 3, 1, 1),
    ("layer3.0.conv1", 128, 256, 16, 3, 2, 1),
    ("layer3.0.downsample", 128, 256, 16, 1, 2, 0),
    ("layer3", 256, 256, 8, 3, 1, 1),
    ("layer4.0.conv1", 256, 512, 8, 3, 2, 1),
    ("layer4.0.downsample", 256, 512, 8, 1, 2, 0),
    ("layer4", 512, 512, 4, 3, 1, 1),
];

fn layers(c: &mut Criterion, model: &str, batch: usize, layers: &[Layer]) {
    let dev = Device::Cpu;
    for &(name, cin, cout, hw, k, s, p) in layers {
        let x = Tensor::randn(0f32, 1., (batch, cin, hw, hw), &dev).expect("x");
        let w = Tensor::randn(0f32, 0.1, (cout, cin, k, k), &dev).expect("w");
        let y = x.conv2d(&w, p, s, 1, 1).expect("conv");
        let (_, _, oh, ow) = y.dims4().expect("dims");
        let dy = Tensor::randn(0f32, 1., y.dims(), &dev).expect("dy");
        // candle's backward: the output padding its conv_transpose2d needs
        // to give the input size back.
        let out_pad = hw - ((oh - 1) * s + k - 2 * p);
        let flops = 2 * batch * cout * oh * ow * cin * k * k;
        let mut g = c.benchmark_group(format!("conv/{model} b{batch}/{name}"));
        g.throughput(Throughput::Elements(flops as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        g.bench_function("forward candle", |b| {
            b.iter(|| x.conv2d(&w, p, s, 1, 1).expect("conv"))
        });
        g.bench_function("forward fast", |b| {
            b.iter(|| conv::conv2d(&x, &w, None, s, p).expect("conv"))
        });
        g.bench_function("input-grad candle", |b| {
            b.iter(|| dy.conv_transpose2d(&w, p, out_pad, s, 1).expect("dx"))
        });
        g.bench_function("input-grad fast", |b| {
            b.iter(|| conv::conv2d_input_grad(&dy, &w, (batch, cin, hw, hw), s, p).expect("dx"))
        });
        g.bench_function("weight-grad candle", |b| {
            b.iter(|| {
                x.transpose(0, 1)
                    .and_then(|xt| xt.conv2d(&dy.transpose(0, 1)?, p, 1, s, 1))
                    .and_then(|gw| gw.transpose(0, 1))
                    .expect("dw")
            })
        });
        g.bench_function("weight-grad fast", |b| {
            b.iter(|| conv::conv2d_weight_grad(&x, &dy, (k, k), s, p).expect("dw"))
        });
        g.finish();
    }
}

fn small_cnn(c: &mut Criterion) {
    layers(c, "small-cnn", 128, &SMALL_CNN);
}

fn resnet18(c: &mut Criterion) {
    layers(c, "resnet18", 32, &RESNET18);
}

criterion_group!(benches, small_cnn, resnet18);
criterion_main!(benches);
