//! Test models with known answers, and the tests of every module.

mod attacks;
mod auto;
mod dlr;
mod errors;
mod gradient;
mod iterates;
mod props;
mod sanity;

use candle_core::{DType, Device, Tensor, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sc_core::Classifier;

pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn normal(r: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - r.random::<f64>();
    let u2: f64 = r.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A linear map of difference vectors (a subspace projection).
pub(crate) type Projection<'a> = dyn Fn(&[f64]) -> Vec<f64> + 'a;

/// `logits = flatten(x) W^T + b`, weights kept in f64 and cast to the
/// input's dtype, so that margins and optimal attacks have closed forms.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub w: Vec<Vec<f64>>,
    pub b: Vec<f64>,
    pub shape: [usize; 3],
    wt: Tensor,
    bt: Tensor,
}

impl Linear {
    pub fn new(w: Vec<Vec<f64>>, b: Vec<f64>, shape: [usize; 3]) -> Self {
        let (k, d) = (w.len(), w[0].len());
        assert_eq!(d, shape.iter().product::<usize>());
        let flat: Vec<f64> = (0..d)
            .flat_map(|i| w.iter().map(move |row| row[i]))
            .collect();
        let wt = Tensor::from_vec(flat, (d, k), &Device::Cpu).unwrap();
        let bt = Tensor::from_vec(b.clone(), k, &Device::Cpu).unwrap();
        Linear {
            w,
            b,
            shape,
            wt,
            bt,
        }
    }

    /// Gaussian weights; biases put every pairwise boundary through the
    /// centre of the cube (x = 0.5), so images near the centre have small
    /// margins and every class owns part of the cube.
    pub fn random(k: usize, shape: [usize; 3], seed: u64) -> Self {
        let d: usize = shape.iter().product();
        let mut r = rng(seed);
        let w: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..d).map(|_| normal(&mut r)).collect())
            .collect();
        let b = w.iter().map(|row| -0.5 * row.iter().sum::<f64>()).collect();
        Linear::new(w, b, shape)
    }

    pub fn host_logits(&self, x: &[f64]) -> Vec<f64> {
        self.w
            .iter()
            .zip(&self.b)
            .map(|(row, b)| row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>() + b)
            .collect()
    }

    /// Distance to the nearest point classified otherwise than `label`,
    /// ignoring the pixel box: `min_j (f_y - f_j) / ||w_y - w_j||_q`, with
    /// `q` = 1 for the Linf margin and 2 for the L2 margin.
    pub fn margin(&self, x: &[f64], label: usize, q: u32, project: Option<&Projection>) -> f64 {
        let f = self.host_logits(x);
        (0..self.w.len())
            .filter(|&j| j != label)
            .map(|j| {
                let mut dw: Vec<f64> = self.w[label]
                    .iter()
                    .zip(&self.w[j])
                    .map(|(a, b)| a - b)
                    .collect();
                if let Some(p) = project {
                    dw = p(&dw);
                }
                let norm = match q {
                    1 => dw.iter().map(|v| v.abs()).sum::<f64>(),
                    _ => dw.iter().map(|v| v * v).sum::<f64>().sqrt(),
                };
                (f[label] - f[j]) / norm
            })
            .fold(f64::INFINITY, f64::min)
    }
}

impl Classifier for Linear {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let w = self.wt.to_dtype(x.dtype())?;
        let b = self.bt.to_dtype(x.dtype())?;
        x.flatten_from(1)?.matmul(&w)?.broadcast_add(&b)
    }
    fn num_classes(&self) -> usize {
        self.w.len()
    }
    fn input_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn name(&self) -> &str {
        "linear"
    }
}

/// `logits = tanh(x W1 + b1) W2 + b2`: smooth, nonlinear, random.
#[derive(Debug, Clone)]
pub(crate) struct TwoLayer {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
    k: usize,
    shape: [usize; 3],
}

