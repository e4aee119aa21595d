use crate::photometric::{Brightness, Contrast, Hue, Saturation};
use crate::spatial::{
    CentreShuffle, ChannelTranslation, SlidingPuzzle, CENTRE_AREAS, CHANNEL_FRACTIONS, PUZZLE_GRIDS,
};
use crate::{Error, Perturbation, Result};
use sc_core::Level;
use std::fmt;
use std::str::FromStr;

/// The named perturbations of the paper, each with four levels: Table 1 for
/// the photometric ones, the strengths of Sec. 4.3 for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PerturbationKind {
    /// An additive pixel shift (Table 1).
    Brightness,
    /// Blending with the mean gray level (Table 1).
    Contrast,
    /// Blending with the grayscale image (Table 1); colour only.
    Saturation,
    /// A rotation of the colour wheel (Table 1); colour only.
    Hue,
    /// R and G shifted against B (Sec. 4.3.1); needs RGB.
    ChannelTranslation,
    /// The pixels of a central area shuffled (Sec. 4.3.2).
    CentreShuffle,
    /// The image cut into blocks that change places (Sec. 4.3.3).
    SlidingPuzzle,
}

impl PerturbationKind {
    /// All kinds, photometric first.
    pub const ALL: [PerturbationKind; 7] = [
        PerturbationKind::Brightness,
        PerturbationKind::Contrast,
        PerturbationKind::Saturation,
        PerturbationKind::Hue,
        PerturbationKind::ChannelTranslation,
        PerturbationKind::CentreShuffle,
        PerturbationKind::SlidingPuzzle,
    ];

    /// The four photometric (non-semantic) kinds of Table 1.
    pub const PHOTOMETRIC: [PerturbationKind; 4] = [
        PerturbationKind::Brightness,
        PerturbationKind::Contrast,
        PerturbationKind::Saturation,
        PerturbationKind::Hue,
    ];

    /// The stable name, as accepted by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            PerturbationKind::Brightness => "brightness",
            PerturbationKind::Contrast => "contrast",
            PerturbationKind::Saturation => "saturation",
            PerturbationKind::Hue => "hue",
            PerturbationKind::ChannelTranslation => "channel-translation",
            PerturbationKind::CentreShuffle => "centre-shuffle",
            PerturbationKind::SlidingPuzzle => "sliding-puzzle",
        }
    }

    /// Whether the kind keeps the image's meaning (Table 1) or destroys it (Sec. 4.3).
    pub fn is_photometric(self) -> bool {
        Self::PHOTOMETRIC.contains(&self)
    }

    /// Whether this kind changes images of `channels` channels at all.
    ///
    /// Saturation and hue (Table 1) act on colour: on gray images they are
    /// the identity, so a distance score of 0 would be measured where
    /// nothing was perturbed. Channel translation (Sec. 4.3.1) shifts R and
    /// G against B and needs exactly those three channels. The other kinds
    /// apply to gray and RGB images alike.
    pub fn applies_to(self, channels: usize) -> bool {
        self.channel_problem(channels).is_none()
    }

    fn channel_problem(self, channels: usize) -> Option<String> {
        match self {
            PerturbationKind::Saturation | PerturbationKind::Hue if channels != 3 => Some(format!(
                "{self} changes colour only: it is the identity on {channels}-channel images"
            )),
            PerturbationKind::ChannelTranslation if channels != 3 => Some(format!(
                "{self} shifts R and G against B: it needs 3 channels, the images have {channels}"
            )),
            _ => None,
        }
    }

    /// Why this kind at `level` cannot be measured on images of shape
    /// `[C, H, W]`, or `None` when it can: the channel reasons of
    /// [`PerturbationKind::applies_to`], a channel translation that rounds
    /// to 0 pixels or a centre area of one pixel (both the identity on
    /// small images), and a sliding-puzzle grid that does not divide the
    /// image into equal blocks (Sec. 4.3.3). Sweeps report
    /// such a pair as not applicable instead of measuring an identity map
    /// or failing the whole run.
    pub fn not_applicable(self, level: Level, image_shape: [usize; 3]) -> Option<String> {
        let [c, h, w] = image_shape;
        if let Some(problem) = self.channel_problem(c) {
            return Some(problem);
        }
        let i = level.index();
        match self {
            PerturbationKind::ChannelTranslation => {
                let f = CHANNEL_FRACTIONS[i];
                let shift = |side: usize| (f * side as f64).round();
                (shift(h) == 0.0 && shift(w) == 0.0).then(|| {
                    format!(
                        "{self} level {level} shifts by {f} of the side, 0 pixels on {h}x{w} images: the identity"
                    )
                })
            }
            PerturbationKind::CentreShuffle => {
                let (_, _, rh, rw) = CentreShuffle {
                    area: CENTRE_AREAS[i],
                }
                .region(h, w);
                (rh * rw < 2).then(|| {
                    format!(
                        "{self} level {level} shuffles a {rh}x{rw} centre of {h}x{w} images: the identity"
                    )
                })
            }
            PerturbationKind::SlidingPuzzle => {
                let k = PUZZLE_GRIDS[i];
                (h % k != 0 || w % k != 0).then(|| {
                    format!(
                        "{self} level {level} cuts images into {k}x{k} blocks: {k} does not divide {h}x{w}"
                    )
                })
            }
            _ => None,
        }
    }

    /// The perturbation of this kind at `level`.
    pub fn at_level(self, level: Level) -> Result<Box<dyn Perturbation>> {
        let i = level.index();
        Ok(match self {
            PerturbationKind::Brightness => Box::new(Brightness::at_level(level)),
            PerturbationKind::Contrast => Box::new(Contrast::at_level(level)),
            PerturbationKind::Saturation => Box::new(Saturation::at_level(level)),
            PerturbationKind::Hue => Box::new(Hue::at_level(level)),
            PerturbationKind::ChannelTranslation => Box::new(ChannelTranslation {
                fraction: CHANNEL_FRACTIONS[i],
            }),
            PerturbationKind::CentreShuffle => Box::new(CentreShuffle {
                area: CENTRE_AREAS[i],
            }),
            PerturbationKind::SlidingPuzzle => Box::new(SlidingPuzzle {
                grid: PUZZLE_GRIDS[i],
            }),
        })
    }
}

