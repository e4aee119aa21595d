use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The architectures of the study, by the names the CLI and checkpoints use.
///
/// The paper trains ResNet18 on CIFAR-100 and ResNet50 on ImageNet
/// (Sec. 4.1); `small-cnn` is ours, for the quick study on CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Arch {
    /// Four 3x3 conv-BN-ReLU stages (32, 64, 128, 256 channels), three
    /// 2x2 max-pools, global average pool, fc.
    SmallCnn,
    /// ResNet-18 adapted to 32x32 inputs (3x3 stride-1 stem, no max-pool),
    /// the common CIFAR variant.
    ResNet18,
    /// torchvision's ResNet-50 (v1.5) for 224x224 inputs.
    ResNet50,
}

impl Arch {
    /// Every architecture, in the order of [`Arch::name`]'s list.
    pub const ALL: [Arch; 3] = [Arch::SmallCnn, Arch::ResNet18, Arch::ResNet50];

    /// The stable name: `small-cnn`, `resnet18` or `resnet50`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::SmallCnn => "small-cnn",
            Arch::ResNet18 => "resnet18",
            Arch::ResNet50 => "resnet50",
        }
    }

    /// The network of this architecture for `num_classes` and `in_channels`.
    pub fn config(self, num_classes: usize, in_channels: usize) -> NetConfig {
        match self {
            Arch::SmallCnn => NetConfig::SmallCnn {
                num_classes,
                in_channels,
            },
            Arch::ResNet18 => NetConfig::ResNet(ResNetConfig::resnet18(num_classes, in_channels)),
            Arch::ResNet50 => NetConfig::ResNet(ResNetConfig::resnet50(num_classes, in_channels)),
        }
    }

    /// The image size `[H, W]` the architecture is designed for (32x32 for
    /// the CIFAR-sized models, 224x224 for ResNet50).
    pub fn default_input_size(self) -> [usize; 2] {
        match self {
            Arch::SmallCnn | Arch::ResNet18 => [32, 32],
            Arch::ResNet50 => [224, 224],
        }
    }
}

impl FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name() == s.trim())
            .ok_or_else(|| Error::UnknownArch(s.to_string()))
    }
}

impl TryFrom<String> for Arch {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.name().to_string()
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The residual block of a ResNet (He et al. 2016; torchvision's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Block {
    /// Two 3x3 convs (ResNet-18/34); output width = the stage width.
    Basic,
    /// 1x1, 3x3 (strided, as torchvision v1.5), 1x1 convs (ResNet-50 and up);
    /// output width = 4 x the stage width.
    Bottleneck,
}

impl Block {
    /// Output channels per unit of stage width (torchvision's `expansion`).
    pub fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// The first layers of a ResNet, before `layer1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 3x3 stride-1 conv, BN, ReLU, no max-pool: keeps 32x32 inputs at full
    /// resolution in `layer1` (the usual CIFAR ResNet).
    Cifar,
    /// 7x7 stride-2 conv, BN, ReLU, 3x3 stride-2 max-pool with padding 1
    /// (torchvision): a 4x reduction for 224x224 inputs.
    ImageNet,
}

/// A ResNet: torchvision's layout with the block, depths, widths and stem
/// as parameters, so tests can build a tiny one.
///
/// Stage `i` (`layer{i+1}`) has `layers[i]` blocks of width `widths[i]`; the
/// first block of stages 2-4 has stride 2; a 1x1 conv + BN `downsample`
/// projects the shortcut wherever the shape changes. The stem has
/// `widths[0]` channels (64 in both presets, as torchvision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// Basic or bottleneck blocks.
    pub block: Block,
    /// Blocks per stage.
    pub layers: [usize; 4],
    /// Width ("planes") per stage.
    pub widths: [usize; 4],
    /// CIFAR or ImageNet stem.
    pub stem: Stem,
    /// Output classes (rows of `fc.weight`).
    pub num_classes: usize,
    /// Input channels (of `conv1.weight`).
    pub in_channels: usize,
}

impl ResNetConfig {
    /// ResNet-18 for 32x32 inputs: basic blocks [2, 2, 2, 2], CIFAR stem.
    pub fn resnet18(num_classes: usize, in_channels: usize) -> Self {
        ResNetConfig {
            block: Block::Basic,
            layers: [2, 2, 2, 2],
            widths: [64, 128, 256, 512],
            stem: Stem::Cifar,
            num_classes,
            in_channels,
        }
    }

    /// torchvision's ResNet-50: bottleneck blocks [3, 4, 6, 3], ImageNet stem.
    pub fn resnet50(num_classes: usize, in_channels: usize) -> Self {
        ResNetConfig {
            block: Block::Bottleneck,
            layers: [3, 4, 6, 3],
            widths: [64, 128, 256, 512],
            stem: Stem::ImageNet,
            num_classes,
            in_channels,
        }
    }

