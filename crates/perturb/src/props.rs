//! Property tests of the perturbation invariants, on random images and parameters.

use crate::photometric::{Brightness, Contrast, Hue, Saturation};
use crate::spatial::{CentreShuffle, ChannelTranslation, SlidingPuzzle};
use crate::{Perturbation, PerturbationKind};
use candle_core::{Device, Tensor};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use sc_core::{Level, Seed};

fn images(n: usize, c: usize, h: usize, w: usize, seed: u64) -> Tensor {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Some exact 0s and 1s, so clamping edges are exercised.
    let v: Vec<f32> = (0..n * c * h * w)
        .map(|_| match rng.random_range(0..10) {
            0 => 0.0,
            1 => 1.0,
            _ => rng.random_range(0.0..=1.0),
        })
        .collect();
    Tensor::from_vec(v, (n, c, h, w), &Device::Cpu).unwrap()
}

fn flat(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1().unwrap()
}

fn batch() -> impl Strategy<Value = Tensor> {
    (
        1usize..3,
        prop_oneof![Just(1usize), Just(3usize)],
        2usize..10,
        2usize..10,
        any::<u64>(),
    )
        .prop_map(|(n, c, h, w, s)| images(n, c, h, w, s))
}

fn rgb_batch() -> impl Strategy<Value = Tensor> {
    (1usize..3, 2usize..10, 2usize..10, any::<u64>()).prop_map(|(n, h, w, s)| images(n, 3, h, w, s))
}

fn any_perturbation() -> impl Strategy<Value = Box<dyn Perturbation>> {
    prop_oneof![
        (-255.0f64..255.0).prop_map(|d| Box::new(Brightness { delta: d }) as Box<dyn Perturbation>),
        (0.0f64..3.0).prop_map(|f| Box::new(Contrast { factor: f }) as Box<dyn Perturbation>),
        (0.0f64..3.0).prop_map(|f| Box::new(Saturation { factor: f }) as Box<dyn Perturbation>),
        (-2.0f64..2.0).prop_map(|h| Box::new(Hue { shift: h }) as Box<dyn Perturbation>),
        (0.0f64..=1.0).prop_map(|a| Box::new(CentreShuffle { area: a }) as Box<dyn Perturbation>),
        (0usize..4, 1usize..8).prop_map(|(k, l)| Box::new(crate::RandomPhotometric::new(
            Level::new(1 + (k as i64 + l as i64) % 4).unwrap()
        )) as Box<dyn Perturbation>),
        (1i64..=4).prop_map(|l| Box::new(crate::photometric::PhotometricJitter::new(
            Level::new(l).unwrap()
        )) as Box<dyn Perturbation>),
    ]
}

fn sorted(mut v: Vec<f32>) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    v
}

