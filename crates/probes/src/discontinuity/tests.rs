use super::*;
use candle_core::Tensor;
use rand::Rng;

/// The Fig. 1 count the slow way: every ordered pair through
/// `sc_loss::ds` on one-row tensors (f32; the test logits are small
/// integers and halves, exact in f32).
fn brute_force_counts(clean: &[f64], perturbed: &[f64], labels: &[u32], k: usize) -> Vec<usize> {
    let row = |v: &[f64], i: usize| {
        let r: Vec<f32> = v[i * k..(i + 1) * k].iter().map(|&x| x as f32).collect();
        Tensor::from_vec(r, (1, k), &Device::Cpu).unwrap()
    };
    let ds =
        |a: &Tensor, b: &Tensor| -> f32 { sc_loss::ds(a, b).unwrap().to_vec1::<f32>().unwrap()[0] };
    (0..labels.len())
        .map(|a| {
            let own = ds(&row(clean, a), &row(perturbed, a));
            (0..labels.len())
                .filter(|&b| b != a && labels[b] == labels[a])
                .filter(|&b| ds(&row(clean, a), &row(clean, b)) < own)
                .count()
        })
        .collect()
}

#[test]
fn a_hand_example_has_the_hand_counted_statistic() {
    // Class 0 at 0, 1 and 5 on the first logit, each perturbed by +2
    // (own DS 4); image 3 of class 1 sits at 0.5, closer to all of them,
    // and must not count. A0: B1 (DS 1) counts, B2 (25) not; A1: B0 (1);
    // A2: none (25, 16). Image 3: alone in its class.
    let clean = [0.0, 0.0, 1.0, 0.0, 5.0, 0.0, 0.5, 0.0];
    let perturbed = [2.0, 0.0, 3.0, 0.0, 7.0, 0.0, 2.5, 0.0];
    let labels = [0, 0, 0, 1];
    let counts = closer_same_class_counts(&clean, &perturbed, &labels, 2).unwrap();
    assert_eq!(counts, vec![1, 1, 0, 0]);
    assert_eq!(fraction_and_mean_rank(&counts), (0.5, 0.5));
    // A tie (DS(A, B) = DS(A, P(A))) is not "closer".
    let tie = closer_same_class_counts(&[0.0, 2.0], &[2.0, 4.0], &[0, 0], 1).unwrap();
    assert_eq!(tie, vec![0, 0]);
}

#[test]
fn random_logits_give_the_brute_force_count() {
    let mut rng = Seed(9).stream("fig1");
    let (n, k) = (40, 5);
    // Halves in [-4, 4]: exact in f32, many ties among distances.
    let mut draw = |m: usize| -> Vec<f64> {
        (0..m)
            .map(|_| f64::from(rng.random_range(-8i32..=8)) / 2.0)
            .collect()
    };
    let clean = draw(n * k);
    let perturbed = draw(n * k);
    let labels: Vec<u32> = (0..n as u32).map(|i| (i * 7) % 3).collect();
    let counts = closer_same_class_counts(&clean, &perturbed, &labels, k).unwrap();
    assert_eq!(counts, brute_force_counts(&clean, &perturbed, &labels, k));
    assert!(counts.iter().any(|&c| c > 0) && counts.contains(&0));
    assert!(closer_same_class_counts(&clean[1..], &perturbed, &labels, k).is_err());
}

