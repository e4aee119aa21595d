//! The small CNN of the quick study: four conv-BN-ReLU stages, fast enough
//! to train on a CPU in minutes on 32x32 images.
//!
//! Parameter names follow the ResNets' style: `conv1`..`conv4` (3x3, no
//! bias), `bn1`..`bn4`, `fc`. Widths 32, 64, 128, 256; 2x2 max-pools after
//! stages 1, 2 and 3; global average pool; `fc`: the small CNN of the
//! PyTorch speed anchor (`../shared/bench/torch_anchor.py`), 15 M
//! multiply-adds per 32x32 image.

use crate::layers::{global_avg_pool, linear, max_pool_2x2, ConvBn};
use crate::params::ParamSource;
use crate::Result;
use candle_core::{Module, Tensor};
use candle_nn::Linear;

/// Channels of the four stages.
pub(crate) const WIDTHS: [usize; 4] = [32, 64, 128, 256];

#[derive(Debug, Clone)]
pub(crate) struct SmallCnn {
    stages: Vec<ConvBn>,
    fc: Linear,
}

impl SmallCnn {
    pub(crate) fn new(
        num_classes: usize,
        in_channels: usize,
        src: &mut dyn ParamSource,
    ) -> Result<Self> {
        let mut cin = in_channels;
        let mut stages = Vec::with_capacity(4);
        for (i, &cout) in WIDTHS.iter().enumerate() {
            let n = i + 1;
            stages.push(ConvBn::new(
                src,
                &format!("conv{n}"),
                &format!("bn{n}"),
                cin,
                cout,
                3,
                1,
                1,
            )?);
            cin = cout;
        }
        let fc = linear(src, "fc", cin, num_classes)?;
        Ok(SmallCnn { stages, fc })
    }

    pub(crate) fn convs_mut(&mut self) -> impl Iterator<Item = &mut ConvBn> {
        self.stages.iter_mut()
    }

    /// The ReLU output of the fourth stage (4x4 on 32x32 inputs, the
    /// resolution of ResNet18's `layer4` for GradCAM).
    /// Number of stages (the feature layers GradCAM can read).
    pub(crate) fn num_stages(&self) -> usize {
        self.stages.len()
    }

    pub(crate) fn features_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.stages_t(x, 0..self.stages.len(), train)
    }

    /// Runs stages `range` (0-based; each after the first starts with a
    /// 2x2 max-pool) on `x`, the output of the stage before `range.start`.
    pub(crate) fn stages_t(
        &self,
        x: &Tensor,
        range: std::ops::Range<usize>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        let (start, end) = (range.start, range.end);
        for i in range {
            if i >= 1 && i == start {
                x = max_pool_2x2(&x, self.stages[i].conv_impl())?;
            }
            // The pool that starts the next stage, if it runs, goes with
            // this stage's BatchNorm and ReLU (one op in training).
            x = if i + 1 < end && i + 1 < self.stages.len() {
                self.stages[i].forward_t_relu_pool(&x, train)?
            } else {
                self.stages[i].forward_t_relu(&x, train)?
            };
        }
        Ok(x)
    }

    /// Global average pool and `fc`.
    pub(crate) fn head(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        self.fc.forward(&global_avg_pool(features)?)
    }
}
