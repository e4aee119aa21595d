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
    Brightness,
    Contrast,
    Saturation,
    Hue,
    ChannelTranslation,
    CentreShuffle,
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
}
