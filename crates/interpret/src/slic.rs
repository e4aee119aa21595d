//! SLIC superpixels (Achanta et al. 2012, "SLIC Superpixels Compared to
//! State-of-the-Art Superpixel Methods", Algorithm 1), the segmentation
//! LIME explains images with. Parameters and details follow scikit-image's
//! `slic`: CIELAB colour for RGB images, compactness 10, 10 iterations,
//! and connectivity enforced by merging fragments smaller than half a
//! nominal segment into a neighbour.

use crate::{invalid, Result};

/// The SLIC parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slic {
    /// Roughly how many superpixels to make (the grid of initial centres).
    pub segments: usize,
    /// Weight of spatial against colour distance (`m` in Achanta et al.;
    /// scikit-image's default 10 for CIELAB).
    pub compactness: f64,
    /// k-means iterations (Achanta et al. find 10 enough).
    pub iterations: usize,
}

impl Default for Slic {
    fn default() -> Self {
        Slic {
            segments: 16,
            compactness: 10.0,
            iterations: 10,
        }
    }
}

/// A segmentation: one label per pixel (row-major), labels `0..count`,
/// each label one 4-connected region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    /// The label of each pixel, `H * W`.
    pub labels: Vec<usize>,
    /// The number of labels.
    pub count: usize,
}

/// sRGB in `[0, 1]` to CIELAB (D65 white), the colour space SLIC measures in.
pub fn srgb_to_lab(rgb: [f64; 3]) -> [f64; 3] {
    let lin = |c: f64| {
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let [r, g, b] = rgb.map(lin);
    let x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.950456;
    let y = 0.212671 * r + 0.715160 * g + 0.072169 * b;
    let z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.088754;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    let l = if y > 0.008856 {
        116.0 * fy - 16.0
    } else {
        903.3 * y
    };
    [l, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

impl Slic {
    /// Segments a CHW image in `[0, 1]` with 1 (gray, scaled to L in
    /// `[0, 100]`) or 3 (sRGB) channels.
    pub fn segment(&self, chw: &[f64], shape: [usize; 3]) -> Result<Segments> {
        let [c, h, w] = shape;
        if chw.len() != c * h * w || h == 0 || w == 0 || !(c == 1 || c == 3) {
            return Err(invalid(
                "image",
                format!(
                    "{} values for shape {shape:?}: expected C*H*W with 1 or 3 channels",
                    chw.len()
                ),
            ));
        }
        if self.segments == 0 || self.iterations == 0 || self.compactness.is_nan() {
            return Err(invalid(
                "slic",
                format!("{self:?}: expected segments and iterations >= 1"),
            ));
        }
        let plane = h * w;
        let colour: Vec<[f64; 3]> = (0..plane)
            .map(|p| {
                if c == 3 {
                    srgb_to_lab([chw[p], chw[plane + p], chw[2 * plane + p]])
                } else {
                    [100.0 * chw[p], 0.0, 0.0]
                }
            })
            .collect();
        let step = ((plane as f64) / self.segments as f64).sqrt().max(1.0);
        let rows = ((h as f64 / step).round() as usize).max(1);
        let cols = ((w as f64 / step).round() as usize).max(1);
        let grad = |y: usize, x: usize| -> f64 {
            let at = |yy: usize, xx: usize| colour[yy * w + xx];
            let (l, r) = (at(y, x.saturating_sub(1)), at(y, (x + 1).min(w - 1)));
            let (u, d) = (at(y.saturating_sub(1), x), at((y + 1).min(h - 1), x));
            (0..3)
                .map(|i| (r[i] - l[i]).powi(2) + (d[i] - u[i]).powi(2))
                .sum()
        };
        // Centres [y, x, L, a, b] on a grid, moved to the lowest gradient
        // of their 3x3 neighbourhood (Achanta et al., so no centre sits on an edge).
        let mut centres: Vec<[f64; 5]> = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                let cy = (((i as f64 + 0.5) * h as f64 / rows as f64) as usize).min(h - 1);
                let cx = (((j as f64 + 0.5) * w as f64 / cols as f64) as usize).min(w - 1);
                let mut best = (grad(cy, cx), cy, cx);
                for y in cy.saturating_sub(1)..=(cy + 1).min(h - 1) {
                    for x in cx.saturating_sub(1)..=(cx + 1).min(w - 1) {
                        let g = grad(y, x);
                        if g < best.0 {
                            best = (g, y, x);
                        }
                    }
                }
                let (_, y, x) = best;
                let lab = colour[y * w + x];
                centres.push([y as f64, x as f64, lab[0], lab[1], lab[2]]);
            }
        }
        let spatial = (self.compactness / step).powi(2);
        let mut labels = vec![0usize; plane];
        let window = step.ceil() as isize;
        for _ in 0..self.iterations {
            let mut dist = vec![f64::INFINITY; plane];
            for (k, ctr) in centres.iter().enumerate() {
                let (cy, cx) = (ctr[0].round() as isize, ctr[1].round() as isize);
                let y0 = (cy - window).max(0) as usize;
                let y1 = ((cy + window) as usize).min(h - 1);
                let x0 = (cx - window).max(0) as usize;
                let x1 = ((cx + window) as usize).min(w - 1);
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        let p = y * w + x;
                        let lab = colour[p];
                        let dc: f64 = (0..3).map(|i| (lab[i] - ctr[2 + i]).powi(2)).sum();
                        let ds = (y as f64 - ctr[0]).powi(2) + (x as f64 - ctr[1]).powi(2);
                        let d = dc + ds * spatial;
                        if d < dist[p] {
                            dist[p] = d;
                            labels[p] = k;
                        }
                    }
                }
            }
            let mut sums = vec![[0.0f64; 6]; centres.len()];
            for (p, &k) in labels.iter().enumerate() {
                let lab = colour[p];
                let s = &mut sums[k];
                s[0] += (p / w) as f64;
                s[1] += (p % w) as f64;
                s[2] += lab[0];
                s[3] += lab[1];
                s[4] += lab[2];
                s[5] += 1.0;
            }
            for (ctr, s) in centres.iter_mut().zip(&sums) {
                if s[5] > 0.0 {
                    for i in 0..5 {
                        ctr[i] = s[i] / s[5];
                    }
                }
            }
        }
        let min_size = ((0.5 * plane as f64 / self.segments as f64) as usize).max(1);
        Ok(enforce_connectivity(&labels, h, w, min_size))
    }
}

