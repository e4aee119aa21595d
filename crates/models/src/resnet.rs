//! ResNet (He et al. 2016) in torchvision's layout and parameter names, so
//! torchvision state dicts saved as safetensors load as they are.

use crate::arch::{Block, ResNetConfig, Stem};
use crate::layers::{global_avg_pool, linear, max_pool_3x3_s2_after_relu, ConvBn};
use crate::params::ParamSource;
use crate::Result;
use candle_core::{Module, Tensor};
use candle_nn::Linear;

#[derive(Debug, Clone)]
pub(crate) struct ResNet {
    stem: Stem,
    stem_conv: ConvBn,
    stages: Vec<Vec<Residual>>,
    fc: Linear,
}

/// A basic or bottleneck block: conv-BN units with ReLUs between them, the
/// shortcut (identity or `downsample`) added before the last ReLU.
#[derive(Debug, Clone)]
struct Residual {
    units: Vec<ConvBn>,
    downsample: Option<ConvBn>,
}

impl ResNet {
    pub(crate) fn new(cfg: &ResNetConfig, src: &mut dyn ParamSource) -> Result<Self> {
        let (kernel, stride, padding) = match cfg.stem {
            Stem::Cifar => (3, 1, 1),
            Stem::ImageNet => (7, 2, 3),
        };
        let mut inplanes = cfg.widths[0];
        let stem_conv = ConvBn::new(
            src,
            "conv1",
            "bn1",
            cfg.in_channels,
            inplanes,
            kernel,
            stride,
            padding,
        )?;
        let mut stages = Vec::with_capacity(4);
        for (i, (&depth, &planes)) in cfg.layers.iter().zip(&cfg.widths).enumerate() {
            let mut blocks = Vec::with_capacity(depth);
            for j in 0..depth {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                let p = format!("layer{}.{j}", i + 1);
                let out = planes * cfg.block.expansion();
                let mut unit = |n: usize, cin, cout, k, s, pad| {
                    ConvBn::new(
                        src,
                        &format!("{p}.conv{n}"),
                        &format!("{p}.bn{n}"),
                        cin,
                        cout,
                        k,
                        s,
                        pad,
                    )
                };
                let units = match cfg.block {
                    Block::Basic => vec![
                        unit(1, inplanes, planes, 3, stride, 1)?,
                        unit(2, planes, planes, 3, 1, 1)?,
                    ],
                    // Stride on the 3x3 conv: torchvision's ResNet v1.5.
                    Block::Bottleneck => vec![
                        unit(1, inplanes, planes, 1, 1, 0)?,
                        unit(2, planes, planes, 3, stride, 1)?,
                        unit(3, planes, out, 1, 1, 0)?,
                    ],
                };
                let downsample = if stride != 1 || inplanes != out {
                    Some(ConvBn::new(
                        src,
                        &format!("{p}.downsample.0"),
                        &format!("{p}.downsample.1"),
                        inplanes,
                        out,
                        1,
                        stride,
                        0,
                    )?)
                } else {
                    None
                };
                blocks.push(Residual { units, downsample });
                inplanes = out;
            }
            stages.push(blocks);
        }
        let fc = linear(src, "fc", inplanes, cfg.num_classes)?;
        Ok(ResNet {
            stem: cfg.stem,
            stem_conv,
            stages,
            fc,
        })
    }

    pub(crate) fn convs_mut(&mut self) -> impl Iterator<Item = &mut ConvBn> {
        std::iter::once(&mut self.stem_conv).chain(
            self.stages
                .iter_mut()
                .flatten()
                .flat_map(|b| b.units.iter_mut().chain(b.downsample.as_mut())),
        )
    }

    /// The output of `layer4`, before pooling.
    /// Number of stages (the feature layers GradCAM can read).
    pub(crate) fn num_stages(&self) -> usize {
        self.stages.len()
    }

    pub(crate) fn features_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let x = self.stem_t(x, train)?;
        self.stages_t(&x, 0..self.stages.len(), train)
    }

    /// The stem: conv-BN-ReLU (and the ImageNet stem's max-pool).
    pub(crate) fn stem_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let x = self.stem_conv.forward_t_relu(x, train)?;
        if self.stem == Stem::ImageNet {
            max_pool_3x3_s2_after_relu(&x)
        } else {
            Ok(x)
        }
    }

    /// Runs the residual stages `range` (0-based: `layer{i+1}`) on `x`.
    pub(crate) fn stages_t(
        &self,
        x: &Tensor,
        range: std::ops::Range<usize>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for block in self.stages[range].iter().flatten() {
            x = block.forward_t(&x, train)?;
        }
        Ok(x)
    }

    /// Global average pool and `fc`.
    pub(crate) fn head(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        self.fc.forward(&global_avg_pool(features)?)
    }
}

impl Residual {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        let last = self.units.len() - 1;
        for (i, unit) in self.units.iter().enumerate() {
            h = if i < last {
                unit.forward_t_relu(&h, train)?
            } else {
                unit.forward_t(&h, train)?
            };
        }
        let shortcut = match &self.downsample {
            Some(d) => d.forward_t(x, train)?,
            None => x.clone(),
        };
        (h + shortcut)?.relu()
    }
}
