use crate::metrics::{mass_inside, total_variation};
use crate::*;
use candle_core::{Device, Tensor};
use sc_core::{Classifier, SpatialFeatures};

mod faithfulness;
mod lime;
mod slic;
mod smoothgrad;

const DEV: Device = Device::Cpu;

/// `F(x) = W flatten(x)`, optionally followed by `tanh` and a second linear
/// layer (a smooth nonlinear model).
struct Mlp {
    w1: Tensor,
    w2: Option<Tensor>,
    shape: [usize; 3],
}

impl Mlp {
    fn new(shape: [usize; 3], classes: usize, hidden: Option<usize>, dtype: DType) -> Mlp {
        let d: usize = shape.iter().product();
        let rows = hidden.unwrap_or(classes);
        let w1 = Tensor::randn(0f32, 1.0, (rows, d), &DEV)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let w2 = hidden.map(|h| {
            Tensor::randn(0f32, 1.0, (classes, h), &DEV)
                .unwrap()
                .to_dtype(dtype)
                .unwrap()
        });
        Mlp { w1, w2, shape }
    }
}

impl Classifier for Mlp {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = x.flatten_from(1)?.matmul(&self.w1.t()?)?;
        match &self.w2 {
            Some(w2) => h.affine(0.1, 0.0)?.tanh()?.matmul(&w2.t()?),
            None => Ok(h),
        }
    }
    fn num_classes(&self) -> usize {
        match &self.w2 {
            Some(w2) => w2.dim(0).unwrap(),
            None => self.w1.dim(0).unwrap(),
        }
    }
    fn input_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn name(&self) -> &str {
        "mlp"
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[test]
fn ig_of_a_linear_model_is_input_times_weight() {
    let m = Mlp::new([3, 4, 5], 6, None, DType::F32);
    let x = Tensor::rand(0f32, 1f32, (5, 3, 4, 5), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 5, 2, 2, 1], &DEV).unwrap();
    // A chunk of 7 cuts through images of different steps.
    let ig = IntegratedGradients::new(3).unwrap().with_chunk(7).unwrap();
    let got = ig.attribute(&m, &x, &t).unwrap();
    let w =
        m.w1.index_select(&t, 0)
            .unwrap()
            .reshape((5, 3, 4, 5))
            .unwrap();
    let expected = (&x * &w).unwrap();
    // f32 rounding of a few sums: 1e-5 absolute on values of order 1.
    assert!(max_abs_diff(&got.attributions, &expected) < 1e-5);
    assert!(max_abs_diff(&got.map, &expected.sum(1).unwrap()) < 1e-5);
    assert!(got.completeness_gap.unwrap().iter().all(|g| g.abs() < 1e-4));
}

