//! Train-mode BatchNorm (Ioffe & Szegedy 2015), optionally followed by a
//! ReLU, as one candle op on the CPU.
//!
//! candle's `BatchNorm::forward_train` is a dozen tensor ops (transpose,
//! mean, subtract, square, mean, divide, scale, shift), each a pass over
//! the activations with a fresh buffer, and its backward twice that: most
//! of a small CNN's training step (perf). Here the forward is two passes
//! (statistics, then normalise-scale-shift-ReLU into the output) and the
//! backward two (per-channel sums, then the input gradient), with the
//! standard closed form
//! `dx = γ/σ · (g - mean(g) - x̂ · mean(g · x̂))`, `g = dy · [y > 0]` with
//! the ReLU, `dγ = Σ g · x̂`, `dβ = Σ g`.
//!
//! [`BnOut::ReluMaxPool`] also takes the 2x2 max-pool that follows a stage
//! of the small CNN: the full-size ReLU output is never written (the op
//! keeps which element of each window was the maximum, one byte per
//! window), and the backward builds each plane's gradient from the pooled
//! one in a plane-sized scratch buffer. That saves three passes over the
//! largest activations forward and four backward, and gives the bits of
//! the two ops it replaces: the same float operations in the same order.

use crate::cpu::{slice, with_slice};
use crate::layers::{pooled_grad, window_max};
use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, Var,
    WithDType,
};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Per-channel batch statistics of one forward.
#[derive(Debug, Clone)]
struct Stats {
    mean: Vec<f64>,
    /// Biased (population) variance, as the normalisation uses.
    var: Vec<f64>,
    /// [`BnOut::ReluMaxPool`]: per pooled element, which of its window's
    /// elements (0..4 in the order (0,0), (0,1), (1,0), (1,1)) was the maximum.
    argmax: Option<Arc<Vec<u8>>>,
}

/// What follows the normalisation inside the op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BnOut {
    /// `γ x̂ + β`.
    Linear,
    /// `relu(γ x̂ + β)`.
    Relu,
    /// `max_pool_2x2(relu(γ x̂ + β))` (even sizes), the gradient routed to
    /// each window's first maximum as `layers::max_pool_2x2` routes it.
    ReluMaxPool,
}

#[derive(Debug, Clone)]
struct BnTrain {
    eps: f64,
    out: BnOut,
    /// Written by the forward, read by the caller (running statistics) and the backward.
    stats: Arc<Mutex<Option<Stats>>>,
}

/// `γ (x - μ_B) / sqrt(σ²_B + ε) + β` followed by `out`, over
/// `x [N, C, H, W]` (or `[N, C]` without the pool) with the batch's
/// per-channel mean and biased variance, and the running statistics
/// updated in place as PyTorch does: `r ← (1 - m) r + m s`, with the
/// unbiased variance for `r_var`.
///
/// CPU, contiguous f32 or f64 only (the callers fall back to candle's ops
/// elsewhere). Gradients flow to `x`, `gamma` and `beta`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
    momentum: f64,
    out: BnOut,
) -> Result<Tensor> {
    let c = x.dim(1)?;
    if out == BnOut::ReluMaxPool {
        let (_, _, h, w) = x.dims4()?;
        if h % 2 != 0 || w % 2 != 0 {
            candle_core::bail!("2x2 max-pool of an odd size {h}x{w}");
        }
    }
    let m = x.elem_count() / c.max(1);
    if m < 2 {
        candle_core::bail!("train-mode BatchNorm needs more than one value per channel, got {m}");
    }
    let stats = Arc::new(Mutex::new(None));
    let op = BnTrain {
        eps,
        out,
        stats: stats.clone(),
    };
    let y = x
        .contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let s = stats
        .lock()
        .map_err(|_| candle_core::Error::Msg("BatchNorm statistics lock poisoned".into()))?
        .clone()
        .ok_or_else(|| {
            candle_core::Error::Msg("internal: BatchNorm forward left no statistics".into())
        })?;
    let unbiased = m as f64 / (m as f64 - 1.0);
    let update = |running: &Tensor, batch: Vec<f64>| -> Result<()> {
        let batch = Tensor::from_vec(batch, c, x.device())?.to_dtype(running.dtype())?;
        let new = ((running.detach() * (1.0 - momentum))? + (batch * momentum)?)?;
        Var::from_tensor(running)?.set(&new)
    };
    update(running_mean, s.mean)?;
    update(running_var, s.var.iter().map(|v| v * unbiased).collect())?;
    Ok(y)
}

