//! Deletion and insertion curves (Petsiuk et al. 2018, "RISE", Sec. 4.1):
//! how fast the target class's probability falls when the most-attributed
//! pixels are removed first, and how fast it rises when they are added
//! first. A faithful map gives a low deletion AUC and a high insertion AUC.

use crate::{check_inputs, invalid, Result};
use candle_core::{DType, Device, Tensor, D};
use sc_core::Classifier;

/// What a removed (deletion) or not yet inserted (insertion) pixel shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canvas {
    /// Zero in every channel (Petsiuk et al.'s deletion).
    Black,
    /// The image blurred by a Gaussian of sigma 5 over an 11x11 window
    /// (Petsiuk et al.'s insertion canvas, `klen = 11, nsig = 5`).
    Blur,
}

/// The probability curves of a batch and their areas.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    /// Fraction of pixels removed or inserted at each point, `0 ..= 1`
    /// (`steps + 1` points, shared by every image).
    pub fractions: Vec<f64>,
    /// Per image: the target probability after each deletion step.
    pub deletion: Vec<Vec<f64>>,
    /// Per image: the target probability after each insertion step.
    pub insertion: Vec<Vec<f64>>,
    /// Per image: trapezoid area under the deletion curve.
    pub deletion_auc: Vec<f64>,
    /// Per image: trapezoid area under the insertion curve.
    pub insertion_auc: Vec<f64>,
}

/// Trapezoid area under `ys` over `xs` (same length, `xs` increasing).
pub fn trapezoid(xs: &[f64], ys: &[f64]) -> f64 {
    xs.windows(2)
        .zip(ys.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// Blurs `[N, C, H, W]` by a separable Gaussian (`sigma`, window
/// `2 * radius + 1`), borders replicated; the weights are normalised to sum 1.
pub fn gaussian_blur(x: &Tensor, sigma: f64, radius: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let kernel: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let d = i as f64 - radius as f64;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / total).collect();
    let v = x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let r = radius as isize;
    let clamp = |i: isize, len: usize| i.clamp(0, len as isize - 1) as usize;
    let mut rows = vec![0.0; v.len()];
    for p in 0..n * c {
        let plane = &v[p * h * w..(p + 1) * h * w];
        for y in 0..h {
            for xx in 0..w {
                rows[p * h * w + y * w + xx] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| wt * plane[y * w + clamp(xx as isize + k as isize - r, w)])
                    .sum();
            }
        }
    }
    let mut out = vec![0.0; v.len()];
    for p in 0..n * c {
        let plane = &rows[p * h * w..(p + 1) * h * w];
        for y in 0..h {
            for xx in 0..w {
                out[p * h * w + y * w + xx] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, wt)| wt * plane[clamp(y as isize + k as isize - r, h) * w + xx])
                    .sum();
            }
        }
    }
    Ok(Tensor::from_vec(out, (n, c, h, w), x.device())?.to_dtype(x.dtype())?)
}

fn canvas_of(x: &Tensor, canvas: Canvas) -> Result<Tensor> {
    match canvas {
        Canvas::Black => Ok(x.zeros_like()?),
        Canvas::Blur => gaussian_blur(x, 5.0, 5),
    }
}

/// Pixel positions of each map `[N, H, W]` from the highest value to the
/// lowest (ties by position, so the order is deterministic).
fn ranking(maps: &Tensor) -> Result<Vec<Vec<usize>>> {
    let maps = maps
        .to_dtype(DType::F64)?
        .flatten_from(1)?
        .to_vec2::<f64>()?;
    Ok(maps
        .iter()
        .map(|m| {
            let mut order: Vec<usize> = (0..m.len()).collect();
            order.sort_by(|&a, &b| m[b].total_cmp(&m[a]).then(a.cmp(&b)));
            order
        })
        .collect())
}

/// Deletion and insertion curves of `x` (`[N, C, H, W]`, target `[N]`)
/// ranked by `maps` (`[N, H, W]`): in `steps` equal steps of `H*W/steps`
/// pixels (all channels of a pixel together), the highest-ranked pixels
/// are replaced by `deletion` (deletion curve), or copied from the image
/// onto `insertion` (insertion curve); the point before the first step is
/// the untouched image (deletion) or the bare canvas (insertion). Each
/// point is the softmax probability of the target class.
pub fn deletion_insertion(
    model: &dyn Classifier,
    x: &Tensor,
    target: &Tensor,
    maps: &Tensor,
    steps: usize,
    deletion: Canvas,
    insertion: Canvas,
) -> Result<Curves> {
    let n = check_inputs(model, x, target)?;
    let (_, _, h, w) = x.dims4()?;
    if maps.dims() != [n, h, w] {
        return Err(invalid(
            "maps",
            format!("shape {:?}: expected [{n}, {h}, {w}]", maps.dims()),
        ));
    }
    if steps == 0 {
        return Err(invalid("curve steps", "0: expected at least 1 step"));
    }
    let pixels = h * w;
    let order = ranking(maps)?;
    let x = x.detach();
    let del_canvas = canvas_of(&x, deletion)?;
    let ins_canvas = canvas_of(&x, insertion)?;
    let counts: Vec<usize> = (0..=steps)
        .map(|k| (k as f64 * pixels as f64 / steps as f64).round() as usize)
        .collect();
    let fractions: Vec<f64> = counts.iter().map(|&c| c as f64 / pixels as f64).collect();
    let mut del = vec![Vec::with_capacity(steps + 1); n];
    let mut ins = vec![Vec::with_capacity(steps + 1); n];
    for &count in &counts {
        // 1 where the image's own pixel is shown in the insertion image.
        let mut shown = vec![0f32; n * pixels];
        for (i, o) in order.iter().enumerate() {
            for &p in &o[..count] {
                shown[i * pixels + p] = 1.0;
            }
        }
        let shown = Tensor::from_vec(shown, (n, 1, h, w), &Device::Cpu)?
            .to_device(x.device())?
            .to_dtype(x.dtype())?;
        let hidden = shown.affine(-1.0, 1.0)?;
        let deleted = (x.broadcast_mul(&hidden)? + del_canvas.broadcast_mul(&shown)?)?;
        let inserted = (x.broadcast_mul(&shown)? + ins_canvas.broadcast_mul(&hidden)?)?;
        let both = Tensor::cat(&[&deleted, &inserted], 0)?;
        let probs =
            candle_nn::ops::softmax(&model.logits(&both)?.to_dtype(DType::F64)?, D::Minus1)?;
        let t = Tensor::cat(&[target, target], 0)?;
        let p = probs
            .gather(&t.unsqueeze(1)?, 1)?
            .squeeze(1)?
            .to_vec1::<f64>()?;
        for i in 0..n {
            del[i].push(p[i]);
            ins[i].push(p[n + i]);
        }
    }
    let deletion_auc = del.iter().map(|c| trapezoid(&fractions, c)).collect();
    let insertion_auc = ins.iter().map(|c| trapezoid(&fractions, c)).collect();
    Ok(Curves {
        fractions,
        deletion: del,
        insertion: ins,
        deletion_auc,
        insertion_auc,
    })
}
