//! Converting a set to the input a model was made for, the way transfer
//! experiments do it (paper Sec. 4.6 fine-tunes CIFAR-100 models on MNIST:
//! gray digits become three equal channels and 28x28 becomes 32x32).
//!
//! - `channels = 3` on a gray set repeats the gray value in R, G and B
//!   (torchvision's `Grayscale(num_output_channels=3)` in reverse: the
//!   luminance of the result is the original value).
//! - `resize = S` resizes every image to SxS with the `image` crate's
//!   bilinear (`Triangle`) filter, as `folder:` sets are resized; object
//!   masks follow with nearest-neighbour sampling.
//!
//! ```
//! use sc_data::convert::{convert, ConvertOptions};
//! use sc_data::ImageSet;
//!
//! let gray = ImageSet::new(vec![7; 28 * 28], [1, 28, 28], vec![0], vec!["zero".to_string()])?;
//! let rgb = convert(&gray, &ConvertOptions { channels: Some(3), resize: Some(32) })?;
//! assert_eq!(rgb.image_shape(), [3, 32, 32]);
//! assert!(rgb.pixels().iter().all(|&v| v == 7));
//! # Ok::<(), sc_data::Error>(())
//! ```

use crate::{Error, ImageSet, Result};
use image::imageops::{self, FilterType};
use image::GrayImage;

/// The largest side `resize` accepts: the limit of resized `folder:` sets.
pub const MAX_RESIZE: usize = crate::spec::MAX_FOLDER_IMAGE_SIZE;

/// What to convert (the `channels` and `resize` keys of `convert:SPEC,..`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConvertOptions {
    /// Channels of the result: 3 turns a gray set into RGB; a colour set
    /// stays as it is.
    pub channels: Option<usize>,
    /// Side of the (square) result.
    pub resize: Option<usize>,
}

impl ConvertOptions {
    /// Checks the values themselves (1 or 3 channels; a side in
    /// `1..=MAX_RESIZE`).
    pub fn validate(&self) -> Result<()> {
        if let Some(c) = self.channels {
            if c != 1 && c != 3 {
                return Err(Error::arg(
                    "convert channels",
                    format!("{c}: expected 1 or 3"),
                ));
            }
        }
        if let Some(s) = self.resize {
            if s == 0 || s > MAX_RESIZE {
                return Err(Error::arg(
                    "convert resize",
                    format!("{s}: expected a side from 1 to {MAX_RESIZE}"),
                ));
            }
        }
        Ok(())
    }
}

/// `set` converted as `options` say; masks and groups are kept.
pub fn convert(set: &ImageSet, options: &ConvertOptions) -> Result<ImageSet> {
    options.validate()?;
    let [c, h, w] = set.image_shape();
    let out_c = options.channels.unwrap_or(c);
    if out_c < c {
        return Err(Error::arg(
            "convert channels",
            format!("{c} -> {out_c}: only gray to RGB (1 -> 3) is supported"),
        ));
    }
    let (oh, ow) = options.resize.map_or((h, w), |s| (s, s));
    let mut pixels = Vec::with_capacity(set.len() * out_c * oh * ow);
    for i in 0..set.len() {
        let image = set.image(i).unwrap_or_default();
        let planes: Vec<Vec<u8>> = (0..c)
            .map(|ch| {
                resize_plane(
                    &image[ch * h * w..(ch + 1) * h * w],
                    [h, w],
                    [oh, ow],
                    FilterType::Triangle,
                )
            })
            .collect();
        for ch in 0..out_c {
            pixels.extend_from_slice(&planes[ch.min(c - 1)]);
        }
    }
    let mut out = ImageSet::new(
        pixels,
        [out_c, oh, ow],
        set.labels().to_vec(),
        set.classes().to_vec(),
    )?;
    if set.masks().is_some() {
        let mut masks = Vec::with_capacity(set.len() * oh * ow);
        for i in 0..set.len() {
            let mask = set.mask(i).unwrap_or_default();
            masks.extend(resize_plane(mask, [h, w], [oh, ow], FilterType::Nearest));
        }
        out = out.with_masks(masks)?;
    }
    if let Some(g) = set.groups() {
        out = out.with_groups(g.names().to_vec(), g.of_image().to_vec())?;
    }
    Ok(out)
}

