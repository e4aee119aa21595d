//! Which test images a probe looks at: all, the first N, or the first N of
//! each class (the paper's Fig. 1 and Fig. 2 compare images of one class, so
//! a probe needs every class represented in a known, reproducible way).

use crate::{Error, ImageSet, Result};

/// A reproducible choice of images from a set, always in data-set order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every image.
    All,
    /// The first N images (all of them when the set is smaller, as
    /// `--limit` does everywhere).
    First(usize),
    /// The first N images of each class; a class with fewer is an error.
    PerClass(usize),
}

impl Selection {
    /// The positions of the chosen images in `set`, ascending.
    pub fn indices(&self, set: &ImageSet) -> Result<Vec<usize>> {
        match *self {
            Selection::All => Ok((0..set.len()).collect()),
            Selection::First(0) => Err(Error::arg("limit", "must be at least 1")),
            Selection::First(n) => Ok((0..n.min(set.len())).collect()),
            Selection::PerClass(0) => Err(Error::arg("per-class", "must be at least 1")),
            Selection::PerClass(n) => {
                let counts = set.label_counts();
                if let Some((c, &have)) = counts.iter().enumerate().find(|(_, &k)| k < n) {
                    return Err(Error::arg(
                        "per-class",
                        format!(
                            "{n} images of each class asked for, but class {c} ({}) has {have}",
                            set.classes()[c]
                        ),
                    ));
                }
                let mut taken = vec![0usize; counts.len()];
                let mut out = Vec::with_capacity(n * counts.len());
                for (i, &l) in set.labels().iter().enumerate() {
                    if taken[l as usize] < n {
                        taken[l as usize] += 1;
                        out.push(i);
                    }
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: &[u32]) -> ImageSet {
        let n = labels.len();
        let pixels: Vec<u8> = (0..n).map(|i| i as u8).collect();
        ImageSet::new(
            pixels,
            [1, 1, 1],
            labels.to_vec(),
            vec!["a".into(), "b".into()],
        )
        .unwrap()
    }

    #[test]
    fn per_class_takes_the_first_of_each_class_in_order() {
        let s = set(&[1, 1, 0, 1, 0, 0]);
        assert_eq!(
            Selection::PerClass(2).indices(&s).unwrap(),
            vec![0, 1, 2, 4]
        );
        assert_eq!(
            Selection::PerClass(3).indices(&s).unwrap(),
            vec![0, 1, 2, 3, 4, 5]
        );
        let e = Selection::PerClass(4).indices(&s).unwrap_err().to_string();
        assert!(
            e.contains("per-class") && e.contains("class 0 (a) has 3"),
            "{e}"
        );
    }

    #[test]
    fn first_and_all_and_zero() {
        let s = set(&[1, 0, 1]);
        assert_eq!(Selection::First(2).indices(&s).unwrap(), vec![0, 1]);
        assert_eq!(Selection::First(9).indices(&s).unwrap(), vec![0, 1, 2]);
        assert_eq!(Selection::All.indices(&s).unwrap(), vec![0, 1, 2]);
        assert!(Selection::First(0).indices(&s).is_err());
        assert!(Selection::PerClass(0).indices(&s).is_err());
    }
}
