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

    pub(crate) fn feature_layer(&self) -> &'static str {
        match self {
            Net::SmallCnn(_) => "block4",
            Net::ResNet(_) => "layer4",
        }
    }

    pub(crate) fn features_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match self {
            Net::SmallCnn(n) => n.features_t(x, train),
            Net::ResNet(n) => n.features_t(x, train),
        }
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