/// Naive IG in f64: the same midpoint rule, with each gradient component
/// taken by central differences of the model's own logits.
fn naive_ig(m: &Mlp, x: &[f64], t: usize, steps: usize, baseline: f64) -> Vec<f64> {
    let shape = m.shape;
    let f = |v: &[f64]| -> f64 {
        let xt = Tensor::from_vec(v.to_vec(), (1, shape[0], shape[1], shape[2]), &DEV).unwrap();
        m.logits(&xt)
            .unwrap()
            .get(0)
            .unwrap()
            .get(t)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let mut out = vec![0.0; x.len()];
    for k in 0..steps {
        let a = (k as f64 + 0.5) / steps as f64;
        let p: Vec<f64> = x.iter().map(|xi| baseline + a * (xi - baseline)).collect();
        for i in 0..x.len() {
            let h = 1e-5;
            let (mut up, mut down) = (p.clone(), p.clone());
            up[i] += h;
            down[i] -= h;
            out[i] += (f(&up) - f(&down)) / (2.0 * h) / steps as f64;
        }
    }
    out.iter()
        .zip(x)
        .map(|(g, xi)| g * (xi - baseline))
        .collect()
}

#[test]
fn ig_equals_a_naive_finite_difference_integral() {
    let m = Mlp::new([2, 3, 3], 4, Some(8), DType::F64);
    let x = Tensor::rand(0f64, 1f64, (2, 2, 3, 3), &DEV).unwrap();
    let t = Tensor::new(&[3u32, 1], &DEV).unwrap();
    let ig = IntegratedGradients::new(5)
        .unwrap()
        .with_baseline(Baseline::Constant(0.25))
        .with_chunk(3)
        .unwrap();
    let got = ig.attribute(&m, &x, &t).unwrap().attributions;
    for (img, tt) in [(0usize, 3usize), (1, 1)] {
        let xi = x
            .get(img)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let expected = naive_ig(&m, &xi, tt, 5, 0.25);
        let g = got
            .get(img)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (a, b) in g.iter().zip(&expected) {
            // central differences with h = 1e-5 in f64: error ~1e-9.
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}

#[test]
fn ig_completeness_gap_shrinks_with_steps_and_chunk_does_not_matter() {
    let m = Mlp::new([3, 4, 4], 5, Some(16), DType::F64);
    let x = Tensor::rand(0f64, 1f64, (4, 3, 4, 4), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 1, 2, 4], &DEV).unwrap();
    let gap = |steps| {
        let g = IntegratedGradients::new(steps)
            .unwrap()
            .attribute(&m, &x, &t)
            .unwrap();
        g.completeness_gap
            .unwrap()
            .iter()
            .map(|v| v.abs())
            .sum::<f64>()
    };
    let (g2, g32) = (gap(2), gap(32));
    assert!(g2 > 0.0);
    // Midpoint rule: error ~ 1/steps^2, so 16x more steps => ~256x smaller.
    assert!(g32 < g2 / 50.0, "gap at 2 steps {g2}, at 32 steps {g32}");
    let a = IntegratedGradients::new(8)
        .unwrap()
        .with_chunk(5)
        .unwrap()
        .attribute(&m, &x, &t)
        .unwrap();
    let b = IntegratedGradients::new(8)
        .unwrap()
        .with_chunk(1000)
        .unwrap()
        .attribute(&m, &x, &t)
        .unwrap();
    assert!(max_abs_diff(&a.attributions, &b.attributions) < 1e-12);
}

#[test]
fn saliency_of_a_linear_model_is_the_weight_row() {
    let m = Mlp::new([3, 2, 2], 4, None, DType::F32);
    let x = Tensor::rand(0f32, 1f32, (2, 3, 2, 2), &DEV).unwrap();
    let t = Tensor::new(&[1u32, 3], &DEV).unwrap();
    let s = Saliency.attribute(&m, &x, &t).unwrap();
    let w =
        m.w1.index_select(&t, 0)
            .unwrap()
            .reshape((2, 3, 2, 2))
            .unwrap();
    assert!(max_abs_diff(&s.attributions, &w) < 1e-6);
    assert!(max_abs_diff(&s.map, &w.abs().unwrap().max(1).unwrap()) < 1e-6);
}

/// Features = 2x2 average pooling of the image; head = global average pool
/// and a linear layer `V`. GradCAM's coarse map is then, in closed form,
/// `relu(sum_k V[t,k] / (h w) * A_k)`.
struct PooledLinear {
    v: Tensor,
}

impl Classifier for PooledLinear {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.logits_from_features(&self.features(x)?)
    }
    fn num_classes(&self) -> usize {
        self.v.dim(0).unwrap()
    }
    fn input_shape(&self) -> [usize; 3] {
        [3, 8, 8]
    }
    fn name(&self) -> &str {
        "pooled-linear"
    }
}

impl SpatialFeatures for PooledLinear {
    fn feature_layer(&self) -> &str {
        "pool"
    }
    fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.avg_pool2d(2)
    }
    fn logits_from_features(&self, a: &Tensor) -> candle_core::Result<Tensor> {
        a.mean((2, 3))?.matmul(&self.v.t()?)
    }
}