/// `(n, c, plane)`: images, channels and elements per channel per image.
fn geometry(dims: &[usize]) -> Result<(usize, usize, usize)> {
    if dims.len() < 2 {
        candle_core::bail!(
            "BatchNorm input of rank {}, expected at least 2",
            dims.len()
        );
    }
    Ok((dims[0], dims[1], dims[2..].iter().product()))
}

/// `(h, w)` of a plane: the last two dimensions of an `[N, C, H, W]`
/// input, `(1, plane)` otherwise.
fn plane_hw(dims: &[usize]) -> (usize, usize) {
    match dims {
        [_, _, h, w] => (*h, *w),
        _ => (1, dims[2..].iter().product()),
    }
}

/// Per-channel sums `(Σ f(x), ...)` over every image's plane, in f64,
/// channels in parallel.
fn per_channel<R: Send>(c: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    (0..c).into_par_iter().map(f).collect()
}

/// `(output, statistics)`; `hw` is the plane's size, needed by the pool.
fn forward<T: WithDType>(
    op: &BnTrain,
    x: &[T],
    gamma: &[T],
    beta: &[T],
    (n, c, plane): (usize, usize, usize),
    (h, w): (usize, usize),
) -> (Vec<T>, Stats) {
    let m = (n * plane) as f64;
    let planes = |ch: usize| (0..n).map(move |b| (b * c + ch) * plane);
    let moments = per_channel(c, |ch| {
        let sum: f64 = planes(ch).map(|st| lanes(&x[st..st + plane], |v| v)).sum();
        let mean = sum / m;
        let mt = T::from_f64(mean);
        let sq: f64 = planes(ch)
            .map(|st| lanes(&x[st..st + plane], |v| (v - mt) * (v - mt)))
            .sum();
        (mean, sq / m)
    });
    let mut stats = Stats {
        mean: moments.iter().map(|p| p.0).collect(),
        var: moments.iter().map(|p| p.1).collect(),
        argmax: None,
    };
    // y = a x + b per channel.
    let coef: Vec<(T, T)> = (0..c)
        .map(|ch| {
            let inv = 1.0 / (stats.var[ch] + op.eps).sqrt();
            let a = gamma[ch].to_f64() * inv;
            (
                T::from_f64(a),
                T::from_f64(beta[ch].to_f64() - a * stats.mean[ch]),
            )
        })
        .collect();
    let zero = T::zero();
    if op.out == BnOut::ReluMaxPool {
        let (oh, ow) = (h / 2, w / 2);
        let mut y = vec![zero; n * c * oh * ow];
        let mut argmax = vec![0u8; y.len()];
        y.par_chunks_mut(oh * ow)
            .zip(argmax.par_chunks_mut(oh * ow))
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(p, ((yp, ap), xp))| {
                let (a, b) = coef[p % c];
                let f = |v: T| {
                    let t = a * v + b;
                    if t > zero {
                        t
                    } else {
                        zero
                    }
                };
                for i in 0..oh {
                    let (r0, r1) = (&xp[2 * i * w..][..w], &xp[(2 * i + 1) * w..][..w]);
                    for j in 0..ow {
                        let v = [
                            f(r0[2 * j]),
                            f(r0[2 * j + 1]),
                            f(r1[2 * j]),
                            f(r1[2 * j + 1]),
                        ];
                        (yp[i * ow + j], ap[i * ow + j]) = window_max(v);
                    }
                }
            });
        stats.argmax = Some(Arc::new(argmax));
        return (y, stats);
    }
    let mut y = vec![zero; x.len()];
    y.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .for_each(|(i, (yp, xp))| {
            let (a, b) = coef[i % c];
            if op.out == BnOut::Relu {
                for (o, &v) in yp.iter_mut().zip(xp) {
                    let t = a * v + b;
                    *o = if t > zero { t } else { zero };
                }
            } else {
                for (o, &v) in yp.iter_mut().zip(xp) {
                    *o = a * v + b;
                }
            }
        });
    (y, stats)
}