/// Relabels the 4-connected components of `labels` as `0..count` in raster
/// order; a component smaller than `min_size` joins the component of a
/// neighbour of its first pixel (Achanta et al.'s `EnforceLabelConnectivity`),
/// so every final label is one connected region.
pub fn enforce_connectivity(labels: &[usize], h: usize, w: usize, min_size: usize) -> Segments {
    const NONE: usize = usize::MAX;
    let mut out = vec![NONE; h * w];
    let mut count = 0;
    let mut stack = Vec::new();
    let mut component = Vec::new();
    for start in 0..h * w {
        if out[start] != NONE {
            continue;
        }
        let (sy, sx) = (start / w, start % w);
        // A neighbour already relabelled (left or above, in raster order).
        let adjacent = [(sx > 0).then(|| start - 1), (sy > 0).then(|| start - w)]
            .into_iter()
            .flatten()
            .map(|q| out[q])
            .find(|&l| l != NONE);
        component.clear();
        stack.push(start);
        out[start] = count;
        while let Some(p) = stack.pop() {
            component.push(p);
            let (y, x) = (p / w, p % w);
            let neighbours = [
                (x > 0).then(|| p - 1),
                (x + 1 < w).then(|| p + 1),
                (y > 0).then(|| p - w),
                (y + 1 < h).then(|| p + w),
            ];
            for q in neighbours.into_iter().flatten() {
                if out[q] == NONE && labels[q] == labels[start] {
                    out[q] = count;
                    stack.push(q);
                }
            }
        }
        match adjacent {
            Some(a) if component.len() < min_size => {
                for &p in &component {
                    out[p] = a;
                }
            }
            _ => count += 1,
        }
    }
    Segments { labels: out, count }
}