#[test]
fn gradcam_matches_its_closed_form() {
    let m = PooledLinear {
        v: Tensor::randn(0f32, 1.0, (4, 3), &DEV).unwrap(),
    };
    let x = Tensor::rand(0f32, 1f32, (3, 3, 8, 8), &DEV).unwrap();
    let t = Tensor::new(&[0u32, 3, 2], &DEV).unwrap();
    let (map, coarse) = GradCam.attribute(&m, &x, &t).unwrap();
    assert_eq!(map.map.dims(), &[3, 8, 8]);
    assert_eq!(map.attributions.dims(), &[3, 3, 8, 8]);
    let a = x.avg_pool2d(2).unwrap();
    let v = m.v.to_vec2::<f32>().unwrap();
    let coarse_v: Vec<Vec<Vec<f32>>> = coarse.to_vec3().unwrap();
    for (img, tt) in [0usize, 3, 2].into_iter().enumerate() {
        let ai: Vec<Vec<Vec<f32>>> = a.get(img).unwrap().to_vec3().unwrap();
        for i in 0..4 {
            for j in 0..4 {
                let s: f32 = (0..3).map(|k| v[tt][k] / 16.0 * ai[k][i][j]).sum();
                assert!((coarse_v[img][i][j] - s.max(0.0)).abs() < 1e-6);
            }
        }
    }
    // Bilinear 2x upsampling with half-pixel centres: each output pixel is a
    // convex combination of its nearest coarse cells, so it lies between the
    // coarse map's extremes, and a cell's 2x2 block averages back near it.
    let (lo, hi) = (
        coarse.flatten_all().unwrap().min(0).unwrap(),
        coarse.flatten_all().unwrap().max(0).unwrap(),
    );
    let (lo, hi) = (
        lo.to_scalar::<f32>().unwrap(),
        hi.to_scalar::<f32>().unwrap(),
    );
    let up = map.map.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(up.iter().all(|v| *v >= lo - 1e-6 && *v <= hi + 1e-6));
}

