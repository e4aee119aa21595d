//! Quick timing of candle's conv2d vs `sc_models::conv` per layer shape
//! (forward, input gradient, weight gradient), as ratios measured in the
//! same run: `cargo run --release -p sc-models --example conv_layers [batch]`.

use candle_core::{Device, Result, Tensor};
use sc_models::conv;
use std::time::Instant;

/// As the sc-bench binary: mimalloc reuses freed buffers (glibc maps fresh
/// pages for each large one).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn time(reps: usize, mut f: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    f()?; // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f()?;
        drop(r);
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn main() -> Result<()> {
    let batch: usize = std::env::args().nth(1).map_or(128, |s| s.parse().unwrap());
    let dev = Device::Cpu;
    // (name, cin, cout, hw, k, stride, pad)
    let layers = [
        ("scnn.conv1", 3, 32, 32, 3, 1, 1),
        ("scnn.conv2", 32, 64, 16, 3, 1, 1),
        ("scnn.conv3", 64, 128, 8, 3, 1, 1),
        ("scnn.conv4", 128, 256, 4, 3, 1, 1),
        ("r18.l1", 64, 64, 32, 3, 1, 1),
        ("r18.l2.0.c1", 64, 128, 32, 3, 2, 1),
        ("r18.l2", 128, 128, 16, 3, 1, 1),
        ("r18.l2.ds", 64, 128, 32, 1, 2, 0),
        ("r18.l3", 256, 256, 8, 3, 1, 1),
        ("r18.l4", 512, 512, 4, 3, 1, 1),
        ("r18.l4.ds", 256, 512, 8, 1, 2, 0),
        ("1x1s1", 256, 64, 16, 1, 1, 0),
    ];
    println!(
        "{:<12} {:>8} | {:>8} {:>8} {:>5} | {:>8} {:>8} {:>5} | {:>8} {:>8} {:>5}   (ms, candle/fast)",
        "layer", "GFLOP", "fwd c", "fwd f", "x", "dx c", "dx f", "x", "dw c", "dw f", "x"
    );
    let only = std::env::args().nth(2);
    for (name, cin, cout, hw, k, s, p) in layers {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let x = Tensor::randn(0f32, 1., (batch, cin, hw, hw), &dev)?;
        let w = Tensor::randn(0f32, 0.1, (cout, cin, k, k), &dev)?;
        let y = x.conv2d(&w, p, s, 1, 1)?;
        let (_, _, oh, ow) = y.dims4()?;
        let dy = Tensor::randn(0f32, 1., y.dims(), &dev)?;
        let flops = 2.0 * (batch * cout * oh * ow * cin * k * k) as f64;
        let reps = 5;
        let fc = time(reps, || x.conv2d(&w, p, s, 1, 1))?;
        let ff = time(reps, || conv::conv2d(&x, &w, None, s, p))?;
        let out_pad = hw - ((oh - 1) * s + k - 2 * p);
        let dc = time(reps, || dy.conv_transpose2d(&w, p, out_pad, s, 1))?;
        let df = time(reps, || conv::conv2d_input_grad(&dy, &w, x.dims4()?, s, p))?;
        let wc = time(reps, || {
            x.transpose(0, 1)?
                .conv2d(&dy.transpose(0, 1)?, p, 1, s, 1)?
                .transpose(0, 1)
        })?;
        let wf = time(reps, || conv::conv2d_weight_grad(&x, &dy, (k, k), s, p))?;
        // correctness
        let e = |a: &Tensor, b: &Tensor| -> Result<f32> {
            let d = (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
            let m = b.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
            Ok(d / m)
        };
        let ey = e(&conv::conv2d(&x, &w, None, s, p)?, &y)?;
        let edx = e(
            &conv::conv2d_input_grad(&dy, &w, x.dims4()?, s, p)?,
            &dy.conv_transpose2d(&w, p, out_pad, s, 1)?,
        )?;
        let wref = x
            .transpose(0, 1)?
            .conv2d(&dy.transpose(0, 1)?, p, 1, s, 1)?
            .transpose(0, 1)?;
        let wref = wref.narrow(2, 0, k)?.narrow(3, 0, k)?;
        let edw = e(&conv::conv2d_weight_grad(&x, &dy, (k, k), s, p)?, &wref)?;
        println!(
            "{name:<12} {:>8.3} | {:>8.2} {:>8.2} {:>5.2} | {:>8.2} {:>8.2} {:>5.2} | {:>8.2} {:>8.2} {:>5.2}   err {ey:.1e} {edx:.1e} {edw:.1e}",
            flops / 1e9,
            fc * 1e3,
            ff * 1e3,
            fc / ff,
            dc * 1e3,
            df * 1e3,
            dc / df,
            wc * 1e3,
            wf * 1e3,
            wc / wf
        );
    }
    Ok(())
}
