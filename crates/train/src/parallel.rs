//! Data-parallel training: one process per device, each computing the loss
//! and gradient of its shard of every global batch; the gradients are
//! summed across processes by a [`Collective`] (NCCL's all-reduce on GPUs)
//! before the optimiser step, so every process takes the same step from the
//! same weights (the scheme of PyTorch's DistributedDataParallel; Goyal et
//! al. 2017, "Accurate, Large Minibatch SGD", Sec. 3).
//!
//! Every process reads the same global batches in the same order (the order
//! is a function of the seed and the epoch), draws the step's crop/flip and
//! photometric augmentation for the whole global batch from the same
//! streams and keeps its rows: the images each process sees are exactly the
//! ones a single process would see in that part of the batch. Its loss is
//! the mean over its `n_r` images, so the gradient of the global mean is
//! `Σ_r (n_r / n) g_r`: each process scales its gradient by `n_r / n`
//! before the sum (exactly 1 with one process, so a world of one takes
//! bit-identical steps to plain training).
//!
//! What differs from one device with the same global batch, beyond float
//! noise: BatchNorm normalises each shard with its own batch statistics (no
//! synchronised BatchNorm, as DDP by default) and updates each process's
//! running statistics from its shard (process 0's are saved); the PGD
//! starts of the adversarial regimes are drawn per process.