/// `(dx, dγ, dβ)` from the saved statistics; `y` and `dy` are the op's
/// output and its gradient (pooled under [`BnOut::ReluMaxPool`]).
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn backward<T: WithDType>(
    op: &BnTrain,
    stats: &Stats,
    x: &[T],
    y: &[T],
    dy: &[T],
    gamma: &[T],
    (n, c, plane): (usize, usize, usize),
    (_, w): (usize, usize),
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let m = (n * plane) as f64;
    let inv: Vec<f64> = stats
        .var
        .iter()
        .map(|v| 1.0 / (v + op.eps).sqrt())
        .collect();
    let zero = T::zero();
    // Under the pool: plane p's masked gradient into `g` (None otherwise).
    let pooled = stats.argmax.as_deref().map(|a| (a, plane / 4));
    let plane_grad = |p: usize, g: &mut Vec<T>| -> Option<()> {
        let (argmax, q) = pooled?;
        g.resize(plane, zero);
        let r = p * q..(p + 1) * q;
        pooled_grad(&y[r.clone()], &dy[r.clone()], &argmax[r], w, g);
        Some(())
    };
    let relu = op.out == BnOut::Relu;
    // Σ g and Σ g (x - μ) per channel, g = dy masked by the ReLU's output.
    let sums = per_channel(c, |ch| {
        let mean = T::from_f64(stats.mean[ch]);
        let (mut sg, mut sgx) = (0.0, 0.0);
        let mut g = Vec::new();
        for b in 0..n {
            let p = b * c + ch;
            let r = p * plane..(p + 1) * plane;
            let (a, bb) = match plane_grad(p, &mut g) {
                // g is the masked gradient already: the sums of the
                // unmasked case are those of the masked one, term by term.
                Some(()) => masked_sums(false, &x[r.clone()], &x[r], &g, mean),
                None => masked_sums(relu, &x[r.clone()], &y[r.clone()], &dy[r], mean),
            };
            sg += a;
            sgx += bb;
        }
        (sg, sgx * inv[ch])
    });
    let dbeta: Vec<T> = sums.iter().map(|s| T::from_f64(s.0)).collect();
    let dgamma: Vec<T> = sums.iter().map(|s| T::from_f64(s.1)).collect();
    // dx = k (g - mean(g) - x̂ mean(g x̂)) = k g + u x + w per channel.
    let coef: Vec<(T, T, T)> = (0..c)
        .map(|ch| {
            let k = gamma[ch].to_f64() * inv[ch];
            let (mg, mgx) = (sums[ch].0 / m, sums[ch].1 / m);
            let u = -k * mgx * inv[ch];
            let w = -k * mg - u * stats.mean[ch];
            (T::from_f64(k), T::from_f64(u), T::from_f64(w))
        })
        .collect();
    let mut dx = vec![zero; x.len()];
    dx.par_chunks_mut(plane)
        .enumerate()
        .for_each_init(Vec::new, |g, (p, dxp)| {
            let (k, u, w) = coef[p % c];
            let r = p * plane..(p + 1) * plane;
            let xs = &x[r.clone()];
            if plane_grad(p, g).is_some() {
                for ((o, &xv), &gv) in dxp.iter_mut().zip(xs).zip(g.iter()) {
                    *o = k * gv + u * xv + w;
                }
            } else if relu {
                let (ys, ds) = (&y[r.clone()], &dy[r]);
                for (((o, &xv), &yv), &dv) in dxp.iter_mut().zip(xs).zip(ys).zip(ds) {
                    let g = if yv > zero { dv } else { zero };
                    *o = k * g + u * xv + w;
                }
            } else {
                for ((o, &xv), &dv) in dxp.iter_mut().zip(xs).zip(&dy[r]) {
                    *o = k * dv + u * xv + w;
                }
            }
        });
    (dx, dgamma, dbeta)
}