/// Values of channel `c` of image `n`.
fn channel(x: &Tensor, n: usize, c: usize) -> Vec<f32> {
    flat(&x.get(n).unwrap().get(c).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn outputs_stay_in_unit_range_with_the_same_shape(x in batch(), p in any_perturbation(), seed in any::<u64>()) {
        let y = p.apply(&x, &mut Seed(seed).stream("p")).unwrap();
        prop_assert_eq!(y.dims(), x.dims());
        prop_assert!(flat(&y).iter().all(|v| (0.0..=1.0).contains(v)), "{} left [0, 1]", p.name());
    }

    #[test]
    fn zero_magnitude_is_the_identity(x in batch(), seed in any::<u64>()) {
        let identities: Vec<Box<dyn Perturbation>> = vec![
            Box::new(Brightness { delta: 0.0 }),
            Box::new(Contrast { factor: 1.0 }),
            Box::new(Saturation { factor: 1.0 }),
            Box::new(Hue { shift: 0.0 }),
            Box::new(CentreShuffle { area: 0.0 }),
            Box::new(SlidingPuzzle { grid: 1 }),
        ];
        let xv = flat(&x);
        for p in identities {
            let y = flat(&p.apply(&x, &mut Seed(seed).stream("p")).unwrap());
            // Hue goes through HSV and back: float noise only.
            let tol = if p.name() == "hue" { 2e-6 } else { 0.0 };
            for (a, b) in y.iter().zip(&xv) {
                prop_assert!((a - b).abs() <= tol, "{}: {a} vs {b}", p.name());
            }
        }
        if x.dim(1).unwrap() == 3 {
            let y = ChannelTranslation { fraction: 0.0 }.apply(&x, &mut Seed(seed).stream("p")).unwrap();
            prop_assert_eq!(flat(&y), xv);
        }
    }

    #[test]
    fn a_full_hue_turn_is_the_identity_and_shifts_undo(x in rgb_batch(), h in -0.5f64..0.5) {
        let mut rng = Seed(0).stream("p");
        let xv = flat(&x);
        let full = flat(&Hue { shift: 1.0 }.apply(&x, &mut rng).unwrap());
        for (a, b) in full.iter().zip(&xv) {
            prop_assert!((a - b).abs() <= 2e-6, "hue(1.0): {a} vs {b}");
        }
        let there = Hue { shift: h }.apply(&x, &mut rng).unwrap();
        let back = flat(&Hue { shift: -h }.apply(&there, &mut rng).unwrap());
        // Hue rotation never clips (it keeps value and saturation), so every
        // pixel is restored up to float noise.
        for (a, b) in back.iter().zip(&xv) {
            prop_assert!((a - b).abs() <= 1e-5, "hue({h}) then hue({}): {a} vs {b}", -h);
        }
    }

    #[test]
    fn brightness_is_monotone_in_delta(x in batch(), d1 in -255.0f64..255.0, d2 in -255.0f64..255.0) {
        let (lo, hi) = if d1 <= d2 { (d1, d2) } else { (d2, d1) };
        let mut rng = Seed(0).stream("p");
        let a = flat(&Brightness { delta: lo }.apply(&x, &mut rng).unwrap());
        let b = flat(&Brightness { delta: hi }.apply(&x, &mut rng).unwrap());
        prop_assert!(a.iter().zip(&b).all(|(a, b)| a <= b));
    }

    #[test]
    fn channel_translation_permutes_each_channel_and_inverts(x in rgb_batch(), level in 1i64..=4) {
        let (n, c, h, w) = x.dims4().unwrap();
        let fraction = crate::spatial::CHANNEL_FRACTIONS[(level - 1) as usize] * 4.0;
        let perm = ChannelTranslation { fraction: fraction.min(1.0) }.permutation([n, c, h, w]).unwrap();
        let y = perm.apply(&x).unwrap();
        for i in 0..n {
            for ch in 0..c {
                prop_assert_eq!(sorted(channel(&y, i, ch)), sorted(channel(&x, i, ch)));
            }
        }
        prop_assert_eq!(flat(&perm.inverse().apply(&y).unwrap()), flat(&x));
    }

    #[test]
    fn sliding_puzzle_permutes_each_channel_and_inverts(
        n in 1usize..3, c in prop_oneof![Just(1usize), Just(3usize)], k in 1usize..5,
        bh in 1usize..4, bw in 1usize..4, seed in any::<u64>()
    ) {
        let x = images(n, c, k * bh, k * bw, seed);
        let perm = SlidingPuzzle { grid: k }.permutation([n, c, k * bh, k * bw], &mut Seed(seed).stream("p")).unwrap();
        let y = perm.apply(&x).unwrap();
        for i in 0..n {
            for ch in 0..c {
                prop_assert_eq!(sorted(channel(&y, i, ch)), sorted(channel(&x, i, ch)));
            }
        }
        prop_assert_eq!(flat(&perm.inverse().apply(&y).unwrap()), flat(&x));
    }

    #[test]
    fn centre_shuffle_changes_only_the_centre_and_keeps_its_multiset(x in batch(), area in 0.0f64..=1.0, seed in any::<u64>()) {
        let (n, c, h, w) = x.dims4().unwrap();
        let p = CentreShuffle { area };
        let (top, left, rh, rw) = p.region(h, w);
        let y = p.apply(&x, &mut Seed(seed).stream("p")).unwrap();
        for i in 0..n {
            for ch in 0..c {
                let (xs, ys) = (channel(&x, i, ch), channel(&y, i, ch));
                let (mut xin, mut yin) = (vec![], vec![]);
                for r in 0..h {
                    for col in 0..w {
                        let k = r * w + col;
                        if (top..top + rh).contains(&r) && (left..left + rw).contains(&col) {
                            xin.push(xs[k]);
                            yin.push(ys[k]);
                        } else {
                            prop_assert_eq!(xs[k], ys[k], "pixel ({}, {}) outside the centre changed", r, col);
                        }
                    }
                }
                prop_assert_eq!(sorted(xin), sorted(yin));
            }
        }
    }

    #[test]
    fn every_named_kind_at_every_level_stays_in_range(seed in any::<u64>(), level in 1i64..=4) {
        let x = images(2, 3, 32, 32, seed);
        for kind in PerturbationKind::ALL {
            let p = kind.at_level(Level::new(level).unwrap()).unwrap();
            let y = p.apply(&x, &mut Seed(seed).stream("p")).unwrap();
            prop_assert!(flat(&y).iter().all(|v| (0.0..=1.0).contains(v)), "{kind} level {level}");
        }
    }

    /// The paper's P(x): every image is exactly one photometric kind,
    /// re-applied on its own with the drawn parameter, and that parameter
    /// lies in the level's range; the same seed draws the same choices.
    #[test]
    fn random_photometric_is_one_kind_per_image_within_its_level(
        x in batch(), level in 1i64..=4, seed in any::<u64>()
    ) {
        let p = crate::RandomPhotometric::new(Level::new(level).unwrap());
        let (n, c) = (x.dim(0).unwrap(), x.dim(1).unwrap());
        let y = p.apply(&x, &mut Seed(seed).stream("p")).unwrap();
        let choices = p.choose(n, c, &mut Seed(seed).stream("p"));
        prop_assert!(flat(&y).iter().all(|v| (0.0..=1.0).contains(v)));
        for (i, choice) in choices.iter().enumerate() {
            let (lo, hi) = p.range(choice.kind);
            prop_assert!((lo..=hi).contains(&choice.value), "{:?}", choice);
            prop_assert!(crate::RandomPhotometric::kinds(c).contains(&choice.kind));
            let one = x.narrow(0, i, 1).unwrap();
            let again = match choice.kind {
                PerturbationKind::Brightness => crate::photometric::brightness(&one, &[choice.value]),
                PerturbationKind::Contrast => crate::photometric::contrast(&one, &[choice.value]),
                PerturbationKind::Saturation => crate::photometric::saturation(&one, &[choice.value]),
                _ => crate::photometric::hue(&one, &[choice.value]),
            }.unwrap();
            // Bit-equal: the batch runs the same per-image arithmetic.
            prop_assert_eq!(flat(&y.narrow(0, i, 1).unwrap()), flat(&again), "image {} {:?}", i, choice);
        }
    }
}
