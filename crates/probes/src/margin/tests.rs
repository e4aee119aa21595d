//! The margin probe against classifiers whose margins are known in closed form.

use super::*;
use crate::dct::dct_matrix;
use rand::Rng;
use sc_core::Seed;

const SHAPE: [usize; 3] = [3, 8, 8];
const D: usize = 3 * 8 * 8;

/// `logits = flatten(x) W^T + b`, with the weights kept in f64 on the host
/// for the closed form.
struct Linear {
    w: Vec<Vec<f64>>,
    b: Vec<f64>,
}

impl Linear {
    /// Gaussian weights; biases put every boundary through the grey image.
    fn random(classes: usize, seed: u64) -> Self {
        let mut rng = Seed(seed).stream("linear");
        let w: Vec<Vec<f64>> = (0..classes)
            .map(|_| sc_core::standard_normals(&mut rng, D))
            .collect();
        let b = w.iter().map(|r| -0.5 * r.iter().sum::<f64>()).collect();
        Linear { w, b }
    }

    fn host_logits(&self, x: &[f64]) -> Vec<f64> {
        self.w
            .iter()
            .zip(&self.b)
            .map(|(r, b)| r.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + b)
            .collect()
    }
}

impl Classifier for Linear {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let flat: Vec<f64> = self.w.iter().flatten().copied().collect();
        let w = Tensor::from_vec(flat, (self.w.len(), D), x.device())?.to_dtype(x.dtype())?;
        let b = Tensor::from_vec(self.b.clone(), self.b.len(), x.device())?.to_dtype(x.dtype())?;
        x.flatten_from(1)?.matmul(&w.t()?)?.broadcast_add(&b)
    }
    fn num_classes(&self) -> usize {
        self.w.len()
    }
    fn input_shape(&self) -> [usize; 3] {
        SHAPE
    }
    fn name(&self) -> &str {
        "linear"
    }
}

/// `||P v||` for the band `[start, start + size)^2` on every channel,
/// from the DCT coefficients of `v` computed by the separable transform
/// `C v C^T` per channel (a route independent of the basis tensor).
fn band_norm(v: &[f64], start: usize, size: usize) -> f64 {
    let c = dct_matrix(8);
    let mut sum = 0.0;
    for ch in 0..3 {
        let plane = &v[ch * 64..][..64];
        for u in start..start + size {
            for w in start..start + size {
                let mut coef = 0.0;
                for i in 0..8 {
                    for j in 0..8 {
                        coef += c[u * 8 + i] * c[w * 8 + j] * plane[i * 8 + j];
                    }
                }
                sum += coef * coef;
            }
        }
    }
    sum.sqrt()
}

fn images(n: usize, lo: u8, hi: u8, classes: usize, seed: u64) -> ImageSet {
    let mut rng = Seed(seed).stream("images");
    let pixels: Vec<u8> = (0..n * D).map(|_| rng.random_range(lo..=hi)).collect();
    let labels: Vec<u32> = (0..n as u32).map(|i| i % classes as u32).collect();
    let names: Vec<String> = (0..classes).map(|k| format!("c{k}")).collect();
    ImageSet::new(pixels, SHAPE, labels, names).unwrap()
}

/// On a linear model DeepFool's first step inside the band is exact: the
/// margin is `(1 + overshoot) (min_j |f_y - f_j| / ||P (w_y - w_j)|| + 1e-4)`
/// (the 1e-4 is DeepFool's nudge past the boundary), `y` the prediction.
/// Within 1%, for overlapping bands (step < size).
#[test]
fn band_margins_of_a_linear_model_are_the_distance_to_the_hyperplane_in_the_band() {
    let model = Linear::random(4, 1);
    let set = images(12, 110, 145, 4, 2);
    let opts = MarginOptions {
        band_size: 4,
        band_step: 2,
        batch_size: 5,
        ..MarginOptions::default()
    };
    let report = margin_probe(&model, &set, &opts, &Device::Cpu).unwrap();
    assert_eq!(report.bands.len(), 3);
    assert_eq!(report.per_image.len(), 36);
    let mut distinct = Vec::new();
    for m in &report.per_image {
        let x: Vec<f64> = set
            .image(m.image)
            .unwrap()
            .iter()
            .map(|&p| f64::from(p) / 255.0)
            .collect();
        let f = model.host_logits(&x);
        let y = m.prediction as usize;
        assert_eq!(
            f.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0,
            y
        );
        let start = report.bands[m.band].start;
        let dist = (0..4)
            .filter(|&j| j != y)
            .map(|j| {
                let dw: Vec<f64> = model.w[y]
                    .iter()
                    .zip(&model.w[j])
                    .map(|(a, b)| a - b)
                    .collect();
                (f[y] - f[j]).abs() / band_norm(&dw, start, 4)
            })
            .fold(f64::INFINITY, f64::min);
        let expected = 1.02 * (dist + 1e-4);
        assert!(m.flipped, "{m:?}");
        let got = m.margin.unwrap();
        assert!(
            (got - expected).abs() <= 0.01 * expected,
            "image {} band {}: {got} vs {expected}",
            m.image,
            m.band
        );
        distinct.push(got);
    }
    distinct.sort_by(f64::total_cmp);
    distinct.dedup_by(|a, b| (*a - *b).abs() < 1e-6);
    assert!(
        distinct.len() > 30,
        "margins should differ by image and band"
    );
    for b in &report.bands {
        assert_eq!(b.flipped_fraction, 1.0);
        assert_eq!(b.dim, 4 * 4 * 3);
        let mut band: Vec<f64> = report
            .per_image
            .iter()
            .filter(|m| m.band == b.band)
            .map(|m| m.margin.unwrap())
            .collect();
        band.sort_by(f64::total_cmp);
        let median = 0.5 * (band[5] + band[6]);
        assert_eq!(b.median_margin, Some(median));
        assert_eq!(b.median_margin_flipped, Some(median));
    }
}

