//! Throughput of a training step (forward_train, cross-entropy, backward,
//! SGD update) and of an attack step (eval logits and input gradient) with
//! candle's convolutions and with `ConvImpl::Fast`, interleaved in one run
//! so that the ratio is meaningful on a shared machine:
//! `cargo run --release -p sc-models --example train_step [arch] [batch] [reps]`.

use candle_core::{DType, Device, Result, Tensor, Var};
use sc_core::{Classifier, Seed};
use sc_models::{Arch, ConvImpl, Model};
use std::time::Instant;

/// As the sc-bench binary: mimalloc reuses freed buffers (glibc maps fresh
/// pages for each large one).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let arch: Arch = args.next().map_or(Arch::SmallCnn, |a| a.parse().unwrap());
    let batch: usize = args.next().map_or(128, |s| s.parse().unwrap());
    let reps: usize = args.next().map_or(5, |s| s.parse().unwrap());
    let dev = Device::Cpu;
    let [h, w] = arch.default_input_size();
    let make = |imp| {
        Model::new(arch, 10, [3, h, w], None, Seed(0), DType::F32, &dev)
            .unwrap()
            .with_conv_impl(imp)
            .unwrap()
    };
    let models = [
        ("candle", make(ConvImpl::Candle)),
        ("fast", make(ConvImpl::Fast)),
    ];
    let x = Tensor::rand(0f32, 1f32, (batch, 3, h, w), &dev)?;
    let labels = Tensor::from_vec(
        (0..batch as u32).map(|i| i % 10).collect::<Vec<_>>(),
        batch,
        &dev,
    )?;
    let train_step = |m: &Model| -> Result<()> {
        if batch < 2 {
            return Ok(()); // training needs batch statistics
        }
        let logits = m.forward_train(&x).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let grads = loss.backward()?;
        for (_, v) in m.trainable_vars() {
            if let Some(g) = grads.get(&v) {
                v.set(&(v.as_tensor() - (g * 0.01)?)?)?;
            }
        }
        Ok(())
    };
    let attack_step = |m: &Model| -> Result<()> {
        let xv = Var::from_tensor(&x)?;
        let logits = m.logits(xv.as_tensor())?;
        let loss = candle_nn::loss::cross_entropy(&logits, &labels)?;
        let grads = loss.backward()?;
        grads.get(&xv).expect("input gradient");
        Ok(())
    };
    let mut best = [[f64::INFINITY; 2]; 2];
    let only = args.next();
    for rep in 0..=reps {
        for (i, (name, m)) in models.iter().enumerate() {
            if only.as_deref().is_some_and(|o| o != *name) {
                continue;
            }
            let t = Instant::now();
            train_step(m)?;
            let train = t.elapsed().as_secs_f64();
            let t = Instant::now();
            attack_step(m)?;
            let attack = t.elapsed().as_secs_f64();
            if rep > 0 {
                best[i][0] = best[i][0].min(train);
                best[i][1] = best[i][1].min(attack);
            }
        }
    }
    println!("{arch} batch {batch}, best of {reps} (img/s):");
    for (i, (name, _)) in models.iter().enumerate() {
        println!(
            "  {name:<7} train step {:8.1} img/s ({:7.1} ms)   attack step {:8.1} img/s ({:7.1} ms)",
            batch as f64 / best[i][0],
            best[i][0] * 1e3,
            batch as f64 / best[i][1],
            best[i][1] * 1e3
        );
    }
    println!(
        "  speed-up: train {:.2}x, attack {:.2}x",
        best[0][0] / best[1][0],
        best[0][1] / best[1][1]
    );
    Ok(())
}
