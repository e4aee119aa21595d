use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// Strength of a perturbation, 1 (weakest) to 4 (strongest), as in the
/// paper's Table 1 and the levels of its semantic-feature probes (Sec. 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "u8")]
pub struct Level(u8);

impl Level {
    /// All four levels, weakest first.
    pub const ALL: [Level; 4] = [Level(1), Level(2), Level(3), Level(4)];

    /// A level from 1 to 4; anything else is an error.
    pub fn new(level: i64) -> Result<Self> {
        if (1..=4).contains(&level) {
            Ok(Level(level as u8))
        } else {
            Err(Error::LevelOutOfRange(level))
        }
    }

    /// The level as a number in 1..=4.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Zero-based index (0..=3), for looking up per-level tables.
    pub fn index(self) -> usize {
        usize::from(self.0 - 1)
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        level.0
    }
}

impl TryFrom<u8> for Level {
    type Error = Error;
    fn try_from(v: u8) -> Result<Self> {
        Level::new(i64::from(v))
    }
}

impl<'de> serde::Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        Level::new(v).map_err(serde::de::Error::custom)
    }
}

impl FromStr for Level {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let v: i64 = s.trim().parse().map_err(|_| Error::LevelOutOfRange(-1))?;
        Level::new(v)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_to_four_are_levels() {
        for v in -3..10 {
            assert_eq!(Level::new(v).is_ok(), (1..=4).contains(&v), "level {v}");
        }
        assert_eq!(
            Level::ALL.iter().map(|l| l.index()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!("x".parse::<Level>().is_err());
        assert_eq!("2".parse::<Level>().unwrap().get(), 2);
    }
}
