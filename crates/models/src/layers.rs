//! Layer constructors over a [`ParamSource`] with torchvision's names, and
//! the pooling operations candle lacks.

use crate::bn::{self, BnOut};
use crate::conv::{self, ConvImpl};
use crate::cpu::{slice, with_slice};
use crate::params::{ParamKind, ParamSource};
use crate::Result;
use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, DType, Layout, Module, ModuleT, Shape, Tensor,
    WithDType,
};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, Linear};
use rayon::prelude::*;

/// PyTorch's BatchNorm defaults.
const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

/// A bias-free convolution followed by BatchNorm, the unit of every network
/// here (torchvision's convs before a BN have no bias).
///
/// With [`ConvImpl::Fast`] the convolution is [`conv::conv2d`], and the
/// eval path folds the BatchNorm into it: `BN(W * x) = (s W) * x + (β - s μ)`
/// with `s = γ / sqrt(σ² + ε)` per output channel, one weight-sized product
/// instead of four passes over the activations (and their backward).
#[derive(Debug, Clone)]
pub(crate) struct ConvBn {
    conv: Conv2d,
    /// The padding of a strided conv, applied explicitly (see [`ConvBn::conv`]).
    strided_padding: Option<usize>,
    /// The conv's stride and padding, for [`ConvImpl::Fast`].
    stride: usize,
    padding: usize,
    bn: BatchNorm,
    imp: ConvImpl,
}

impl ConvBn {
    /// `conv` named `{conv}.weight` (`[cout, cin, k, k]`), BN named
    /// `{bn}.{weight,bias,running_mean,running_var}`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        src: &mut dyn ParamSource,
        conv: &str,
        bn: &str,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let weight = src.param(
            &format!("{conv}.weight"),
            &[cout, cin, kernel, kernel],
            ParamKind::Conv,
        )?;
        let imp = ConvImpl::auto(weight.device(), weight.dtype());
        let (strided_padding, candle_padding) = if stride > 1 {
            (Some(padding), 0)
        } else {
            (None, padding)
        };
        let config = Conv2dConfig {
            padding: candle_padding,
            stride,
            ..Default::default()
        };
        let conv = Conv2d::new(weight, None, config);
        let mut get = |suffix: &str, kind| src.param(&format!("{bn}.{suffix}"), &[cout], kind);
        let weight = get("weight", ParamKind::BnWeight)?;
        let bias = get("bias", ParamKind::BnBias)?;
        let mean = get("running_mean", ParamKind::BnRunningMean)?;
        let var = get("running_var", ParamKind::BnRunningVar)?;
        let bn = BatchNorm::new_with_momentum(cout, mean, var, weight, bias, BN_EPS, BN_MOMENTUM)?;
        Ok(ConvBn {
            conv,
            strided_padding,
            stride,
            padding,
            bn,
            imp,
        })
    }

    /// Selects the convolution (the caller checks that `imp` supports the
    /// weights' device and dtype).
    pub(crate) fn set_conv_impl(&mut self, imp: ConvImpl) {
        self.imp = imp;
    }

    /// The implementation of this unit's ops (the pooling around it follows).
    pub(crate) fn conv_impl(&self) -> ConvImpl {
        self.imp
    }

    /// The convolution. A strided one pads explicitly and drops the rows
    /// and columns no window reaches before convolving without padding:
    /// the result is the same, and candle's backward then needs no output
    /// padding. (candle derives one output padding from the height and
    /// applies it to the width too, so the input gradient of a strided conv
    /// fails whenever the two differ, e.g. on odd-by-even inputs.)
    fn conv(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let Some(pad) = self.strided_padding else {
            return self.conv.forward(x);
        };
        let (_, _, k, _) = self.conv.weight().dims4()?;
        let stride = self.conv.config().stride;
        let mut x = x.clone();
        for dim in [2, 3] {
            let padded = x.dim(dim)? + 2 * pad;
            if padded < k {
                candle_core::bail!(
                    "input of size {} too small for a {k}x{k} conv",
                    padded - 2 * pad
                );
            }
            let reach = (padded - k) / stride * stride + k;
            x = x.pad_with_zeros(dim, pad, pad)?.narrow(dim, 0, reach)?;
        }
        self.conv.forward(&x)
    }

    /// Train mode uses batch statistics and updates the running ones in
    /// place (momentum 0.1, unbiased variance, as PyTorch).
    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_with(x, train, BnOut::Linear)
    }

    /// `relu(forward_t(x))`; with [`ConvImpl::Fast`] in train mode the ReLU
    /// is fused into the BatchNorm op.
    pub(crate) fn forward_t_relu(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_with(x, train, BnOut::Relu)
    }

    /// `max_pool_2x2(relu(forward_t(x)))`; with [`ConvImpl::Fast`] in
    /// train mode the ReLU and the pool are fused into the BatchNorm op
    /// ([`BnOut::ReluMaxPool`]), elsewhere they are the separate ops.
    pub(crate) fn forward_t_relu_pool(
        &self,
        x: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        self.forward_with(x, train, BnOut::ReluMaxPool)
    }

    fn forward_with(&self, x: &Tensor, train: bool, out: BnOut) -> candle_core::Result<Tensor> {
        let y = match self.imp {
            ConvImpl::Candle => self.bn.forward_t(&self.conv(x)?, train)?,
            ConvImpl::Fast if train => {
                let y = conv::conv2d(x, self.conv.weight(), None, self.stride, self.padding)?;
                let Some((gamma, beta)) = self.bn.weight_and_bias() else {
                    candle_core::bail!("internal: BatchNorm without affine parameters");
                };
                return bn::batch_norm_train(
                    &y,
                    gamma,
                    beta,
                    self.bn.running_mean(),
                    self.bn.running_var(),
                    self.bn.eps(),
                    self.bn.momentum(),
                    out,
                );
            }
            ConvImpl::Fast => {
                let (w, b) = self.folded()?;
                match out {
                    BnOut::Linear => conv::conv2d(x, &w, Some(&b), self.stride, self.padding)?,
                    BnOut::Relu => {
                        return conv::conv2d_relu(x, &w, Some(&b), self.stride, self.padding)
                    }
                    BnOut::ReluMaxPool => {
                        return conv::conv2d_relu_pool(x, &w, &b, self.stride, self.padding)
                    }
                }
            }
        };
        match out {
            BnOut::Linear => Ok(y),
            BnOut::Relu => y.relu(),
            BnOut::ReluMaxPool => max_pool_2x2(&y.relu()?, self.imp),
        }
    }

    /// The conv weight and bias with the eval-mode BatchNorm folded in.
    /// The running statistics are read detached (as candle's eval BN does);
    /// γ, β and W carry gradients if they are trainable.
    fn folded(&self) -> candle_core::Result<(Tensor, Tensor)> {
        let Some((gamma, beta)) = self.bn.weight_and_bias() else {
            candle_core::bail!("internal: BatchNorm without affine parameters");
        };
        let var = self.bn.running_var().detach();
        let mean = self.bn.running_mean().detach();
        let scale = (gamma / (var + self.bn.eps())?.sqrt()?)?;
        let w = conv::scale_out_channels(self.conv.weight(), &scale)?;
        let b = (beta - (mean * &scale)?)?;
        Ok((w, b))
    }
}

