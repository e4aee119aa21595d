use std::fmt;

/// A non-negative real given as a decimal (`0.031`) or a fraction (`8/255`),
/// as epsilons and step sizes are written in the adversarial literature.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, serde::Serialize)]
#[serde(into = "f64")]
pub struct Fraction(pub f64);

impl Fraction {
    /// Parses `"8/255"`, `"0.5"` or `"2"`.
    pub fn parse(s: &str) -> Result<Fraction, String> {
        let s = s.trim();
        let value = match s.split_once('/') {
            Some((a, b)) => {
                let a: f64 = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("{s:?}: {a:?} is not a number"))?;
                let b: f64 = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("{s:?}: {b:?} is not a number"))?;
                if b == 0.0 {
                    return Err(format!("{s:?}: division by zero"));
                }
                a / b
            }
            None => s
                .parse()
                .map_err(|_| format!("{s:?} is not a number or a fraction like 8/255"))?,
        };
        if !value.is_finite() {
            return Err(format!("{s:?} is not finite"));
        }
        Ok(Fraction(value))
    }
}

impl From<Fraction> for f64 {
    fn from(f: Fraction) -> f64 {
        f.0
    }
}

impl std::str::FromStr for Fraction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fraction::parse(s)
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.0 * 255.0;
        if (k - k.round()).abs() < 1e-9 && self.0 != 0.0 {
            write!(f, "{}/255", k.round())
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Fraction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Fraction;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a fraction like \"8/255\"")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Fraction, E> {
                Ok(Fraction(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Fraction, E> {
                Ok(Fraction(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Fraction, E> {
                Ok(Fraction(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Fraction, E> {
                Fraction::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fractions_and_decimals() {
        assert_eq!(Fraction::parse("8/255").unwrap().0, 8.0 / 255.0);
        assert_eq!(Fraction::parse(" 0.5 ").unwrap().0, 0.5);
        assert!(Fraction::parse("8/0").is_err());
        assert!(Fraction::parse("eight").is_err());
        assert!(Fraction::parse("1/x").is_err());
        assert_eq!(Fraction(8.0 / 255.0).to_string(), "8/255");
        assert_eq!(Fraction(0.3).to_string(), "0.3");
    }
}