/// Logits = the mean of each channel: the model sees only the DC
/// coefficient, so it is invariant along every band that excludes
/// frequency (0, 0): there nothing flips and no margin is reported, while
/// band 0 flips every image.
struct ChannelMeans;
impl Classifier for ChannelMeans {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.mean((2, 3))
    }
    fn num_classes(&self) -> usize {
        3
    }
    fn input_shape(&self) -> [usize; 3] {
        SHAPE
    }
    fn name(&self) -> &str {
        "channel-means"
    }
}

#[test]
fn a_band_the_model_is_blind_to_flips_nothing_and_reports_no_margin() {
    let set = images(6, 60, 200, 3, 3);
    let opts = MarginOptions {
        band_size: 4,
        band_step: 4,
        max_iter: 5,
        ..MarginOptions::default()
    };
    let report = margin_probe(&ChannelMeans, &set, &opts, &Device::Cpu).unwrap();
    let (low, high) = (&report.bands[0], &report.bands[1]);
    assert_eq!(low.flipped_fraction, 1.0);
    assert!(low.median_margin.unwrap() > 0.0);
    assert_eq!(high.flipped_fraction, 0.0);
    assert_eq!(high.median_margin, None);
    assert_eq!(high.median_margin_flipped, None);
    for m in report.per_image.iter().filter(|m| m.band == 1) {
        assert!(!m.flipped && m.margin.is_none(), "{m:?}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["bands"][1]["median_margin"].is_null());
    assert!(json.get("per_image").is_none());
}

#[test]
fn medians_count_not_flipped_images_as_infinite_and_never_average_them_in() {
    let band = DctBand {
        index: 2,
        start: 4,
        size: 2,
    };
    let s = summarize_band(&band, 3, &[Some(1.0), None, Some(3.0), Some(2.0), None]);
    assert_eq!(s.dim, 12);
    assert_eq!(s.median_margin, Some(3.0), "[1, 2, 3, inf, inf]");
    assert_eq!(s.median_margin_flipped, Some(2.0));
    assert!((s.flipped_fraction - 0.6).abs() < 1e-12);
    let s = summarize_band(&band, 3, &[Some(1.0), None, None, Some(2.0)]);
    assert_eq!(
        s.median_margin, None,
        "half flipped: the median is infinite"
    );
    assert_eq!(s.median_margin_flipped, Some(1.5));
    let s = summarize_band(&band, 3, &[None, None]);
    assert_eq!((s.median_margin, s.median_margin_flipped), (None, None));
    assert_eq!(s.flipped_fraction, 0.0);
}

#[test]
fn options_that_cannot_be_honoured_are_errors_naming_them() {
    let set = images(2, 0, 255, 3, 4);
    let run = |opts: MarginOptions| {
        margin_probe(&ChannelMeans, &set, &opts, &Device::Cpu)
            .unwrap_err()
            .to_string()
    };
    let e = run(MarginOptions {
        band_size: 3,
        ..MarginOptions::default()
    });
    assert!(e.contains("band size 3 does not divide the 8x8"), "{e}");
    let e = run(MarginOptions {
        candidates: Some(1),
        ..MarginOptions::default()
    });
    assert!(e.contains("candidates"), "{e}");
    let e = run(MarginOptions {
        max_iter: 0,
        ..MarginOptions::default()
    });
    assert!(e.contains("max_iter"), "{e}");
    let e = run(MarginOptions {
        band_size: 16,
        ..MarginOptions::default()
    });
    assert!(e.contains("16"), "{e}");
}
