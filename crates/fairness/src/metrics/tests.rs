//! Each number against a hand count or a classifier whose answer is known
//! by construction.

use super::*;
use sc_core::Seed;
use sc_data::colorful::{colorize_split, swap_backgrounds, ColorfulOptions};

/// `n` gray 4x4 images of two classes: the stroke is the left column
/// (class 0) or the right column (class 1) of the central 2x2 block; the
/// corners are background.
fn digits(n: usize) -> ImageSet {
    let labels: Vec<u32> = (0..n as u32).map(|i| (i * 7 / 3) % 2).collect();
    let mut pixels = Vec::new();
    for &l in &labels {
        for p in 0..16 {
            let (x, y) = (p % 4, p / 4);
            let stroke = (1..3).contains(&y) && x == 1 + l as usize;
            pixels.push(if stroke { 220 } else { 0 });
        }
    }
    ImageSet::new(
        pixels,
        [1, 4, 4],
        labels,
        vec!["left".into(), "right".into()],
    )
    .unwrap()
}

/// Logits `[red, blue]` of the top-left corner: reads only the background.
struct CornerColour;

impl Classifier for CornerColour {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let corner = x.narrow(2, 0, 1)?.narrow(3, 0, 1)?.flatten_from(1)?;
        Tensor::cat(&[corner.narrow(1, 0, 1)?, corner.narrow(1, 2, 1)?], 1)
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        [3, 4, 4]
    }
    fn name(&self) -> &str {
        "corner-colour"
    }
}

/// Logits `[green at (1, 1), green at (2, 1)]`: reads only the two stroke
/// positions, so it is right on every image and blind to the background
/// (red and blue have no green).
struct Stroke;

impl Classifier for Stroke {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let row = x.narrow(1, 1, 1)?.narrow(2, 1, 1)?.flatten_from(1)?;
        row.narrow(1, 1, 2)
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        [3, 4, 4]
    }
    fn name(&self) -> &str {
        "stroke"
    }
}

/// Always class 0.
struct Constant;

impl Classifier for Constant {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        Tensor::from_vec([1f32, 0.0].repeat(n), (n, 2), x.device())
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        [3, 4, 4]
    }
    fn name(&self) -> &str {
        "constant"
    }
}

fn colorful(n: usize, share_red: f64) -> (ImageSet, ImageSet) {
    let options = ColorfulOptions::default();
    let set = colorize_split(&digits(n), share_red, &options, Seed(5)).unwrap();
    let cf = swap_backgrounds(&set, &options).unwrap();
    (set, cf)
}

#[test]
fn a_model_that_reads_only_the_background_flips_on_every_image() {
    let (set, cf) = colorful(40, 0.25);
    let r = evaluate(&CornerColour, &set, &cf, 7, &Device::Cpu).unwrap();
    assert_eq!(r.flip_rate, 1.0);
    // It predicts "left" (0) on red and "right" (1) on blue: its accuracy
    // per group is the share of that group's images with that label,
    // counted here directly.
    let groups = set.groups().unwrap().of_image();
    for (g, want_label) in [(0u32, 0u32), (1, 1)] {
        let members: Vec<usize> = (0..40).filter(|&i| groups[i] == g).collect();
        let hits = members
            .iter()
            .filter(|&&i| set.labels()[i] == want_label)
            .count();
        let want = hits as f64 / members.len() as f64;
        assert_eq!(r.groups[g as usize].accuracy, Some(want), "group {g}");
        assert_eq!(r.groups[g as usize].n, members.len());
    }
    assert_eq!((r.groups[0].n, r.groups[1].n), (10, 30));
    // On the counterfactual every prediction is the other class: with two
    // classes, right becomes wrong and wrong becomes right.
    assert!((r.counterfactual_accuracy - (1.0 - r.accuracy)).abs() < 1e-12);
}

#[test]
fn a_model_blind_to_the_background_never_flips() {
    let (set, cf) = colorful(40, 0.5);
    let r = evaluate(&Stroke, &set, &cf, 16, &Device::Cpu).unwrap();
    assert_eq!(r.flip_rate, 0.0);
    assert_eq!(r.accuracy, 1.0);
    assert_eq!(r.counterfactual_accuracy, 1.0);
    assert_eq!(r.gap, Some(0.0));
    assert_eq!(r.groups[0].group, "red");
    assert_eq!(r.groups[1].group, "blue");
}

#[test]
fn group_accuracies_and_gap_match_a_hand_count() {
    // Labels 0 0 1 | 1 0 1 in groups red red red | blue blue blue.
    let base = digits(6);
    let pixels = base.pixels().iter().map(|&v| v / 2).collect::<Vec<u8>>();
    let labels = vec![0, 0, 1, 1, 0, 1];
    let gray = ImageSet::new(pixels, [1, 4, 4], labels, base.classes().to_vec()).unwrap();
    let set = sc_data::convert::convert(
        &gray,
        &sc_data::convert::ConvertOptions {
            channels: Some(3),
            resize: None,
        },
    )
    .unwrap()
    .with_groups(
        vec!["red".to_string(), "blue".to_string()],
        vec![0, 0, 0, 1, 1, 1],
    )
    .unwrap();
    let r = evaluate(&Constant, &set, &set, 4, &Device::Cpu).unwrap();
    assert_eq!(r.accuracy, 0.5);
    assert_eq!(r.groups[0].accuracy, Some(2.0 / 3.0));
    assert_eq!(r.groups[1].accuracy, Some(1.0 / 3.0));
    assert!((r.gap.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(r.flip_rate, 0.0);
    assert_eq!(r.counterfactual_accuracy, 0.5);
}

#[test]
fn an_empty_group_has_no_accuracy_and_no_gap() {
    let (set, cf) = colorful(10, 1.0);
    let r = evaluate(&Stroke, &set, &cf, 4, &Device::Cpu).unwrap();
    assert_eq!(r.groups[1].n, 0);
    assert_eq!(r.groups[1].accuracy, None);
    assert_eq!(r.gap, None);
}

#[test]
fn sets_and_models_that_do_not_fit_are_errors() {
    let (set, cf) = colorful(10, 0.5);
    let plain = sc_data::convert::convert(
        &digits(10),
        &sc_data::convert::ConvertOptions {
            channels: Some(3),
            resize: None,
        },
    )
    .unwrap();
    let e = |r: Result<FairnessReport>| r.unwrap_err().to_string();
    assert!(e(evaluate(&Stroke, &plain, &cf, 4, &Device::Cpu)).contains("no groups"));
    assert!(e(evaluate(&Stroke, &set, &cf.take(5), 4, &Device::Cpu)).contains("counterfactual"));
    struct Wide;
    impl Classifier for Wide {
        fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            x.flatten_from(1)?.narrow(1, 0, 3)
        }
        fn num_classes(&self) -> usize {
            3
        }
        fn input_shape(&self) -> [usize; 3] {
            [3, 4, 4]
        }
        fn name(&self) -> &str {
            "wide"
        }
    }
    assert!(e(evaluate(&Wide, &set, &cf, 4, &Device::Cpu)).contains("3 classes"));
}