use crate::{Error, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

/// The processes of a data-parallel run, seen from one of them.
pub trait Collective {
    /// This process's rank, `0..world()`; rank 0 writes the run directory.
    fn rank(&self) -> usize;
    /// Number of processes.
    fn world(&self) -> usize;
    /// The element-wise sum of `t` over all processes (each passes a tensor
    /// of the same shape and dtype, on its own device), on every process.
    fn all_reduce_sum(&self, t: &Tensor) -> candle_core::Result<Tensor>;
}

/// Rows `start..start + len` of a global batch of `n` images that process
/// `rank` of `world` computes: contiguous, in rank order, covering the batch
/// once, sizes differing by at most one (the first `n % world` ranks take
/// one more, as `numpy.array_split`).
pub fn shard(n: usize, rank: usize, world: usize) -> (usize, usize) {
    let (base, extra) = (n / world, n % world);
    let len = base + usize::from(rank < extra);
    let start = rank * base + rank.min(extra);
    (start, len)
}

/// Replaces the gradient of each of `vars` in `grads` by the sum over the
/// processes of `weight * gradient` (`weight` = this process's share of
/// the global batch). One all-reduce of all gradients flattened into one
/// buffer, in the order of `vars` (every process has the same variables
/// and the same graph, so the same gradients exist everywhere).
pub(crate) fn reduce_gradients(
    collective: &dyn Collective,
    grads: &mut GradStore,
    vars: &[Var],
    weight: f64,
) -> Result<()> {
    let present: Vec<(&Var, Tensor)> = vars
        .iter()
        .filter_map(|v| grads.get(v).map(|g| (v, g.clone())))
        .collect();
    if present.is_empty() {
        return Ok(());
    }
    let flat = present
        .iter()
        .map(|(_, g)| g.flatten_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    let mut buffer = Tensor::cat(&flat, 0)?;
    if weight != 1.0 {
        buffer = buffer.affine(weight, 0.0)?;
    }
    let summed = collective.all_reduce_sum(&buffer)?;
    if summed.dims() != buffer.dims() {
        return Err(Error::Config(format!(
            "internal: all-reduce returned {:?} for a gradient buffer of {:?}",
            summed.dims(),
            buffer.dims()
        )));
    }
    let mut offset = 0;
    for (var, g) in present {
        let n = g.elem_count();
        let reduced = summed.narrow(0, offset, n)?.reshape(g.dims())?;
        grads.insert(var.as_tensor(), reduced);
        offset += n;
    }
    Ok(())
}

/// Sums `values` (per-process statistics: weighted losses, counts) over
/// the processes, in f64 on `device`.
pub(crate) fn reduce_values(
    collective: &dyn Collective,
    values: &[f64],
    device: &candle_core::Device,
) -> Result<Vec<f64>> {
    let t = Tensor::from_slice(values, values.len(), device)?;
    let summed = collective.all_reduce_sum(&t)?;
    Ok(summed.to_dtype(DType::F64)?.to_vec1::<f64>()?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Device;
    use std::sync::{Arc, Barrier, Mutex};

    /// A world of processes as threads: an all-reduce deposits each
    /// rank's tensor, waits for all, sums them in rank order (a naive
    /// reference for NCCL's sum).
    pub(crate) struct Threads {
        rank: usize,
        world: usize,
        slots: Arc<Mutex<Vec<Option<Vec<f64>>>>>,
        barrier: Arc<Barrier>,
    }

    impl Threads {
        pub(crate) fn world(world: usize) -> Vec<Threads> {
            let slots = Arc::new(Mutex::new(vec![None; world]));
            let barrier = Arc::new(Barrier::new(world));
            (0..world)
                .map(|rank| Threads {
                    rank,
                    world,
                    slots: slots.clone(),
                    barrier: barrier.clone(),
                })
                .collect()
        }
    }

    impl Collective for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn world(&self) -> usize {
            self.world
        }
        fn all_reduce_sum(&self, t: &Tensor) -> candle_core::Result<Tensor> {
            let mine = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
            self.slots.lock().unwrap()[self.rank] = Some(mine);
            self.barrier.wait();
            let sum = {
                let slots = self.slots.lock().unwrap();
                let mut sum = vec![0.0; t.elem_count()];
                for s in slots.iter() {
                    for (a, b) in sum.iter_mut().zip(s.as_ref().unwrap()) {
                        *a += b;
                    }
                }
                sum
            };
            self.barrier.wait();
            Tensor::from_vec(sum, t.dims(), t.device())?.to_dtype(t.dtype())
        }
    }

    #[test]
    fn shards_cover_the_batch_once_in_order() {
        for n in 1..40 {
            for world in 1..9 {
                let mut next = 0;
                for rank in 0..world {
                    let (start, len) = shard(n, rank, world);
                    assert_eq!(start, next, "n={n} world={world} rank={rank}");
                    assert!(len == n / world || len == n / world + 1);
                    next = start + len;
                }
                assert_eq!(next, n, "n={n} world={world}");
            }
        }
        assert_eq!(shard(10, 0, 3), (0, 4));
        assert_eq!(shard(10, 2, 3), (7, 3));
    }

    /// Two processes with shards of 3 and 1 images: each gradient becomes
    /// `(3 g0 + 1 g1) / 4` on both, and a gradient-less variable stays so.
    #[test]
    fn gradients_become_the_weighted_sum_on_every_process() {
        let dev = Device::Cpu;
        let v = [
            Var::from_tensor(&Tensor::zeros((2, 3), DType::F64, &dev).unwrap()).unwrap(),
            Var::from_tensor(&Tensor::zeros(4, DType::F64, &dev).unwrap()).unwrap(),
            Var::from_tensor(&Tensor::zeros(1, DType::F64, &dev).unwrap()).unwrap(),
        ];
        let grad = |rank: usize, k: usize| -> Vec<f64> {
            (0..[6, 4][k])
                .map(|i| (rank * 10 + i) as f64 + 0.5)
                .collect()
        };
        let results: Vec<Vec<Vec<f64>>> = std::thread::scope(|s| {
            let handles: Vec<_> = Threads::world(2)
                .into_iter()
                .map(|c| {
                    let v = v.clone();
                    s.spawn(move || {
                        // Gradients from a graph: d/dv <v, g> = g.
                        let r = c.rank();
                        let g0 = Tensor::from_vec(grad(r, 0), (2, 3), &Device::Cpu).unwrap();
                        let g1 = Tensor::from_vec(grad(r, 1), 4, &Device::Cpu).unwrap();
                        let loss = ((v[0].as_tensor() * &g0).unwrap().sum_all().unwrap()
                            + (v[1].as_tensor() * &g1).unwrap().sum_all().unwrap())
                        .unwrap();
                        let mut grads = loss.backward().unwrap();
                        let weight = [0.75, 0.25][r];
                        reduce_gradients(&c, &mut grads, &v, weight).unwrap();
                        assert!(grads.get(&v[2]).is_none());
                        (0..2)
                            .map(|k| {
                                grads
                                    .get(&v[k])
                                    .unwrap()
                                    .flatten_all()
                                    .unwrap()
                                    .to_vec1::<f64>()
                                    .unwrap()
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for k in 0..2 {
            let want: Vec<f64> = grad(0, k)
                .iter()
                .zip(grad(1, k))
                .map(|(a, b)| 0.75 * a + 0.25 * b)
                .collect();
            for (rank, got) in results.iter().enumerate() {
                for (g, w) in got[k].iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-12 * w.abs(),
                        "rank {rank} var {k}: {g} vs {w}"
                    );
                }
            }
        }
    }
}