/// `fc`: `[out, in]` weight and `[out]` bias.
pub(crate) fn linear(
    src: &mut dyn ParamSource,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Linear> {
    let weight = src.param(
        &format!("{name}.weight"),
        &[outputs, inputs],
        ParamKind::LinearWeight,
    )?;
    let bias = src.param(
        &format!("{name}.bias"),
        &[outputs],
        ParamKind::LinearBias { fan_in: inputs },
    )?;
    Ok(Linear::new(weight, Some(bias)))
}

/// Mean over the spatial dimensions: `[N, C, H, W]` to `[N, C]`.
pub(crate) fn global_avg_pool(x: &Tensor) -> candle_core::Result<Tensor> {
    x.flatten_from(2)?.mean(2)
}

/// `MaxPool2d(2)` for even sizes. With [`ConvImpl::Fast`] (CPU, f32, f64)
/// one op whose backward routes each window's gradient to its first
/// maximum, as PyTorch does; with [`ConvImpl::Candle`] (every GPU) a
/// maximum over reshaped 2x2 windows, all candle ops.
///
/// Not candle's `max_pool2d`: its gradient is scaled by 1/k² (it multiplies
/// the output gradient by the share of maxima in the window instead of
/// routing it), so input gradients through it are 4x too small per 2x2
/// pool. The reshape fallback gives ties (all-zero windows after a ReLU)
/// the gradient on every tied element.
pub(crate) fn max_pool_2x2(x: &Tensor, imp: ConvImpl) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if h % 2 != 0 || w % 2 != 0 {
        candle_core::bail!("2x2 max-pool of an odd size {h}x{w}");
    }
    if imp == ConvImpl::Fast && conv::cpu_kernels_apply(x.device().location(), x.dtype()) {
        return x.contiguous()?.apply_op1(MaxPool2x2);
    }
    x.reshape((n, c, h / 2, 2, w / 2, 2))?.max(5)?.max(3)
}

