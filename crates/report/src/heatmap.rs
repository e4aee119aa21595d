//! Heat maps for attributions: the viridis colour map (van der Walt and
//! Smith 2015, matplotlib's default; perceptually uniform and readable in
//! gray and by colour-blind readers) alpha-blended over the image.

use crate::{Error, Result};
use image::{Rgb, RgbImage};

/// viridis at 9 evenly spaced points, `t = 0, 1/8, ..., 1` (the published
/// table's values, as viridisLite's `viridis(9)` prints them).
pub const VIRIDIS: [[u8; 3]; 9] = [
    [0x44, 0x01, 0x54],
    [0x47, 0x2D, 0x7B],
    [0x3B, 0x52, 0x8B],
    [0x2C, 0x72, 0x8E],
    [0x21, 0x90, 0x8C],
    [0x27, 0xAD, 0x81],
    [0x5D, 0xC8, 0x63],
    [0xAA, 0xDC, 0x32],
    [0xFD, 0xE7, 0x25],
];

/// The colour of `t` in `[0, 1]` (clamped; NaN is 0): linear interpolation
/// between the two nearest [`VIRIDIS`] control points.
pub fn viridis(t: f32) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (VIRIDIS.len() - 1) as f32;
    let i = (pos.floor() as usize).min(VIRIDIS.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    [0, 1, 2].map(|c| (f32::from(a[c]) * (1.0 - f) + f32::from(b[c]) * f).round() as u8)
}

/// The image (CHW `u8`, 1 or 3 channels) with `heat` (`H*W` values in
/// `[0, 1]`) drawn over it in [`viridis`]: `(1 - alpha) * image + alpha * colour`.
pub fn heat_overlay(chw: &[u8], shape: [usize; 3], heat: &[f32], alpha: f32) -> Result<RgbImage> {
    let [c, h, w] = shape;
    let plane = h * w;
    if chw.len() != c * plane || heat.len() != plane || !(c == 1 || c == 3) {
        return Err(Error::InvalidImage {
            what: "heat overlay".into(),
            problem: format!(
                "{} image values and {} heat values for shape {shape:?}: expected C*H*W (C = 1 or 3) and H*W",
                chw.len(),
                heat.len()
            ),
        });
    }
    let alpha = if alpha.is_nan() {
        0.0
    } else {
        alpha.clamp(0.0, 1.0)
    };
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let p = y as usize * w + x as usize;
        let colour = viridis(heat[p]);
        Rgb([0, 1, 2].map(|ch| {
            let v = chw[if c == 3 { ch * plane + p } else { p }];
            (f32::from(v) * (1.0 - alpha) + f32::from(colour[ch]) * alpha).round() as u8
        }))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_passes_through_its_control_points_and_interpolates() {
        for (i, c) in VIRIDIS.iter().enumerate() {
            assert_eq!(viridis(i as f32 / 8.0), *c);
        }
        assert_eq!(viridis(-3.0), VIRIDIS[0]);
        assert_eq!(viridis(7.0), VIRIDIS[8]);
        assert_eq!(viridis(f32::NAN), VIRIDIS[0]);
        // Halfway between the last two points: the rounded mean.
        let mid = viridis(15.0 / 16.0);
        for ch in 0..3 {
            let want = (f32::from(VIRIDIS[7][ch]) + f32::from(VIRIDIS[8][ch])) / 2.0;
            assert_eq!(mid[ch], want.round() as u8);
        }
    }

    #[test]
    fn viridis_lightness_rises_monotonically() {
        // Relative luminance (sRGB linearised, Rec. 709 weights) of every
        // control point exceeds the previous one: dark means low attribution.
        let lum = |c: [u8; 3]| {
            let lin = |v: u8| {
                let v = f64::from(v) / 255.0;
                if v <= 0.04045 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
        };
        for pair in VIRIDIS.windows(2) {
            assert!(lum(pair[1]) > lum(pair[0]), "{pair:?}");
        }
    }

    #[test]
    fn overlay_blends_image_and_colour() {
        let img = [10u8, 200, 30, 40, 50, 60];
        let heat = [0.0f32, 1.0];
        let none = heat_overlay(&img, [3, 1, 2], &heat, 0.0).unwrap();
        assert_eq!(none.get_pixel(0, 0).0, [10, 30, 50]);
        assert_eq!(none.get_pixel(1, 0).0, [200, 40, 60]);
        let all = heat_overlay(&img, [3, 1, 2], &heat, 1.0).unwrap();
        assert_eq!(all.get_pixel(0, 0).0, VIRIDIS[0]);
        assert_eq!(all.get_pixel(1, 0).0, VIRIDIS[8]);
        let half = heat_overlay(&[100u8, 100], [1, 1, 2], &heat, 0.5).unwrap();
        assert_eq!(
            half.get_pixel(1, 0).0,
            [0, 1, 2].map(|c| ((100.0 + f32::from(VIRIDIS[8][c])) / 2.0).round() as u8)
        );
        assert!(heat_overlay(&img, [3, 1, 2], &[0.0], 0.5).is_err());
        assert!(heat_overlay(&img, [2, 1, 3], &heat, 0.5).is_err());
    }
}
