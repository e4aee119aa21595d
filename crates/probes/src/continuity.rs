//! Distance scores and accuracy under each perturbation and level.
//!
//! For every image `x` of a set and every perturbation `P` (kind, level),
//! `DS(x, P(x)) = ||F(P(x)) - F(x)||^2` with `F` the logits (summed over
//! classes, averaged over images: the paper's reduction), plus the accuracy
//! on `P(x)`. Semantic continuity (Sec. 4.2) means small DS under the
//! photometric kinds; reliance on semantics (Sec. 4.3) means low accuracy
//! under the semantic-destroying kinds.

use crate::stats::median_of_sorted;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, D};
use sc_core::{Classifier, Level, Seed};
use sc_data::{ImageSet, Order};
use sc_perturb::{Perturbation, PerturbationKind};

/// What to sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOptions {
    /// The perturbation kinds, in report order.
    pub kinds: Vec<PerturbationKind>,
    /// The levels of each kind.
    pub levels: Vec<Level>,
    /// Images per forward pass (memory, not results, depends on it).
    pub batch_size: usize,
    /// Fixes the randomised perturbations.
    pub seed: Seed,
}

impl Default for SweepOptions {
    /// The four photometric kinds of Table 1 at levels 1-4.
    fn default() -> Self {
        SweepOptions {
            kinds: PerturbationKind::PHOTOMETRIC.to_vec(),
            levels: Level::ALL.to_vec(),
            batch_size: 256,
            seed: Seed(0),
        }
    }
}

/// DS and accuracy for one perturbation at one level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepEntry {
    /// The kind's name ([`PerturbationKind::name`]).
    pub kind: String,
    /// The level, 1-4.
    pub level: u8,
    /// The perturbation's parameters at this level, e.g. `delta`.
    pub params: Vec<(String, f64)>,
    /// Mean over images of `DS(x, P(x))`.
    pub mean_ds: f64,
    /// Half-width of the 95% confidence interval of `mean_ds` (normal approximation).
    pub ds_ci95: f64,
    /// Median of `DS(x, P(x))`.
    pub median_ds: f64,
    /// Accuracy on `P(x)`.
    pub accuracy: f64,
}

/// A perturbation (kind, level) that the sweep did not measure because it
/// cannot act on the set's images ([`PerturbationKind::not_applicable`]):
/// e.g. hue on gray images, which would otherwise read as DS = 0.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NotApplicable {
    /// The kind's name.
    pub kind: String,
    /// The level, 1-4.
    pub level: u8,
    /// Why it does not apply, in words.
    pub reason: String,
}

/// The result of [`perturbation_sweep`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SweepReport {
    /// The classifier's name.
    pub model: String,
    /// Images swept.
    pub images: usize,
    /// Accuracy on the unperturbed images.
    pub clean_accuracy: f64,
    /// Mean `DS(x_i, x_j)` over every pair of two different images of the
    /// same class (the Fig. 1 reference, Sec. 2.2): the unit of the
    /// scale-free DS (`mean_ds / same_class_ds`), which compares models whose
    /// logits have different scales. `None` when no class has two images.
    pub same_class_ds: Option<f64>,
    /// How DS is reduced, stated in every report (the ALP code averages
    /// over classes instead; see PAPER.md).
    pub reduction: &'static str,
    /// The measured perturbations, in the order of the options.
    pub entries: Vec<SweepEntry>,
    /// The requested perturbations that do not apply to these images, with
    /// the reason; never silently dropped.
    pub not_applicable: Vec<NotApplicable>,
}

impl SweepReport {
    /// The entry for `kind` at `level`.
    pub fn get(&self, kind: PerturbationKind, level: Level) -> Option<&SweepEntry> {
        self.entries
            .iter()
            .find(|e| e.kind == kind.name() && e.level == level.get())
    }
}

/// Per class: the number of images, the sum of their logit vectors and of
/// their squared norms. Over the `n` images of a class,
/// `sum_{i<j} ||f_i - f_j||^2 = n sum_i ||f_i||^2 - ||sum_i f_i||^2`, so
/// the mean DS over all same-class pairs needs one pass and no pair loop.
#[derive(Default)]
struct SameClassSums {
    /// class -> (count, sum of logits, sum of squared norms).
    sums: std::collections::BTreeMap<u32, (f64, Vec<f64>, f64)>,
}

impl SameClassSums {
    fn add(&mut self, logits: &Tensor, labels: &Tensor) -> Result<()> {
        let rows = logits.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let labels = labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        for (row, label) in rows.into_iter().zip(labels) {
            let entry = self
                .sums
                .entry(label)
                .or_insert_with(|| (0.0, vec![0.0; row.len()], 0.0));
            entry.0 += 1.0;
            entry.2 += row.iter().map(|v| v * v).sum::<f64>();
            for (s, v) in entry.1.iter_mut().zip(&row) {
                *s += v;
            }
        }
        Ok(())
    }