/// `Σ f(v)` over a plane: sixteen accumulators in `T` (one AVX-512
/// register of f32; a single running sum is one long dependency chain that
/// does not vectorise), then in f64. A plane is at most a few thousand
/// values, so the `T` partial sums lose nothing that matters.
fn lanes<T: WithDType>(s: &[T], f: impl Fn(T) -> T) -> f64 {
    let mut acc = [T::zero(); 16];
    let chunks = s.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += f(v);
        }
    }
    acc.iter().map(|v| v.to_f64()).sum::<f64>() + rest.iter().map(|&v| f(v).to_f64()).sum::<f64>()
}

/// `(Σ g, Σ g (x - mean))` over a plane with `g = dy`, zeroed where the
/// ReLU output `y` is not positive when `relu`; accumulated as [`lanes`].
fn masked_sums<T: WithDType>(relu: bool, x: &[T], y: &[T], dy: &[T], mean: T) -> (f64, f64) {
    let zero = T::zero();
    let (mut sg, mut sgx) = ([zero; 16], [zero; 16]);
    let n16 = x.len() / 16 * 16;
    let (x16, y16, d16) = (&x[..n16], &y[..n16], &dy[..n16]);
    for ((xc, yc), dc) in x16
        .chunks_exact(16)
        .zip(y16.chunks_exact(16))
        .zip(d16.chunks_exact(16))
    {
        for j in 0..16 {
            let g = if !relu || yc[j] > zero { dc[j] } else { zero };
            sg[j] += g;
            sgx[j] += g * (xc[j] - mean);
        }
    }
    let (mut a, mut b) = (
        sg.iter().map(|v| v.to_f64()).sum::<f64>(),
        sgx.iter().map(|v| v.to_f64()).sum::<f64>(),
    );
    for i in n16..x.len() {
        let g = if !relu || y[i] > zero { dy[i] } else { zero };
        a += g.to_f64();
        b += (g * (x[i] - mean)).to_f64();
    }
    (a, b)
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "sc-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let geom = geometry(l1.dims())?;
        if l2.dims() != [geom.1] || l3.dims() != [geom.1] {
            candle_core::bail!(
                "sc-batch-norm: γ {:?} and β {:?} for {} channels",
                l2.dims(),
                l3.dims(),
                geom.1
            );
        }
        fn run<T: WithDType>(
            op: &BnTrain,
            (s1, l1): (&CpuStorage, &Layout),
            (s2, l2): (&CpuStorage, &Layout),
            (s3, l3): (&CpuStorage, &Layout),
            geom: (usize, usize, usize),
            hw: (usize, usize),
        ) -> Result<(CpuStorage, Stats)> {
            let (x, g, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
            let (y, stats) = forward::<T>(op, x, g, b, geom, hw);
            Ok((T::to_cpu_storage_owned(y), stats))
        }
        let hw = plane_hw(l1.dims());
        let (out, stats) = match s1.dtype() {
            DType::F32 => run::<f32>(self, (s1, l1), (s2, l2), (s3, l3), geom, hw)?,
            DType::F64 => run::<f64>(self, (s1, l1), (s2, l2), (s3, l3), geom, hw)?,
            dt => candle_core::bail!("sc-batch-norm: f32 or f64 only, got {dt:?}"),
        };
        *self
            .stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("BatchNorm statistics lock poisoned".into()))? =
            Some(stats);
        let shape = match self.out {
            BnOut::ReluMaxPool => Shape::from((geom.0, geom.1, hw.0 / 2, hw.1 / 2)),
            _ => l1.shape().clone(),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let stats = self
            .stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("BatchNorm statistics lock poisoned".into()))?
            .clone()
            .ok_or_else(|| {
                candle_core::Error::Msg("internal: BatchNorm backward before forward".into())
            })?;
        let geom = geometry(x.dims())?;
        let grad = grad.contiguous()?;
        fn run<T: WithDType>(
            op: &BnTrain,
            stats: &Stats,
            x: &Tensor,
            res: &Tensor,
            grad: &Tensor,
            gamma: &Tensor,
            geom: (usize, usize, usize),
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let hw = plane_hw(x.dims());
            let (dx, dg, db) = with_slice::<T, _>(x, |x| {
                with_slice::<T, _>(res, |y| {
                    with_slice::<T, _>(grad, |dy| {
                        with_slice::<T, _>(gamma, |g| backward(op, stats, x, y, dy, g, geom, hw))
                    })
                })
            })????;
            let (dev, c) = (x.device(), geom.1);
            Ok((
                Tensor::from_vec(dx, x.shape(), dev)?,
                Tensor::from_vec(dg, c, dev)?,
                Tensor::from_vec(db, c, dev)?,
            ))
        }
        let (dx, dg, db) = match x.dtype() {
            DType::F32 => run::<f32>(self, &stats, x, res, &grad, gamma, geom)?,
            DType::F64 => run::<f64>(self, &stats, x, res, &grad, gamma, geom)?,
            dt => candle_core::bail!("sc-batch-norm: f32 or f64 only, got {dt:?}"),
        };
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::tensor_values;
    use candle_core::{Device, D};

    /// candle's own ops: the reference.
    fn reference(x: &Tensor, gamma: &Tensor, beta: &Tensor, relu: bool) -> Tensor {
        let c = x.dim(1).unwrap();
        let mean = x
            .mean_keepdim(0)
            .unwrap()
            .mean_keepdim(2)
            .unwrap()
            .mean_keepdim(3)
            .unwrap();
        let xc = x.broadcast_sub(&mean).unwrap();
        let var = xc
            .sqr()
            .unwrap()
            .mean_keepdim(0)
            .unwrap()
            .mean_keepdim(2)
            .unwrap()
            .mean_keepdim(3)
            .unwrap();
        let xhat = xc
            .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
            .unwrap();
        let y = xhat
            .broadcast_mul(&gamma.reshape((1, c, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&beta.reshape((1, c, 1, 1)).unwrap())
            .unwrap();
        if relu {
            y.relu().unwrap()
        } else {
            y
        }
    }

    fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
        let a = a
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let b = b
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
        a.iter()
            .zip(&b)
            .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    #[test]
    fn forward_gradients_and_running_stats_equal_candles_ops() {
        let dev = Device::Cpu;
        for (relu, dtype, tol) in [
            (false, DType::F64, 1e-10),
            (true, DType::F64, 1e-10),
            (true, DType::F32, 1e-4),
        ] {
            let x = (Tensor::randn(0f64, 2.0, (5, 3, 4, 6), &dev).unwrap() + 0.7)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let gamma = Var::from_tensor(
                &Tensor::new(&[1.5f64, -0.5, 0.8], &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
            let beta = Var::from_tensor(
                &Tensor::new(&[0.1f64, 0.3, -0.2], &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap(),
            )
            .unwrap();
            let xv = Var::from_tensor(&x).unwrap();
            let rm = Var::from_tensor(&Tensor::zeros(3, dtype, &dev).unwrap()).unwrap();
            let rv = Var::from_tensor(&Tensor::ones(3, dtype, &dev).unwrap()).unwrap();
            let ours = batch_norm_train(
                xv.as_tensor(),
                gamma.as_tensor(),
                beta.as_tensor(),
                rm.as_tensor(),
                rv.as_tensor(),
                1e-5,
                0.1,
                if relu { BnOut::Relu } else { BnOut::Linear },
            )
            .unwrap();
            let theirs = reference(xv.as_tensor(), gamma.as_tensor(), beta.as_tensor(), relu);
            assert!(
                max_rel(&ours, &theirs) < tol,
                "forward relu={relu} {dtype:?}"
            );
            // A loss that weights every output differently.
            let wts = Tensor::randn(0f64, 1.0, ours.dims(), &dev)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let g1 = (&ours * &wts)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let g2 = (&theirs * &wts)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, v) in [("x", &xv), ("gamma", &gamma), ("beta", &beta)] {
                let (a, b) = (
                    g1.get(v.as_tensor()).unwrap(),
                    g2.get(v.as_tensor()).unwrap(),
                );
                assert!(
                    max_rel(a, b) < tol,
                    "d{name} relu={relu} {dtype:?}: {}",
                    max_rel(a, b)
                );
            }
            // Running statistics: momentum 0.1 towards the batch mean and unbiased variance.
            let xs = x
                .to_dtype(DType::F64)
                .unwrap()
                .transpose(0, 1)
                .unwrap()
                .flatten_from(1)
                .unwrap();
            let mean = xs.mean(D::Minus1).unwrap();
            let var = xs
                .broadcast_sub(&mean.unsqueeze(1).unwrap())
                .unwrap()
                .sqr()
                .unwrap()
                .sum(D::Minus1)
                .unwrap()
                / (xs.dim(1).unwrap() as f64 - 1.0);
            let expect_m = (mean * 0.1).unwrap();
            let expect_v = ((var.unwrap() * 0.1).unwrap() + 0.9).unwrap();
            assert!(max_rel(rm.as_tensor(), &expect_m) < tol);
            assert!(max_rel(rv.as_tensor(), &expect_v) < tol);
        }
    }

    /// The fused pool gives the bits of BatchNorm+ReLU followed by
    /// `max_pool_2x2`: output, running statistics and the gradients of x,
    /// γ and β, in f32 and f64, with tied windows (repeated values, and a
    /// channel whose ReLU output is all zero).
    #[test]
    fn fused_max_pool_gives_the_bits_of_the_separate_ops() {
        use crate::conv::ConvImpl;
        let dev = Device::Cpu;
        for dtype in [DType::F32, DType::F64] {
            // Rounded to quarters: many equal values within windows.
            let x = (Tensor::randn(0f64, 2.0, (6, 3, 6, 8), &dev).unwrap() * 4.0)
                .unwrap()
                .round()
                .unwrap()
                .affine(0.25, 0.0)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            let run = |fused: bool| {
                let var = |v: &[f64]| {
                    Var::from_tensor(&Tensor::new(v, &dev).unwrap().to_dtype(dtype).unwrap())
                        .unwrap()
                };
                // The third channel's β puts every value below zero.
                let (gamma, beta) = (var(&[1.5, -0.5, 0.8]), var(&[0.1, 0.3, -9.0]));
                let (rm, rv) = (var(&[0.0; 3]), var(&[1.0; 3]));
                let xv = Var::from_tensor(&x).unwrap();
                let bn = |out| {
                    batch_norm_train(
                        xv.as_tensor(),
                        gamma.as_tensor(),
                        beta.as_tensor(),
                        rm.as_tensor(),
                        rv.as_tensor(),
                        1e-5,
                        0.1,
                        out,
                    )
                    .unwrap()
                };
                let y = if fused {
                    bn(BnOut::ReluMaxPool)
                } else {
                    crate::layers::max_pool_2x2(&bn(BnOut::Relu), ConvImpl::Fast).unwrap()
                };
                let wts = Tensor::arange(0u32, y.elem_count() as u32, &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap()
                    .affine(0.37, -3.0)
                    .unwrap()
                    .sin()
                    .unwrap()
                    .reshape(y.dims())
                    .unwrap();
                let grads = (&y * &wts).unwrap().sum_all().unwrap().backward().unwrap();
                let mut out = vec![
                    tensor_values(&y),
                    tensor_values(rm.as_tensor()),
                    tensor_values(rv.as_tensor()),
                ];
                for v in [&xv, &gamma, &beta] {
                    out.push(tensor_values(grads.get(v.as_tensor()).unwrap()));
                }
                out
            };
            let (fused, separate) = (run(true), run(false));
            for (i, what) in ["output", "running mean", "running var", "dx", "dγ", "dβ"]
                .iter()
                .enumerate()
            {
                assert_eq!(fused[i], separate[i], "{what} {dtype:?}");
            }
            assert_eq!(fused[0].len(), 6 * 3 * 3 * 4);
            assert!(fused[3].iter().any(|v| *v != 0.0));
        }
    }

    #[test]
    fn one_value_per_channel_is_an_error() {
        let dev = Device::Cpu;
        let x = Tensor::ones((1, 2, 1, 1), DType::F32, &dev).unwrap();
        let p = Tensor::ones(2, DType::F32, &dev).unwrap();
        let err = batch_norm_train(&x, &p, &p, &p, &p, 1e-5, 0.1, BnOut::Linear).unwrap_err();
        assert!(err.to_string().contains("more than one value"));
        let x = Tensor::ones((2, 2, 3, 4), DType::F32, &dev).unwrap();
        let err = batch_norm_train(&x, &p, &p, &p, &p, 1e-5, 0.1, BnOut::ReluMaxPool).unwrap_err();
        assert!(err.to_string().contains("odd size 3x4"), "{err}");
    }
}
