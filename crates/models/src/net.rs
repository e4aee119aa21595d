use crate::arch::NetConfig;
use crate::conv::ConvImpl;
use crate::params::ParamSource;
use crate::resnet::ResNet;
use crate::small_cnn::SmallCnn;
use crate::Result;
use candle_core::Tensor;

/// One instance of a network over one set of tensors (trainable or detached).
#[derive(Debug, Clone)]
pub(crate) enum Net {
    SmallCnn(SmallCnn),
    ResNet(ResNet),
}

impl Net {
    pub(crate) fn new(config: &NetConfig, src: &mut dyn ParamSource) -> Result<Self> {
        Ok(match config {
            NetConfig::SmallCnn {
                num_classes,
                in_channels,
            } => Net::SmallCnn(SmallCnn::new(*num_classes, *in_channels, src)?),
            NetConfig::ResNet(c) => Net::ResNet(ResNet::new(c, src)?),
        })
    }

    /// Selects the convolution of every conv-BN unit.
    pub(crate) fn set_conv_impl(&mut self, imp: ConvImpl) {
        match self {
            Net::SmallCnn(n) => n.convs_mut().for_each(|c| c.set_conv_impl(imp)),
            Net::ResNet(n) => n.convs_mut().for_each(|c| c.set_conv_impl(imp)),
        }
    }

    /// The layers GradCAM can read, in forward order: the output of each
    /// stage (`block1..4` of the small CNN, `layer1..4` of a ResNet).
    pub(crate) fn feature_layers(&self) -> Vec<String> {
        match self {
            Net::SmallCnn(n) => (1..=n.num_stages()).map(|i| format!("block{i}")).collect(),
            Net::ResNet(n) => (1..=n.num_stages()).map(|i| format!("layer{i}")).collect(),
        }
    }

    pub(crate) fn features_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match self {
            Net::SmallCnn(n) => n.features_t(x, train),
            Net::ResNet(n) => n.features_t(x, train),
        }
    }

    /// The output of stage `stage` (0-based, an index of
    /// [`Net::feature_layers`]) in eval or train mode.
    pub(crate) fn features_at(
        &self,
        x: &Tensor,
        stage: usize,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        match self {
            Net::SmallCnn(n) => n.stages_t(x, 0..stage + 1, train),
            Net::ResNet(n) => n.stages_t(&n.stem_t(x, train)?, 0..stage + 1, train),
        }
    }

    /// Logits from the output of stage `stage`: the remaining stages, then
    /// the head (eval mode).
    pub(crate) fn logits_from_stage(
        &self,
        features: &Tensor,
        stage: usize,
    ) -> candle_core::Result<Tensor> {
        let rest = match self {
            Net::SmallCnn(n) => n.stages_t(features, stage + 1..n.num_stages(), false)?,
            Net::ResNet(n) => n.stages_t(features, stage + 1..n.num_stages(), false)?,
        };
        self.head(&rest)
    }

    pub(crate) fn head(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Net::SmallCnn(n) => n.head(features),
            Net::ResNet(n) => n.head(features),
        }
    }

    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.head(&self.features_t(x, train)?)
    }
}