/// One 2x2 window's maximum and the index (0..4 in the order (0,0), (0,1),
/// (1,0), (1,1)) of its first occurrence, as PyTorch routes the gradient
/// of tied windows (e.g. all zero after a ReLU).
pub(crate) fn window_max<T: WithDType>(v: [T; 4]) -> (T, u8) {
    let mut best = 0;
    for k in 1..4 {
        if v[k] > v[best] {
            best = k;
        }
    }
    (v[best], best as u8)
}

/// The gradient at the ReLU's input of one `h x w` plane of a fused
/// ReLU + 2x2 max-pool, from the pooled output `z`, its gradient `dz` and
/// the window maxima ([`window_max`]): `dz` at each window's maximum when
/// it is positive, zero elsewhere, what the pool's backward and the ReLU's
/// mask give together.
pub(crate) fn pooled_grad<T: WithDType>(z: &[T], dz: &[T], argmax: &[u8], w: usize, g: &mut [T]) {
    let zero = T::zero();
    g.fill(zero);
    let ow = w / 2;
    for (q, ((&zv, &dv), &k)) in z.iter().zip(dz).zip(argmax).enumerate() {
        if zv > zero {
            let (i, j, k) = (q / ow, q % ow, k as usize);
            g[(2 * i + k / 2) * w + 2 * j + k % 2] = dv;
        }
    }
}

/// The CPU op of [`max_pool_2x2`].
#[derive(Debug, Clone, Copy)]
struct MaxPool2x2;

/// The 2x2 max-pool of `planes` planes of `h x w` (even sizes): the pooled
/// values and, per window, the index of its first maximum
/// ([`window_max`]), the one tie rule of every pool here.
pub(crate) fn pool_planes<T: WithDType>(
    x: &[T],
    planes: usize,
    h: usize,
    w: usize,
) -> (Vec<T>, Vec<u8>) {
    let (oh, ow) = (h / 2, w / 2);
    let mut z = vec![T::zero(); planes * oh * ow];
    let mut argmax = vec![0u8; planes * oh * ow];
    z.par_chunks_mut(oh * ow)
        .zip(argmax.par_chunks_mut(oh * ow))
        .zip(x.par_chunks(h * w))
        .for_each(|((zp, ap), xp)| {
            for i in 0..oh {
                let (r0, r1) = (&xp[2 * i * w..][..w], &xp[(2 * i + 1) * w..][..w]);
                for j in 0..ow {
                    let v = [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]];
                    (zp[i * ow + j], ap[i * ow + j]) = window_max(v);
                }
            }
        });
    (z, argmax)
}

/// The input gradient of the pool: each window's gradient on its first
/// maximum, zero elsewhere.
fn pool_bwd<T: WithDType>(x: &[T], dy: &[T], planes: usize, h: usize, w: usize) -> Vec<T> {
    let (_, argmax) = pool_planes(x, planes, h, w);
    let (q, ow) = ((h / 2) * (w / 2), w / 2);
    let mut dx = vec![T::zero(); planes * h * w];
    dx.par_chunks_mut(h * w).enumerate().for_each(|(p, dxp)| {
        let window = p * q..(p + 1) * q;
        for (k, (&d, &a)) in dy[window.clone()].iter().zip(&argmax[window]).enumerate() {
            let (i, j, a) = (k / ow, k % ow, a as usize);
            dxp[(2 * i + a / 2) * w + 2 * j + a % 2] = d;
        }
    });
    dx
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "sc-max-pool-2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let out = match s.dtype() {
            DType::F32 => {
                f32::to_cpu_storage_owned(pool_planes::<f32>(slice(s, l)?, n * c, h, w).0)
            }
            DType::F64 => {
                f64::to_cpu_storage_owned(pool_planes::<f64>(slice(s, l)?, n * c, h, w).0)
            }
            dt => candle_core::bail!("sc-max-pool-2x2: f32 or f64, got {dt:?}"),
        };
        Ok((out, Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        fn run<T: WithDType>(x: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
            let (n, c, h, w) = x.dims4()?;
            let dx = with_slice::<T, _>(x, |xv| {
                with_slice::<T, _>(grad, |gv| pool_bwd(xv, gv, n * c, h, w))
            })??;
            Tensor::from_vec(dx, (n, c, h, w), x.device())
        }
        let grad = grad.contiguous()?;
        match x.dtype() {
            DType::F32 => run::<f32>(x, &grad).map(Some),
            DType::F64 => run::<f64>(x, &grad).map(Some),
            dt => candle_core::bail!("sc-max-pool-2x2: f32 or f64, got {dt:?}"),
        }
    }
}

