//! The convolution and its helpers as candle custom ops, with backward
//! passes that compute only the gradients the graph needs.

use super::gemm::{forward, gradients};
use super::geometry::{col2im_chunk, im2col_chunk, Geom};
use super::{col2im, im2col};
use crate::cpu::{slice, with_slice};
use crate::layers::{pool_planes, pooled_grad};
use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
    WithDType,
};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// The convolution op; `CustomOp3` adds a bias.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv {
    pub(super) stride: usize,
    pub(super) padding: usize,
    /// A ReLU on the output (see [`conv2d_relu`]).
    pub(super) relu: bool,
}

impl Conv {
    fn geom(&self, x: &Layout, w: &Layout) -> Result<Geom> {
        Geom::new(
            x.shape().dims4()?,
            w.shape().dims4()?,
            self.stride,
            self.padding,
        )
    }

    fn fwd(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geom(x.1, w.1)?;
        if let Some((_, bl)) = b {
            if bl.dims() != [g.o] {
                bail!(
                    "sc-conv2d: bias of shape {:?}, expected [{}]",
                    bl.dims(),
                    g.o
                );
            }
        }
        let storage = match (x.0, w.0) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let bias = b.map(|(s, l)| slice::<f32>(s, l)).transpose()?;
                CpuStorage::F32(forward(
                    &g,
                    slice(x.0, x.1)?,
                    slice(w.0, w.1)?,
                    bias,
                    self.relu,
                ))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let bias = b.map(|(s, l)| slice::<f64>(s, l)).transpose()?;
                CpuStorage::F64(forward(
                    &g,
                    slice(x.0, x.1)?,
                    slice(w.0, w.1)?,
                    bias,
                    self.relu,
                ))
            }
            _ => bail!(
                "sc-conv2d: f32 or f64 of one dtype, got {:?} and {:?}",
                x.0.dtype(),
                w.0.dtype()
            ),
        };
        Ok((storage, Shape::from(g.out_dims())))
    }

    /// The output gradient before the ReLU: zero where the output is not positive.
    fn pre_relu_grad(&self, res: &Tensor, grad: &Tensor) -> Result<Tensor> {
        if !self.relu {
            return Ok(grad.clone());
        }
        fn masked<T: WithDType>(res: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let zero = T::zero();
            let v = with_slice::<T, _>(res, |y| {
                with_slice::<T, _>(grad, |g| {
                    let mut out = vec![zero; g.len()];
                    out.par_chunks_mut(1 << 14)
                        .zip(y.par_chunks(1 << 14).zip(g.par_chunks(1 << 14)))
                        .for_each(|(o, (y, g))| {
                            for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                                *o = if y > zero { g } else { zero };
                            }
                        });
                    out
                })
            })??;
            Tensor::from_vec(v, grad.dims(), grad.device())
        }
        let grad = grad.contiguous()?;
        match grad.dtype() {
            DType::F32 => masked::<f32>(res, &grad),
            DType::F64 => masked::<f64>(res, &grad),
            dt => bail!("sc-conv2d: f32 or f64 only, got {dt:?}"),
        }
    }

    fn bwd_xw(
        &self,
        x: &Tensor,
        w: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (need_dx, need_dw) = (x.track_op(), w.track_op());
        if !(need_dx || need_dw) {
            return Ok((None, None));
        }
        let g = Geom::new(x.dims4()?, w.dims4()?, self.stride, self.padding)?;
        // x and w are contiguous: `conv2d` made them so before the op.
        gradients(&g, Some(x), Some(w), &grad.contiguous()?, need_dx, need_dw)
    }
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "sc-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.fwd((s1, l1), (s2, l2), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        self.bwd_xw(x, w, &self.pre_relu_grad(res, grad)?)
    }
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        "sc-conv2d-bias"
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
        self.fwd((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = &self.pre_relu_grad(res, grad)?;
        let (dx, dw) = self.bwd_xw(x, w, grad)?;
        let db = if b.track_op() {
            Some(grad.sum(3)?.sum(2)?.sum(0)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}

/// [`scale_out_channels`] as an op.
pub(super) struct ScaleRows;

impl CustomOp2 for ScaleRows {
    fn name(&self) -> &'static str {
        "sc-scale-rows"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType>(w: &[T], s: &[T]) -> Vec<T> {
            let row = w.len() / s.len().max(1);
            let mut out = w.to_vec();
            for (r, &v) in out.chunks_mut(row.max(1)).zip(s) {
                r.iter_mut().for_each(|x| *x *= v);
            }
            out
        }
        if l1.dims().first() != Some(&l2.shape().elem_count()) {
            bail!(
                "scale_out_channels: weight {:?}, scale {:?}",
                l1.dims(),
                l2.dims()
            );
        }
        let out = match s1 {
            CpuStorage::F32(_) => CpuStorage::F32(run(slice(s1, l1)?, slice(s2, l2)?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(slice(s1, l1)?, slice(s2, l2)?)),
            _ => bail!("scale_out_channels: f32 or f64 only"),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        w: &Tensor,
        s: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let o = s.elem_count();
        let per_row = |t: &Tensor| t.reshape((o, w.elem_count() / o.max(1)));
        let dw = if w.track_op() {
            Some(
                per_row(grad)?
                    .broadcast_mul(&s.reshape((o, 1))?)?
                    .reshape(w.shape())?,
            )
        } else {
            None
        };
        let ds = if s.track_op() {
            Some((per_row(grad)? * per_row(w)?)?.sum(1)?.reshape(s.shape())?)
        } else {
            None
        };
        Ok((dw, ds))
    }
}

/// [`im2col`] as an op.
pub(super) struct Im2Col(pub(super) Geom);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "sc-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        fn run<T: WithDType>(g: &Geom, x: &[T]) -> Vec<T> {
            let mut cols = vec![T::zero(); g.k() * g.m()];
            im2col_chunk(g, x, 0, g.n, &mut cols, true);
            cols
        }
        let storage = match s {
            CpuStorage::F32(_) => CpuStorage::F32(run(g, slice(s, l)?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(g, slice(s, l)?)),
            _ => bail!("sc-im2col: f32 or f64 only"),
        };
        Ok((storage, Shape::from((g.k(), g.m()))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = &self.0;
        col2im(grad, (g.n, g.c, g.h, g.w), (g.kh, g.kw), g.stride, g.pad).map(Some)
    }
}

/// [`col2im`] as an op.
pub(super) struct Col2Im(pub(super) Geom);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "sc-col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        fn run<T: WithDType>(g: &Geom, cols: &[T]) -> Vec<T> {
            let mut dx = vec![T::zero(); g.n * g.c * g.h * g.w];
            col2im_chunk(g, cols, g.n, &mut dx, true);
            dx
        }
        let storage = match s {
            CpuStorage::F32(_) => CpuStorage::F32(run(g, slice(s, l)?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(g, slice(s, l)?)),
            _ => bail!("sc-col2im: f32 or f64 only"),
        };
        Ok((storage, Shape::from((g.n, g.c, g.h, g.w))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = &self.0;
        im2col(grad, (g.kh, g.kw), g.stride, g.pad).map(Some)
    }
}

/// `max_pool_2x2(relu(conv2d(x, w) + b))` as one op (see
/// [`super::conv2d_relu_pool`]): the forward pools each plane of the
/// ReLU'd output and keeps, per window, which element was the maximum; the
/// backward builds the masked, routed output gradient in one pass and
/// runs the conv's backward on it.
#[derive(Debug, Clone)]
pub(super) struct ConvReluPool {
    pub(super) stride: usize,
    pub(super) padding: usize,
    /// The window maxima of the last forward (one byte per pooled element).
    pub(super) argmax: Arc<Mutex<Option<Arc<Vec<u8>>>>>,
}

impl ConvReluPool {
    fn conv(&self) -> Conv {
        Conv {
            stride: self.stride,
            padding: self.padding,
            relu: true,
        }
    }
}

impl CustomOp3 for ConvReluPool {
    fn name(&self) -> &'static str {
        "sc-conv2d-relu-pool"
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
        let (full, shape) = self.conv().fwd((s1, l1), (s2, l2), Some((s3, l3)))?;
        let (n, o, h, w) = shape.dims4()?;
        if h % 2 != 0 || w % 2 != 0 {
            bail!("2x2 max-pool of an odd size {h}x{w}");
        }
        let (z, argmax) = match &full {
            CpuStorage::F32(y) => {
                let (z, a) = pool_planes(y, n * o, h, w);
                (CpuStorage::F32(z), a)
            }
            CpuStorage::F64(y) => {
                let (z, a) = pool_planes(y, n * o, h, w);
                (CpuStorage::F64(z), a)
            }
            _ => bail!("sc-conv2d-relu-pool: f32 or f64 only"),
        };
        *self
            .argmax
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv-pool lock poisoned".into()))? =
            Some(Arc::new(argmax));
        Ok((z, Shape::from((n, o, h / 2, w / 2))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let argmax = self
            .argmax
            .lock()
            .map_err(|_| candle_core::Error::Msg("conv-pool lock poisoned".into()))?
            .clone()
            .ok_or_else(|| {
                candle_core::Error::Msg("internal: conv-pool backward before forward".into())
            })?;
        let (n, o, oh, ow) = res.dims4()?;
        let (h, wd) = (2 * oh, 2 * ow);
        fn routed<T: WithDType>(
            z: &Tensor,
            dz: &Tensor,
            argmax: &[u8],
            (h, w): (usize, usize),
        ) -> Result<Vec<T>> {
            let q = (h / 2) * (w / 2);
            with_slice::<T, _>(z, |z| {
                with_slice::<T, _>(dz, |dz| {
                    let mut g = vec![T::zero(); z.len() * 4];
                    g.par_chunks_mut(h * w).enumerate().for_each(|(p, gp)| {
                        let r = p * q..(p + 1) * q;
                        pooled_grad(&z[r.clone()], &dz[r.clone()], &argmax[r], w, gp);
                    });
                    g
                })
            })?
        }
        let dz = grad.contiguous()?;
        let dout = match res.dtype() {
            DType::F32 => Tensor::from_vec(
                routed::<f32>(res, &dz, &argmax, (h, wd))?,
                (n, o, h, wd),
                res.device(),
            )?,
            DType::F64 => Tensor::from_vec(
                routed::<f64>(res, &dz, &argmax, (h, wd))?,
                (n, o, h, wd),
                res.device(),
            )?,
            dt => bail!("sc-conv2d-relu-pool: f32 or f64 only, got {dt:?}"),
        };
        // dout is masked already: the conv's backward without its ReLU.
        let plain = Conv {
            relu: false,
            ..self.conv()
        };
        let (dx, dw) = plain.bwd_xw(x, w, &dout)?;
        let db = if b.track_op() {
            Some(dout.sum(3)?.sum(2)?.sum(0)?)
        } else {
            None
        };
        Ok((dx, dw, db))
    }
}