/// One `u8` plane resized from `[h, w]` to `[oh, ow]` with `filter`.
fn resize_plane(
    plane: &[u8],
    [h, w]: [usize; 2],
    [oh, ow]: [usize; 2],
    filter: FilterType,
) -> Vec<u8> {
    if (h, w) == (oh, ow) {
        return plane.to_vec();
    }
    let img = GrayImage::from_raw(w as u32, h as u32, plane.to_vec())
        .expect("a plane of h * w bytes is a GrayImage of w x h");
    imageops::resize(&img, ow as u32, oh as u32, filter).into_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pixels: Vec<u8>, shape: [usize; 3]) -> ImageSet {
        let n = pixels.len() / shape.iter().product::<usize>();
        ImageSet::new(pixels, shape, vec![0; n], vec!["x".to_string()]).unwrap()
    }

    #[test]
    fn gray_becomes_three_equal_channels() {
        let gray = set((0..2 * 9).map(|v| v as u8 * 13).collect(), [1, 3, 3]);
        let rgb = convert(
            &gray,
            &ConvertOptions {
                channels: Some(3),
                resize: None,
            },
        )
        .unwrap();
        assert_eq!(rgb.image_shape(), [3, 3, 3]);
        for i in 0..2 {
            let (g, c) = (gray.image(i).unwrap(), rgb.image(i).unwrap());
            for ch in 0..3 {
                assert_eq!(&c[ch * 9..(ch + 1) * 9], g);
            }
        }
    }

    /// Bilinear upsampling with half-pixel centres (the Triangle filter
    /// when enlarging) computed by hand: output pixel x samples the input at
    /// `(x + 0.5) * w / ow - 0.5`, clamped to the edge pixels.
    fn bilinear_reference(plane: &[u8], [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Vec<f64> {
        let src = |s: f64, n: usize| -> (usize, usize, f64) {
            let s = s.clamp(0.0, (n - 1) as f64);
            let i = s.floor() as usize;
            (i, (i + 1).min(n - 1), s - i as f64)
        };
        let mut out = Vec::new();
        for y in 0..oh {
            let (y0, y1, fy) = src((y as f64 + 0.5) * h as f64 / oh as f64 - 0.5, h);
            for x in 0..ow {
                let (x0, x1, fx) = src((x as f64 + 0.5) * w as f64 / ow as f64 - 0.5, w);
                let at = |yy: usize, xx: usize| f64::from(plane[yy * w + xx]);
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out.push(top * (1.0 - fy) + bottom * fy);
            }
        }
        out
    }

    #[test]
    fn resize_28_to_32_is_bilinear_and_masks_follow() {
        let plane: Vec<u8> = (0..28 * 28).map(|p| ((p * 37) % 251) as u8).collect();
        let gray = set(plane.clone(), [1, 28, 28])
            .with_masks(plane.iter().map(|&v| u8::from(v > 128)).collect())
            .unwrap()
            .with_groups(vec!["g".to_string()], vec![0])
            .unwrap();
        let out = convert(
            &gray,
            &ConvertOptions {
                channels: Some(3),
                resize: Some(32),
            },
        )
        .unwrap();
        assert_eq!(out.image_shape(), [3, 32, 32]);
        let want = bilinear_reference(&plane, [28, 28], [32, 32]);
        let got = &out.image(0).unwrap()[..32 * 32];
        // The filter's weights are f32 and the result is rounded to u8: 1 level.
        for (p, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!((f64::from(g) - w).abs() <= 1.0, "pixel {p}: {g} vs {w:.2}");
        }
        let mask = out.mask(0).unwrap();
        for y in 0..32 {
            for x in 0..32 {
                // Nearest: output pixel centre (x + 0.5) * 28 / 32.
                let (sy, sx) = ((y * 28 + 14) / 32, (x * 28 + 14) / 32);
                assert_eq!(
                    mask[y * 32 + x],
                    u8::from(plane[sy * 28 + sx] > 128),
                    "({x}, {y})"
                );
            }
        }
        assert_eq!(out.groups().unwrap().names(), ["g"]);
    }

    #[test]
    fn bad_options_are_errors() {
        let rgb = set(vec![0; 12], [3, 2, 2]);
        let e = |o: ConvertOptions| convert(&rgb, &o).unwrap_err().to_string();
        assert!(e(ConvertOptions {
            channels: Some(1),
            resize: None
        })
        .contains("only gray to RGB"));
        assert!(e(ConvertOptions {
            channels: Some(2),
            resize: None
        })
        .contains("expected 1 or 3"));
        assert!(e(ConvertOptions {
            channels: None,
            resize: Some(0)
        })
        .contains("from 1 to"));
    }
}