    fn mean_pair_ds(&self) -> Option<f64> {
        let (mut total, mut pairs) = (0.0, 0.0);
        for (n, sum, sq) in self.sums.values() {
            total += n * sq - sum.iter().map(|v| v * v).sum::<f64>();
            pairs += n * (n - 1.0) / 2.0;
        }
        (pairs > 0.0).then(|| total / pairs)
    }
}

fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    Ok(logits
        .argmax(D::Minus1)?
        .eq(labels)?
        .to_dtype(DType::F64)?
        .sum_all()?
        .to_scalar::<f64>()?)
}

/// Checks that `model` was made for `set`: the same number of classes
/// and the same image shape. Otherwise accuracies would compare labels of
/// one class list with predictions over another (a silent wrong number).
pub(crate) fn check_fit(model: &dyn Classifier, set: &ImageSet) -> Result<()> {
    let problem = if set.num_classes() != model.num_classes() {
        format!(
            "the images have {} classes, the model {} has {}",
            set.num_classes(),
            model.name(),
            model.num_classes()
        )
    } else if set.image_shape() != model.input_shape() {
        format!(
            "the images are {:?} (C, H, W), the model {} takes {:?}",
            set.image_shape(),
            model.name(),
            model.input_shape()
        )
    } else {
        return Ok(());
    };
    Err(Error::InvalidArgument {
        name: "image set",
        problem,
    })
}

/// A perturbation to measure: its kind, level and the perturbation itself.
pub(crate) type Measured = (PerturbationKind, Level, Box<dyn Perturbation>);

/// Every (kind, level) pair of `kinds` x `levels`, in that order, split into
/// those that can act on images of `image_shape` and those that cannot,
/// with the reason ([`PerturbationKind::not_applicable`]). Shared by every
/// probe that iterates the paper's perturbations, so none of them reads a
/// perturbation that is the identity as DS = 0.
pub(crate) fn applicable_perturbations(
    kinds: &[PerturbationKind],
    levels: &[Level],
    image_shape: [usize; 3],
) -> Result<(Vec<Measured>, Vec<NotApplicable>)> {
    let mut not_applicable = Vec::new();
    let mut perturbations = Vec::new();
    for &kind in kinds {
        for &level in levels {
            match kind.not_applicable(level, image_shape) {
                Some(reason) => not_applicable.push(NotApplicable {
                    kind: kind.name().to_string(),
                    level: level.get(),
                    reason,
                }),
                None => perturbations.push((kind, level, kind.at_level(level)?)),
            }
        }
    }
    Ok((perturbations, not_applicable))
}