/// Logits = the first `classes` pixel values of the red channel, times 10:
/// brightness moves every logit up, images differ in their pixels.
struct FirstPixels {
    classes: usize,
    shape: [usize; 3],
}
impl Classifier for FirstPixels {
    fn logits(&self, x: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
        x.narrow(1, 0, 1)?
            .flatten_from(1)?
            .narrow(1, 0, self.classes)?
            .affine(10.0, 0.0)
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn input_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn name(&self) -> &str {
        "first-pixels"
    }
}

/// `n` random 4x4 images, labels alternating 0, 1, with `classes` class names.
fn set(n: usize, channels: usize, classes: usize) -> ImageSet {
    let per = channels * 16;
    let mut rng = Seed(1).stream("pixels");
    let pixels: Vec<u8> = (0..n * per).map(|_| rng.random_range(40..200)).collect();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
    let names: Vec<String> = (0..classes).map(|c| format!("class{c}")).collect();
    ImageSet::new(pixels, [channels, 4, 4], labels, names).unwrap()
}

#[test]
fn fig1_on_a_model_equals_the_count_on_its_logits() {
    let model = FirstPixels {
        classes: 2,
        shape: [3, 4, 4],
    };
    let data = set(12, 3, 2);
    let opts = Fig1Options {
        batch_size: 5,
        ..Fig1Options::default()
    };
    let r = fig1(&model, &data, &opts, &Device::Cpu).unwrap();
    assert_eq!(r.entries.len(), 16);
    assert!(r.not_applicable.is_empty());
    // Independent: perturb the whole set in one batch and run the model.
    let images = data.images(&Device::Cpu).unwrap();
    let logits = |t: &candle_core::Tensor| -> Vec<f64> {
        model
            .logits(t)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let clean = logits(&images);
    for e in &r.entries {
        let kind: PerturbationKind = e.perturbation.parse().unwrap();
        let p = kind
            .at_level(Level::new(i64::from(e.level)).unwrap())
            .unwrap();
        let pert = logits(&p.apply(&images, &mut Seed(0).stream("x")).unwrap());
        let counts = brute_force_counts(&clean, &pert, data.labels(), 2);
        let (f, m) = fraction_and_mean_rank(&counts);
        assert!(
            (e.fraction - f).abs() < 1e-12 && (e.mean_rank - m).abs() < 1e-12,
            "{e:?}"
        );
    }
    // Stronger brightness moves every image further: the counts grow.
    let b = |l: u8| {
        r.entries
            .iter()
            .find(|e| e.perturbation == "brightness" && e.level == l)
            .unwrap()
            .mean_rank
    };
    assert!(b(4) >= b(1));
    // Gray images: hue is listed as not applicable, never measured.
    let gray = FirstPixels {
        classes: 2,
        shape: [1, 4, 4],
    };
    let r = fig1(&gray, &set(12, 1, 2), &opts, &Device::Cpu).unwrap();
    assert!(r
        .entries
        .iter()
        .all(|e| e.perturbation != "hue" && e.perturbation != "saturation"));
    assert_eq!(r.not_applicable.len(), 8);
}

#[test]
fn fig2_embeds_the_class_the_anchor_and_its_versions_repeatably() {
    let model = FirstPixels {
        classes: 3,
        shape: [3, 4, 4],
    };
    let data = set(30, 3, 3);
    let opts = Fig2Options {
        tsne: TsneOptions {
            iterations: 300,
            ..TsneOptions::default()
        },
        umap: UmapOptions {
            epochs: Some(100),
            ..UmapOptions::default()
        },
        ..Fig2Options::default()
    };
    let r = fig2(&model, &data, 1, 3, &opts, &Device::Cpu).unwrap();
    // Class 1: the 15 odd positions, then the 4 perturbed versions of 3.
    assert_eq!(r.points.len(), 19);
    let positions: Vec<usize> = r.points.iter().map(|p| p.position).collect();
    let mut expect: Vec<usize> = (1..30).step_by(2).collect();
    expect.extend([3; 4]);
    assert_eq!(positions, expect);
    let roles: Vec<&str> = r.points.iter().map(|p| p.role.as_str()).collect();
    assert_eq!(roles.iter().filter(|&&r| r == "anchor").count(), 1);
    assert_eq!(roles[1], "anchor");
    assert_eq!(
        &roles[15..],
        [
            "perturbed-brightness",
            "perturbed-contrast",
            "perturbed-saturation",
            "perturbed-hue"
        ]
    );
    assert!(r.points.iter().all(|p| p.label == 1));
    let e = &r.embeddings;
    assert_eq!(e.pca.explained_variance_ratio.len(), 3);
    for t in [
        e.pca.trustworthiness,
        e.tsne.trustworthiness,
        e.umap.trustworthiness,
    ] {
        assert!((0.0..=1.0).contains(&t), "{t}");
    }
    // 19 points: perplexity lowered to 6, n_neighbors kept at 15.
    assert_eq!(e.tsne.perplexity, 6.0);
    assert_eq!(e.umap.n_neighbors, 15);
    assert_eq!(fig2(&model, &data, 1, 3, &opts, &Device::Cpu).unwrap(), r);
    // Both figures from one pass over the clean images equal each alone.
    let f1 = Fig1Options::default();
    let (both1, both2) = discontinuity(&model, &data, (1, 3), &f1, &opts, &Device::Cpu).unwrap();
    assert_eq!(both2, r);
    assert_eq!(both1, fig1(&model, &data, &f1, &Device::Cpu).unwrap());
    // The anchor must be of the class, and inside the set.
    let err = fig2(&model, &data, 1, 2, &opts, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("image 2 is of class 0"), "{err}");
    assert!(fig2(&model, &data, 1, 30, &opts, &Device::Cpu).is_err());
    // Too few points for k = 5 is an error naming the class.
    let err = fig2(&model, &data.take(8), 1, 3, &opts, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("class1 (class 1) has 4 selected images"),
        "{err}"
    );
}