impl TwoLayer {
    pub fn random(k: usize, hidden: usize, shape: [usize; 3], seed: u64) -> Self {
        let d: usize = shape.iter().product();
        let mut r = rng(seed);
        let mut mat = |rows: usize, cols: usize, scale: f64| {
            let v: Vec<f64> = (0..rows * cols).map(|_| normal(&mut r) * scale).collect();
            Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
        };
        // Pre-activations of order 1 around the centre of the cube.
        let w1 = mat(d, hidden, 4.0 / (d as f64).sqrt());
        let c = (Tensor::ones((1, d), DType::F64, &Device::Cpu).unwrap() * 0.5).unwrap();
        let b1 = c.matmul(&w1).unwrap().neg().unwrap().squeeze(0).unwrap();
        let w2 = mat(hidden, k, 3.0 / (hidden as f64).sqrt());
        let b2 = Tensor::zeros(k, DType::F64, &Device::Cpu).unwrap();
        TwoLayer {
            w1,
            b1,
            w2,
            b2,
            k,
            shape,
        }
    }
}

impl Classifier for TwoLayer {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dt = x.dtype();
        let h = x
            .flatten_from(1)?
            .matmul(&self.w1.to_dtype(dt)?)?
            .broadcast_add(&self.b1.to_dtype(dt)?)?
            .tanh()?;
        h.matmul(&self.w2.to_dtype(dt)?)?
            .broadcast_add(&self.b2.to_dtype(dt)?)
    }
    fn num_classes(&self) -> usize {
        self.k
    }
    fn input_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn name(&self) -> &str {
        "two-layer"
    }
}

/// A linear model whose logits pass through `floor(100 l) / 100`: nearly as
/// accurate as the linear model, but its gradient is zero almost
/// everywhere (candle does not differentiate `floor`): the textbook case of
/// gradient masking (Carlini et al. 2019).
#[derive(Debug, Clone)]
pub(crate) struct Masked(pub Linear);

impl Classifier for Masked {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        (self.0.logits(x)? * 100.0)?.floor()? / 100.0
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn input_shape(&self) -> [usize; 3] {
        self.0.shape
    }
    fn name(&self) -> &str {
        "masked"
    }
}

/// A linear model whose logits are multiplied by `scale` (e.g. 1e5): in
/// f32 its softmax saturates to exactly one-hot wherever the top two raw
/// logits differ by more than about `104 / scale`, so the cross-entropy
/// gradient there is exactly 0 and CE-based attacks stall, while the DLR
/// losses, invariant to the scale, still point the way.
#[derive(Debug, Clone)]
pub(crate) struct Saturated {
    pub inner: Linear,
    pub scale: f64,
}

impl Classifier for Saturated {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.inner.logits(x)? * self.scale
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn input_shape(&self) -> [usize; 3] {
        self.inner.shape
    }
    fn name(&self) -> &str {
        "saturated"
    }
}

/// `n` images of `shape` with pixels uniform in `[lo, hi]`, f32.
pub(crate) fn images(n: usize, shape: [usize; 3], lo: f64, hi: f64, seed: u64) -> Tensor {
    let mut r = rng(seed);
    let d: usize = shape.iter().product();
    let v: Vec<f32> = (0..n * d).map(|_| r.random_range(lo..=hi) as f32).collect();
    Tensor::from_vec(v, (n, shape[0], shape[1], shape[2]), &Device::Cpu).unwrap()
}

/// The model's own predictions, as labels it classifies perfectly.
pub(crate) fn predict(model: &dyn Classifier, x: &Tensor) -> Tensor {
    model.logits(x).unwrap().argmax(D::Minus1).unwrap()
}

pub(crate) fn preds(model: &dyn Classifier, x: &Tensor) -> Vec<u32> {
    predict(model, x).to_vec1().unwrap()
}

pub(crate) fn rows(x: &Tensor) -> Vec<Vec<f64>> {
    let n = x.dim(0).unwrap();
    x.to_dtype(DType::F64)
        .unwrap()
        .reshape((n, ()))
        .unwrap()
        .to_vec2()
        .unwrap()
}

pub(crate) fn labels(v: &[u32]) -> Tensor {
    Tensor::new(v, &Device::Cpu).unwrap()
}