impl FromStr for PerturbationKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::InvalidParameter {
                name: "perturbation kind",
                problem: format!(
                    "{s:?}: expected one of {}",
                    Self::ALL.map(|k| k.name()).join(", ")
                ),
            })
    }
}

impl fmt::Display for PerturbationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_levels_follow_the_paper() {
        for k in PerturbationKind::ALL {
            assert_eq!(k.name().parse::<PerturbationKind>().unwrap(), k);
            let p = k.at_level(Level::new(1).unwrap()).unwrap();
            assert_eq!(p.name(), k.name());
        }
        assert!("blur"
            .parse::<PerturbationKind>()
            .unwrap_err()
            .to_string()
            .contains("brightness"));
        let p = PerturbationKind::Contrast
            .at_level(Level::new(3).unwrap())
            .unwrap();
        assert_eq!(p.params(), vec![("factor", 1.75)]);
        let p = PerturbationKind::Brightness
            .at_level(Level::new(4).unwrap())
            .unwrap();
        assert_eq!(p.params(), vec![("delta", 64.0)]);
        let p = PerturbationKind::ChannelTranslation
            .at_level(Level::new(2).unwrap())
            .unwrap();
        assert_eq!(p.params(), vec![("fraction", 1.0 / 16.0)]);
    }

    /// `not_applicable` agrees with what the perturbations do: where it
    /// says "applies", the perturbation runs and changes some pixel of a
    /// varied image; where it names a reason, the perturbation either
    /// fails or returns its input unchanged.
    #[test]
    fn not_applicable_matches_what_each_perturbation_does() {
        use candle_core::{Device, Tensor};
        let mut rng = sc_core::Seed(3).stream("test");
        for (c, h, w) in [(1, 12, 12), (3, 12, 12), (3, 16, 16), (1, 16, 8), (3, 2, 2)] {
            // Distinct, unclipped values in every channel and pixel.
            let values: Vec<f32> = (0..2 * c * h * w)
                .map(|i| 0.2 + 0.6 * ((i * 37 % 101) as f32 / 101.0))
                .collect();
            let x = Tensor::from_vec(values, (2, c, h, w), &Device::Cpu).unwrap();
            for kind in PerturbationKind::ALL {
                for level in Level::ALL {
                    let p = kind.at_level(level).unwrap();
                    let changed = p.apply(&x, &mut rng).map(|y| {
                        let diff: f32 = (y - &x)
                            .unwrap()
                            .abs()
                            .unwrap()
                            .max_all()
                            .unwrap()
                            .to_scalar()
                            .unwrap();
                        diff > 0.0
                    });
                    let reason = kind.not_applicable(level, [c, h, w]);
                    match (&reason, changed) {
                        (None, Ok(true)) | (Some(_), Ok(false)) | (Some(_), Err(_)) => {}
                        (reason, changed) => panic!(
                            "{kind} level {level} on {c}x{h}x{w}: not_applicable {reason:?}, apply {changed:?}"
                        ),
                    }
                    assert_eq!(kind.applies_to(c), kind.channel_problem(c).is_none());
                }
            }
        }
        assert!(!PerturbationKind::Hue.applies_to(1));
        assert!(!PerturbationKind::Saturation.applies_to(1));
        assert!(!PerturbationKind::ChannelTranslation.applies_to(1));
        assert!(PerturbationKind::Contrast.applies_to(1));
        let why = PerturbationKind::SlidingPuzzle
            .not_applicable(Level::new(4).unwrap(), [3, 28, 28])
            .unwrap();
        assert!(why.contains("16 does not divide 28x28"), "{why}");
    }
}