#[test]
fn metrics_on_known_maps() {
    // Constant map: no variation; checkerboard of +-1 on 4x4: every
    // neighbour differs by 2, 2 * (3 * 4) * 2 = 48 over mass 16 = 3.
    let constant = Tensor::ones((1, 4, 4), DType::F32, &DEV).unwrap();
    let checker: Vec<f32> = (0..16)
        .map(|i| if (i / 4 + i % 4) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let checker = Tensor::from_vec(checker, (1, 4, 4), &DEV).unwrap();
    let both = Tensor::cat(&[&constant, &checker], 0).unwrap();
    let tv = total_variation(&both).unwrap();
    assert_eq!(tv, vec![0.0, 3.0]);
    // Mask of the top half: all of the constant map's top half, a quarter-and-a-quarter of the checkerboard.
    let mask: Vec<f32> = (0..16).map(|i| if i < 8 { 1.0 } else { 0.0 }).collect();
    let mask = Tensor::from_vec(mask, (1, 4, 4), &DEV)
        .unwrap()
        .repeat((2, 1, 1))
        .unwrap();
    assert_eq!(mass_inside(&both, &mask).unwrap(), vec![0.5, 0.5]);
    assert!(mass_inside(&both, &mask.narrow(0, 0, 1).unwrap()).is_err());
    let zeros = Tensor::zeros((1, 4, 4), DType::F32, &DEV).unwrap();
    assert_eq!(total_variation(&zeros).unwrap(), vec![0.0]);
}

#[test]
fn bad_input_is_named() {
    let m = Mlp::new([3, 2, 2], 4, None, DType::F32);
    let x = Tensor::rand(0f32, 1f32, (2, 3, 2, 2), &DEV).unwrap();
    let err = |t: Tensor| Saliency.attribute(&m, &x, &t).unwrap_err().to_string();
    assert!(err(Tensor::new(&[1u32, 4], &DEV).unwrap()).contains("class 4 does not exist"));
    assert!(err(Tensor::new(&[1u32], &DEV).unwrap()).contains("target"));
    let wrong = Tensor::rand(0f32, 1f32, (2, 3, 3, 2), &DEV).unwrap();
    let t = Tensor::new(&[1u32, 2], &DEV).unwrap();
    assert!(IntegratedGradients::new(4)
        .unwrap()
        .attribute(&m, &wrong, &t)
        .unwrap_err()
        .to_string()
        .contains("images"));
    assert!(IntegratedGradients::new(0).is_err());
    assert!(IntegratedGradients::new(4).unwrap().with_chunk(0).is_err());
}

/// Saliency of a linear model whose weights are equal everywhere is a
/// constant map: no variation, and exactly the object's area share of the
/// mass on the object.
#[test]
fn summary_of_a_uniform_map_is_its_closed_form() {
    let data = "shapes:n=10,test=6,size=16"
        .parse::<sc_data::DataSpec>()
        .unwrap()
        .load()
        .unwrap();
    let set = data.test.unwrap();
    struct Mean;
    impl Classifier for Mean {
        fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
            let m = x.flatten_from(1)?.sum_keepdim(1)?;
            Tensor::cat(&vec![m; 10], 1)
        }
        fn num_classes(&self) -> usize {
            10
        }
        fn input_shape(&self) -> [usize; 3] {
            [3, 16, 16]
        }
        fn name(&self) -> &str {
            "sum"
        }
    }
    let config = summary::SummaryConfig {
        batch_size: 4,
        ..Default::default()
    };
    let e = summary::summarize(&set, "saliency", &Mean, config, &DEV, &mut |x, t| {
        Saliency.attribute(&Mean, x, t)
    })
    .unwrap();
    let s = &e.summary;
    assert_eq!(s.images, 6);
    assert_eq!(s.n, 6);
    assert_eq!(e.maps.dims(), &[6, 16, 16]);
    assert_eq!(e.attributions.dims(), &[6, 3, 16, 16]);
    assert_eq!(e.indices, (0..6).collect::<Vec<_>>());
    assert_eq!(e.labels, set.labels()[..6].to_vec());
    assert!(e.coarse.is_none());
    assert!(s.mean_total_variation.abs() < 1e-12);
    let (mass, area) = (s.mean_mass_on_object.unwrap(), s.mean_object_area.unwrap());
    assert!(area > 0.02 && area < 0.9, "{area}");
    assert!((mass - area).abs() < 1e-6, "{mass} vs {area}");
    // A flat map has a quarter of its mass in the central 8x8 of 16x16.
    assert_eq!(s.centre_area, 0.25);
    assert!(
        (s.mean_mass_in_centre - 0.25).abs() < 1e-6,
        "{}",
        s.mean_mass_in_centre
    );
    assert!(s.mean_abs_completeness_gap.is_none());
    assert!(s.completeness_gap_max.is_none());
    // Every class has the same logit: probability 1/10 at every point of
    // both curves, so both areas are 1/10.
    assert!((s.metrics.deletion_auc - 0.1).abs() < 1e-6);
    assert!((s.metrics.insertion_auc - 0.1).abs() < 1e-6);
    let csv = s.per_image_csv();
    assert_eq!(csv.lines().count(), 7);
    assert!(csv.starts_with("index,label,total_variation,mass_on_object,"));
    for bad in [
        summary::SummaryConfig {
            batch_size: 0,
            ..config
        },
        summary::SummaryConfig {
            curve_steps: 0,
            ..config
        },
    ] {
        assert!(
            summary::summarize(&set, "x", &Mean, bad, &DEV, &mut |x, t| Saliency
                .attribute(&Mean, x, t))
            .is_err()
        );
    }
}

#[test]
fn the_central_box_is_the_middle_half_of_each_side() {
    // Naive membership test, independent of the loop that builds the box.
    for (h, w) in [(32, 32), (7, 9), (1, 4), (28, 28)] {
        let mask = crate::metrics::central_box(h, w);
        for y in 0..h {
            for x in 0..w {
                let inside = 4 * y >= h - h % 4
                    && 4 * (h - 1 - y) >= h - h % 4
                    && 4 * x >= w - w % 4
                    && 4 * (w - 1 - x) >= w - w % 4;
                assert_eq!(mask[y * w + x] == 1.0, inside, "{h}x{w} at ({y},{x})");
            }
        }
    }
    let area: f32 = crate::metrics::central_box(32, 32).iter().sum();
    assert_eq!(area, 256.0);
}
