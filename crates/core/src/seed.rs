use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The one seed of a run. Every random choice (data order, augmentation,
/// attack start, initialisation, procedural data) draws from a stream
/// derived from it and a purpose name, so adding a new consumer of
/// randomness never shifts the numbers of an existing one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Seed(pub u64);

impl Seed {
    /// An independent generator for `purpose` (ChaCha8, platform-independent).
    pub fn stream(self, purpose: &str) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.derive(purpose).0)
    }

    /// A child seed for `purpose`: FNV-1a of the name mixed into the seed
    /// with SplitMix64, so nearby seeds and similar names give unrelated streams.
    pub fn derive(self, purpose: &str) -> Seed {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in purpose.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Seed(splitmix64(self.0 ^ splitmix64(h)))
    }

    /// A child seed for an index (an image, a batch, an epoch).
    pub fn index(self, i: u64) -> Seed {
        Seed(splitmix64(self.0.wrapping_add(splitmix64(
            i.wrapping_add(0x9e37_79b9_7f4a_7c15),
        ))))
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let draw = |s: Seed, p: &str| -> Vec<u32> {
            let mut r = s.stream(p);
            (0..8).map(|_| r.random()).collect()
        };
        assert_eq!(draw(Seed(1), "a"), draw(Seed(1), "a"));
        assert_ne!(draw(Seed(1), "a"), draw(Seed(2), "a"));
        assert_ne!(draw(Seed(1), "a"), draw(Seed(1), "b"));
        assert_ne!(Seed(1).index(0), Seed(1).index(1));
        assert_ne!(Seed(0).index(1), Seed(1).index(0));
    }

    #[test]
    fn derived_seeds_are_stable_across_builds() {
        // Pinned: a change here silently changes every procedural data set.
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
