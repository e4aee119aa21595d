//! How a convolution's batch is split into chunks and spread over threads.

use super::geometry::Geom;
use super::CHUNK_BYTES;
use candle_core::WithDType;
use rayon::prelude::*;

/// Calls `f(i, chunk)` on the `size`-element chunks of `s`, in parallel when `par`.
pub(super) fn for_chunks<T: Send>(
    s: &mut [T],
    size: usize,
    par: bool,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    if par {
        s.par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        s.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c));
    }
}

/// How a chunk's kernels run: memory loops in parallel or not, and the
/// GEMM's own threads.
#[derive(Clone, Copy)]
pub(super) struct Exec {
    pub(super) par: bool,
    pub(super) gemm: gemm::Parallelism,
}

impl Exec {
    /// Sequential kernels, for chunks that themselves run in parallel.
    pub(super) const SEQ: Exec = Exec {
        par: false,
        gemm: gemm::Parallelism::None,
    };

    /// Every kernel on all threads, for chunks run one after another;
    /// sequential for a small conv (thread wake-ups would cost more).
    pub(super) fn inner(g: &Geom) -> Exec {
        match threads() {
            n if n > 1 && !g.is_small() => Exec {
                par: true,
                gemm: gemm::Parallelism::Rayon(n),
            },
            _ => Exec::SEQ,
        }
    }
}

/// candle's thread count (`RAYON_NUM_THREADS`, else the physical cores),
/// read once: candle's `get_num_threads` reads `/proc/cpuinfo` each call.
pub(super) fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| candle_core::utils::get_num_threads().max(1))
}

/// `v[..len]`, grown (zero-filled) if needed: reused scratch space.
pub(super) fn scratch<T: WithDType>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::zero());
    }
    &mut v[..len]
}

impl Geom {
    /// Images per chunk for a column-matrix budget of `bytes`.
    pub(super) fn chunk<T>(&self, bytes: usize) -> usize {
        let per_image = self.k() * self.p() * std::mem::size_of::<T>();
        (bytes / per_image.max(1)).clamp(1, self.n.max(1))
    }

    /// Runs `f(n0, block, scratch, exec)` over the chunks of the batch,
    /// `block` being a chunk's `per_image`-element slices of `dst`. With
    /// enough images for every thread the chunks run in parallel, each on
    /// one thread (measured faster than chunks one after another with
    /// parallel kernels: no synchronisation, buffers in each core's
    /// cache). Each output element is computed by the same operations
    /// either way, so results do not depend on the thread count.
    pub(super) fn for_each_chunk<T: WithDType>(
        &self,
        dst: &mut [T],
        per_image: usize,
        f: impl Fn(usize, &mut [T], &mut Vec<T>, Exec) + Sync + Send,
    ) {
        let t = threads();
        if t > 1 && self.n >= 2 * t && !self.is_small() {
            let nb = self.chunk::<T>(CHUNK_BYTES / t).min(self.n.div_ceil(t));
            dst.par_chunks_mut(nb * per_image)
                .enumerate()
                .for_each_init(Vec::new, |buf, (i, block)| f(i * nb, block, buf, Exec::SEQ));
        } else {
            let nb = self.chunk::<T>(CHUNK_BYTES);
            let mut buf = Vec::new();
            for (i, block) in dst.chunks_mut(nb * per_image).enumerate() {
                f(i * nb, block, &mut buf, Exec::inner(self));
            }
        }
    }
}