/// Sweeps every kind and level of `opts` over `set`. Pairs that cannot act
/// on the set's images go to [`SweepReport::not_applicable`] with their
/// reason; a model whose classes or input shape differ from the set's is an
/// error.
pub fn perturbation_sweep(
    model: &dyn Classifier,
    set: &ImageSet,
    opts: &SweepOptions,
    device: &Device,
) -> Result<SweepReport> {
    if set.is_empty() {
        return Err(Error::InvalidArgument {
            name: "image set",
            problem: "it is empty".into(),
        });
    }
    if opts.batch_size == 0 {
        return Err(Error::InvalidArgument {
            name: "batch size",
            problem: "must be at least 1".into(),
        });
    }
    check_fit(model, set)?;
    let (perturbations, not_applicable) =
        applicable_perturbations(&opts.kinds, &opts.levels, set.image_shape())?;
    let mut ds: Vec<Vec<f64>> = vec![Vec::with_capacity(set.len()); perturbations.len()];
    let mut correct = vec![0.0; perturbations.len()];
    let mut clean_correct = 0.0;
    let mut classes = SameClassSums::default();
    for (b, batch) in set
        .batches(opts.batch_size, Order::Sequential, false, device)?
        .enumerate()
    {
        let batch = batch?;
        let clean = model.logits(&batch.images)?;
        clean_correct += count_correct(&clean, &batch.labels)?;
        classes.add(&clean, &batch.labels)?;
        for (i, (kind, level, p)) in perturbations.iter().enumerate() {
            let mut rng = opts
                .seed
                .derive(kind.name())
                .index(u64::from(level.get()))
                .index(b as u64)
                .stream("sweep");
            let logits = model.logits(&p.apply(&batch.images, &mut rng)?)?;
            ds[i].extend(
                sc_loss::ds(&clean, &logits)?
                    .to_dtype(DType::F64)?
                    .to_vec1::<f64>()?,
            );
            correct[i] += count_correct(&logits, &batch.labels)?;
        }
    }
    let n = set.len() as f64;
    let entries = perturbations
        .iter()
        .zip(ds)
        .zip(correct)
        .map(|(((kind, level, p), mut values), c)| {
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            values.sort_by(f64::total_cmp);
            // The set is not empty (checked above), so neither is `values`.
            let median = median_of_sorted(&values).unwrap_or(f64::NAN);
            SweepEntry {
                kind: kind.name().to_string(),
                level: level.get(),
                params: p
                    .params()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                mean_ds: mean,
                ds_ci95: 1.96 * (var / n).sqrt(),
                median_ds: median,
                accuracy: c / n,
            }
        })
        .collect();
    Ok(SweepReport {
        model: model.name().to_string(),
        images: set.len(),
        clean_accuracy: clean_correct / n,
        same_class_ds: classes.mean_pair_ds(),
        reduction: "DS summed over classes, averaged over images",
        entries,
        not_applicable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits = the mean of each channel, scaled: DS under brightness `d`
    /// is exactly `3 * (s * d/255)^2` where no pixel clips.
    struct Means(f64);
    impl Classifier for Means {
        fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            x.mean((2, 3))?.affine(self.0, 0.0)
        }
        fn num_classes(&self) -> usize {
            3
        }
        fn input_shape(&self) -> [usize; 3] {
            [3, 4, 4]
        }
        fn name(&self) -> &str {
            "means"
        }
    }

    fn set() -> ImageSet {
        // Mid-gray images: no clipping under any brightness level.
        let n = 6;
        let pixels: Vec<u8> = (0..n * 48).map(|i| 100 + (i % 7) as u8).collect();
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
        ImageSet::new(
            pixels,
            [3, 4, 4],
            labels,
            vec!["a".into(), "b".into(), "c".into()],
        )
        .unwrap()
    }

    #[test]
    fn ds_under_brightness_matches_the_closed_form() {
        let opts = SweepOptions {
            kinds: vec![PerturbationKind::Brightness],
            batch_size: 4,
            ..SweepOptions::default()
        };
        let r = perturbation_sweep(&Means(2.0), &set(), &opts, &Device::Cpu).unwrap();
        assert_eq!(r.entries.len(), 4);
        for (e, d) in r.entries.iter().zip([16.0, 32.0, 48.0, 64.0]) {
            let expect = 3.0 * (2.0 * d / 255.0f64).powi(2);
            assert!(
                (e.mean_ds - expect).abs() < 1e-5,
                "{}: {} vs {expect}",
                e.level,
                e.mean_ds
            );
            assert!(e.ds_ci95 < 1e-5);
            assert!((e.median_ds - expect).abs() < 1e-5);
        }
        assert_eq!(
            r.get(PerturbationKind::Brightness, Level::new(2).unwrap())
                .unwrap()
                .level,
            2
        );
    }

    #[test]
    fn same_class_ds_is_the_mean_over_every_same_class_pair() {
        let set = set();
        let model = Means(3.0);
        let opts = SweepOptions {
            kinds: vec![PerturbationKind::Brightness],
            levels: vec![Level::new(1).unwrap()],
            batch_size: 4,
            ..SweepOptions::default()
        };
        let r = perturbation_sweep(&model, &set, &opts, &Device::Cpu).unwrap();
        // Naive: every pair i < j with equal labels, DS summed over classes.
        let batch = set
            .batches(6, Order::Sequential, false, &Device::Cpu)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let f = model
            .logits(&batch.images)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let labels = batch.labels.to_vec1::<u32>().unwrap();
        let (mut sum, mut pairs) = (0.0f64, 0);
        for i in 0..f.len() {
            for j in i + 1..f.len() {
                if labels[i] == labels[j] {
                    sum += f[i]
                        .iter()
                        .zip(&f[j])
                        .map(|(a, b)| f64::from(a - b).powi(2))
                        .sum::<f64>();
                    pairs += 1;
                }
            }
        }
        assert_eq!(pairs, 3);
        let got = r.same_class_ds.unwrap();
        assert!(got > 1e-6, "the images differ: {got}");
        assert!(
            (got - sum / pairs as f64).abs() < 1e-6 * got.max(1.0),
            "{got} vs {}",
            sum / pairs as f64
        );
        // One image per class: no pair, no reference.
        let three = ImageSet::new(
            vec![100; 3 * 48],
            [3, 4, 4],
            vec![0, 1, 2],
            vec!["a".into(), "b".into(), "c".into()],
        )
        .unwrap();
        let r = perturbation_sweep(&model, &three, &opts, &Device::Cpu).unwrap();
        assert_eq!(r.same_class_ds, None);
    }

    #[test]
    fn spatial_permutations_leave_channel_means_and_accuracy_alone() {
        let opts = SweepOptions {
            kinds: vec![
                PerturbationKind::SlidingPuzzle,
                PerturbationKind::CentreShuffle,
            ],
            levels: vec![Level::new(1).unwrap(), Level::new(2).unwrap()],
            ..SweepOptions::default()
        };
        let r = perturbation_sweep(&Means(1.0), &set(), &opts, &Device::Cpu).unwrap();
        for e in &r.entries {
            assert!(e.mean_ds < 1e-10, "{} {}: {}", e.kind, e.level, e.mean_ds);
            assert_eq!(e.accuracy, r.clean_accuracy);
        }
    }

    /// Logits = per-channel means of 1-channel images, for 3 classes.
    struct GrayMeans;
    impl Classifier for GrayMeans {
        fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            x.mean((2, 3))?.repeat((1, 3))
        }
        fn num_classes(&self) -> usize {
            3
        }
        fn input_shape(&self) -> [usize; 3] {
            [1, 4, 4]
        }
        fn name(&self) -> &str {
            "gray-means"
        }
    }

    fn gray_set() -> ImageSet {
        let n = 6;
        let pixels: Vec<u8> = (0..n * 16).map(|i| 100 + (i % 7) as u8).collect();
        let labels: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
        ImageSet::new(
            pixels,
            [1, 4, 4],
            labels,
            vec!["a".into(), "b".into(), "c".into()],
        )
        .unwrap()
    }

    #[test]
    fn colour_kinds_on_gray_images_are_not_applicable_not_zero() {
        let opts = SweepOptions {
            kinds: PerturbationKind::ALL.to_vec(),
            ..SweepOptions::default()
        };
        let r = perturbation_sweep(&GrayMeans, &gray_set(), &opts, &Device::Cpu).unwrap();
        let skipped: Vec<(&str, u8)> = r
            .not_applicable
            .iter()
            .map(|n| (n.kind.as_str(), n.level))
            .collect();
        let mut expect = Vec::new();
        for kind in ["saturation", "hue", "channel-translation"] {
            expect.extend((1..=4).map(|l| (kind, l)));
        }
        // 4x4 images: puzzle grids 8 and 16 do not divide them.
        expect.extend([("sliding-puzzle", 3), ("sliding-puzzle", 4)]);
        assert_eq!(skipped, expect);
        assert!(r.not_applicable[0].reason.contains("identity"));
        assert!(r.not_applicable[8].reason.contains("needs 3 channels"));
        // Every other pair was measured, none is in both lists.
        assert_eq!(r.entries.len(), 7 * 4 - expect.len());
        for e in &r.entries {
            assert!(!skipped.contains(&(e.kind.as_str(), e.level)), "{e:?}");
        }
        // Brightness on gray images is measured: one channel, 3 copies.
        let b = r
            .get(PerturbationKind::Brightness, Level::new(1).unwrap())
            .unwrap();
        let expect = 3.0 * (16.0 / 255.0f64).powi(2);
        assert!(
            (b.mean_ds - expect).abs() < 1e-5,
            "{} vs {expect}",
            b.mean_ds
        );
        assert!(r
            .get(PerturbationKind::Hue, Level::new(1).unwrap())
            .is_none());
    }

    #[test]
    fn a_model_made_for_other_data_is_an_error_naming_both() {
        let opts = SweepOptions::default();
        let e = perturbation_sweep(&GrayMeans, &set(), &opts, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[3, 4, 4]") && e.contains("[1, 4, 4]"), "{e}");
        let four = ImageSet::new(
            vec![100; 4 * 48],
            [3, 4, 4],
            vec![0, 1, 2, 3],
            ["a", "b", "c", "d"].map(String::from).to_vec(),
        )
        .unwrap();
        let e = perturbation_sweep(&Means(1.0), &four, &opts, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(e.contains("4 classes") && e.contains("has 3"), "{e}");
    }

    #[test]
    fn empty_sets_and_zero_batches_are_errors() {
        let empty = set().take(0);
        assert!(
            perturbation_sweep(&Means(1.0), &empty, &SweepOptions::default(), &Device::Cpu)
                .is_err()
        );
        let opts = SweepOptions {
            batch_size: 0,
            ..SweepOptions::default()
        };
        assert!(perturbation_sweep(&Means(1.0), &set(), &opts, &Device::Cpu).is_err());
    }
}