/// torchvision's `MaxPool2d(kernel_size=3, stride=2, padding=1)`.
///
/// candle's max-pool has no gradient when the stride differs from the
/// kernel (and a mis-scaled one otherwise, see [`max_pool_2x2`]); attacks need input gradients through the ResNet-50 stem; so
/// this takes the maximum of strided slices, one dimension at a time (a max
/// over a 3x3 window is a max over rows of maxima over columns). Padding
/// with zeros instead of -inf is exact here because the input is a ReLU
/// output (non-negative) and every window holds at least one real element.
pub(crate) fn max_pool_3x3_s2_after_relu(x: &Tensor) -> candle_core::Result<Tensor> {
    pool_dim(&pool_dim(x, 2)?, 3)
}

fn pool_dim(x: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
    let size = x.dim(dim)?;
    let out = (size + 2 - 3) / 2 + 1;
    // One zero on the left as in PyTorch; two on the right, so that each
    // of the three offsets can take `2 * out` elements (the extra one is
    // never selected).
    let padded = x.pad_with_zeros(dim, 1, 2)?;
    let mut result: Option<Tensor> = None;
    for offset in 0..3 {
        let window = padded.narrow(dim, offset, 2 * out)?;
        let mut shape = window.dims().to_vec();
        shape[dim] = out;
        shape.insert(dim + 1, 2);
        let strided = window
            .contiguous()?
            .reshape(shape)?
            .narrow(dim + 1, 0, 1)?
            .squeeze(dim + 1)?;
        result = Some(match result {
            None => strided,
            Some(r) => r.maximum(&strided)?,
        });
    }
    result.ok_or_else(|| candle_core::Error::Msg("internal: empty max-pool".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn sum(t: &Tensor) -> f64 {
        t.sum_all().unwrap().to_scalar::<f64>().unwrap()
    }

    #[test]
    fn max_pool_2x2_matches_candle_forward_with_unit_gradients() {
        let v: Vec<f64> = (0..2 * 3 * 6 * 8)
            .map(|i| ((i * 37 % 101) as f64) / 7.0 - 5.0)
            .collect();
        let x =
            Var::from_tensor(&Tensor::from_vec(v, (2, 3, 6, 8), &Device::Cpu).unwrap()).unwrap();
        let ours = max_pool_2x2(x.as_tensor(), ConvImpl::Fast).unwrap();
        let reference = x.as_tensor().max_pool2d(2).unwrap();
        assert_eq!(ours.dims(), [2, 3, 3, 4]);
        assert_eq!(
            sum(&(ours.clone() - reference).unwrap().abs().unwrap()),
            0.0
        );
        let g = ours.sum_all().unwrap().backward().unwrap();
        let g = g.get(&x).unwrap();
        // One unit per window, on its maximum (values are distinct within windows).
        assert_eq!(sum(g), ours.elem_count() as f64);
        let picked = (g * x.as_tensor()).unwrap();
        assert!((sum(&picked) - sum(&ours)).abs() < 1e-9);
        assert!(max_pool_2x2(
            &Tensor::zeros((1, 1, 3, 4), DType::F64, &Device::Cpu).unwrap(),
            ConvImpl::Fast
        )
        .is_err());
        // Ties (an all-zero window after a ReLU): the whole gradient goes to
        // the first maximum, as PyTorch routes it.
        let z = Var::from_tensor(&Tensor::zeros((1, 1, 2, 2), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        let g = max_pool_2x2(z.as_tensor(), ConvImpl::Fast)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = g
            .get(&z)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(g, vec![1.0, 0.0, 0.0, 0.0]);
    }

    /// Against candle's own max-pool on a zero-padded input, for odd and
    /// even sizes, and with a gradient that reaches every window maximum.
    #[test]
    fn strided_max_pool_matches_candle() {
        for (h, w) in [(1, 1), (2, 3), (7, 8), (9, 5)] {
            let n = 2 * 3 * h * w;
            let v: Vec<f64> = (0..n)
                .map(|i| ((i * 37 % 101 + 1) as f64) / 101.0)
                .collect();
            let x = Var::from_tensor(&Tensor::from_vec(v, (2, 3, h, w), &Device::Cpu).unwrap())
                .unwrap();
            let ours = max_pool_3x3_s2_after_relu(x.as_tensor()).unwrap();
            let padded = x
                .as_tensor()
                .pad_with_zeros(2, 1, 1)
                .unwrap()
                .pad_with_zeros(3, 1, 1)
                .unwrap();
            let reference = padded.max_pool2d_with_stride(3, 2).unwrap();
            assert_eq!(ours.dims(), reference.dims(), "{h}x{w}");
            let diff = (ours.clone() - reference)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert_eq!(diff, 0.0, "{h}x{w}");
            let grads = ours.sum_all().unwrap().backward().unwrap();
            let g = grads.get(&x).unwrap().sum_all().unwrap();
            // Positive inputs never tie with the padding, so every unit of gradient reaches the input.
            assert_eq!(g.to_scalar::<f64>().unwrap(), ours.elem_count() as f64);
        }
    }
}