    /// The preset with this layout, if any (class and channel counts aside).
    pub fn arch(&self) -> Option<Arch> {
        [Arch::ResNet18, Arch::ResNet50]
            .into_iter()
            .find(|a| a.config(self.num_classes, self.in_channels) == NetConfig::ResNet(*self))
    }

    /// Channels of the last stage's output (the input of `fc`).
    pub fn feature_channels(&self) -> usize {
        self.widths[3] * self.block.expansion()
    }
}

/// Any network the zoo can build: an [`Arch`] preset or a custom ResNet.
/// Stored in checkpoints, so a custom ResNet round-trips too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NetConfig {
    /// The small CNN (see [`Arch::SmallCnn`]).
    SmallCnn {
        /// Number of classes (outputs).
        num_classes: usize,
        /// Channels of the input images.
        in_channels: usize,
    },
    /// A ResNet.
    #[serde(rename = "resnet")]
    ResNet(ResNetConfig),
}

impl NetConfig {
    /// Output classes.
    pub fn num_classes(&self) -> usize {
        match self {
            NetConfig::SmallCnn { num_classes, .. } => *num_classes,
            NetConfig::ResNet(c) => c.num_classes,
        }
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        match self {
            NetConfig::SmallCnn { in_channels, .. } => *in_channels,
            NetConfig::ResNet(c) => c.in_channels,
        }
    }

    /// The same network with other class and channel counts.
    pub fn with_io(self, num_classes: usize, in_channels: usize) -> Self {
        match self {
            NetConfig::SmallCnn { .. } => NetConfig::SmallCnn {
                num_classes,
                in_channels,
            },
            NetConfig::ResNet(c) => NetConfig::ResNet(ResNetConfig {
                num_classes,
                in_channels,
                ..c
            }),
        }
    }

    /// The preset this is, if any.
    pub fn arch(&self) -> Option<Arch> {
        match self {
            NetConfig::SmallCnn { .. } => Some(Arch::SmallCnn),
            NetConfig::ResNet(c) => c.arch(),
        }
    }

    /// The name for reports: the preset's name, or `resnet` for a custom ResNet.
    pub fn name(&self) -> &'static str {
        match self.arch() {
            Some(a) => a.name(),
            None => "resnet",
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.num_classes() == 0 {
            return Err(Error::invalid("model", "num_classes must be at least 1"));
        }
        if self.in_channels() == 0 {
            return Err(Error::invalid("model", "in_channels must be at least 1"));
        }
        if let NetConfig::ResNet(c) = self {
            if c.widths.contains(&0) || c.layers.contains(&0) {
                return Err(Error::invalid(
                    "resnet",
                    format!(
                        "layers {:?} and widths {:?} must be positive",
                        c.layers, c.widths
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks that an input of size `[H, W]` fits: the small CNN halves
    /// the size three times with 2x2 max-pools over whole windows, so it
    /// takes multiples of 8.
    pub(crate) fn check_input_size(&self, h: usize, w: usize) -> std::result::Result<(), String> {
        match self {
            NetConfig::SmallCnn { .. } if h == 0 || w == 0 || h % 8 != 0 || w % 8 != 0 => Err(
                format!("small-cnn needs a height and width divisible by 8, got {h}x{w}"),
            ),
            _ if h == 0 || w == 0 => Err(format!("empty input {h}x{w}")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        for a in Arch::ALL {
            assert_eq!(a.to_string().parse::<Arch>().unwrap(), a);
            assert_eq!(a.config(10, 3).arch(), Some(a));
            assert_eq!(a.config(10, 3).name(), a.name());
        }
        let e = "resnet34".parse::<Arch>().unwrap_err().to_string();
        assert!(
            e.contains("resnet34") && e.contains("small-cnn") && e.contains("resnet50"),
            "{e}"
        );
        let custom = NetConfig::ResNet(ResNetConfig {
            widths: [2, 3, 4, 4],
            ..ResNetConfig::resnet18(10, 3)
        });
        assert_eq!(custom.arch(), None);
        assert_eq!(custom.name(), "resnet");
    }

    #[test]
    fn configs_serialise() {
        let c = Arch::ResNet50.config(1000, 3);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"kind\":\"resnet\""), "{json}");
        assert_eq!(serde_json::from_str::<NetConfig>(&json).unwrap(), c);
        assert_eq!(
            serde_json::to_string(&Arch::SmallCnn).unwrap(),
            "\"small-cnn\""
        );
        assert!(serde_json::from_str::<Arch>("\"vgg\"").is_err());
    }
}
