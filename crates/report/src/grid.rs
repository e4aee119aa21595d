use crate::font::{draw_text, text_height, text_width};
use crate::{write_atomic, Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// A grid of captioned images, filled row by row.
///
/// Each image is upscaled by an integer factor with nearest-neighbour
/// sampling, so individual pixels stay visible (a 32x32 image is too small to
/// judge otherwise). Cells are as large as the largest image.
#[derive(Debug, Clone)]
pub struct ImageGrid {
    cols: usize,
    scale: u32,
    tiles: Vec<(RgbImage, String)>,
}

const PAD: u32 = 4;
const CAPTION_SCALE: u32 = 1;

impl ImageGrid {
    /// An empty grid with `cols` columns (at least 1), images upscaled `scale` times.
    pub fn new(cols: usize, scale: u32) -> Self {
        ImageGrid {
            cols: cols.max(1),
            scale: scale.max(1),
            tiles: Vec::new(),
        }
    }

    /// Number of images pushed so far.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// True when nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    /// Adds a CHW `u8` image with 1 (gray) or 3 (RGB) channels.
    pub fn push_u8(&mut self, chw: &[u8], shape: [usize; 3], caption: &str) -> Result<()> {
        let [c, h, w] = shape;
        check(chw.len(), shape, caption)?;
        let plane = h * w;
        let img = RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let p = y as usize * w + x as usize;
            if c == 1 {
                Rgb([chw[p]; 3])
            } else {
                Rgb([chw[p], chw[plane + p], chw[2 * plane + p]])
            }
        });
        self.push_rgb(img, caption);
        Ok(())
    }

    /// Adds a CHW f32 image in `[0, 1]` (values outside are clamped).
    pub fn push_f32(&mut self, chw: &[f32], shape: [usize; 3], caption: &str) -> Result<()> {
        check(chw.len(), shape, caption)?;
        let bytes: Vec<u8> = chw
            .iter()
            .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        self.push_u8(&bytes, shape, caption)
    }

    /// Adds a binary HW mask, drawn white on black.
    pub fn push_mask(&mut self, mask: &[u8], h: usize, w: usize, caption: &str) -> Result<()> {
        let bytes: Vec<u8> = mask.iter().map(|&m| if m > 0 { 255 } else { 0 }).collect();
        self.push_u8(&bytes, [1, h, w], caption)
    }

    /// Adds the CHW `u8` image with `heat` (`H*W` in `[0, 1]`) drawn over
    /// it in viridis at opacity `alpha` ([`crate::heat_overlay`]).
    pub fn push_heat(
        &mut self,
        chw: &[u8],
        shape: [usize; 3],
        heat: &[f32],
        alpha: f32,
        caption: &str,
    ) -> Result<()> {
        let img = crate::heat_overlay(chw, shape, heat, alpha)?;
        self.push_rgb(img, caption);
        Ok(())
    }

    /// Adds an RGB image as it is.
    pub fn push_rgb(&mut self, img: RgbImage, caption: &str) {
        self.tiles.push((img, caption.to_string()));
    }

    /// Draws the grid.
    pub fn render(&self) -> RgbImage {
        let s = self.scale;
        let cell_w = self
            .tiles
            .iter()
            .map(|(t, _)| t.width() * s)
            .max()
            .unwrap_or(0);
        let longest = self
            .tiles
            .iter()
            .map(|(_, c)| text_width(c, CAPTION_SCALE))
            .max()
            .unwrap_or(0);
        let cell_w = cell_w.max(longest);
        let cell_h = self
            .tiles
            .iter()
            .map(|(t, _)| t.height() * s)
            .max()
            .unwrap_or(0);
        let caption_h = text_height(CAPTION_SCALE) + 2;
        let cols = self.cols.min(self.tiles.len().max(1)) as u32;
        let rows = self.tiles.len().div_ceil(self.cols).max(1) as u32;
        let width = PAD + cols * (cell_w + PAD);
        let height = PAD + rows * (cell_h + caption_h + PAD);
        let mut out = RgbImage::from_pixel(width, height, Rgb([40, 40, 40]));
        for (i, (tile, caption)) in self.tiles.iter().enumerate() {
            let x0 = PAD + (i as u32 % cols) * (cell_w + PAD);
            let y0 = PAD + (i as u32 / cols) * (cell_h + caption_h + PAD);
            for y in 0..tile.height() * s {
                for x in 0..tile.width() * s {
                    out.put_pixel(x0 + x, y0 + y, *tile.get_pixel(x / s, y / s));
                }
            }
            draw_text(
                &mut out,
                x0,
                y0 + cell_h + 2,
                caption,
                CAPTION_SCALE,
                [230, 230, 230],
            );
        }
        out
    }

    /// Renders the grid and writes it as a PNG, atomically.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let img = self.render();
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|source| Error::Encode {
            path: path.to_path_buf(),
            source,
        })?;
        write_atomic(path, &bytes)
    }
}

fn check(len: usize, [c, h, w]: [usize; 3], caption: &str) -> Result<()> {
    let bad = |problem: String| Error::InvalidImage {
        what: format!("{caption:?}"),
        problem,
    };
    if c != 1 && c != 3 {
        return Err(bad(format!("{c} channels: expected 1 or 3")));
    }
    if len != c * h * w || h == 0 || w == 0 {
        return Err(bad(format!("{len} values for shape [{c}, {h}, {w}]")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_land_in_their_cells_scaled() {
        let mut g = ImageGrid::new(2, 3);
        // 2x2 RGB: red, green / blue, white.
        let chw = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255];
        g.push_u8(&chw, [3, 2, 2], "a").unwrap();
        g.push_mask(&[0, 1, 1, 0], 2, 2, "m").unwrap();
        let img = g.render();
        assert_eq!(img.get_pixel(PAD, PAD).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(PAD + 5, PAD + 2).0, [0, 255, 0]);
        assert_eq!(img.get_pixel(PAD + 1, PAD + 4).0, [0, 0, 255]);
        assert_eq!(img.get_pixel(PAD + 5, PAD + 5).0, [255, 255, 255]);
        let x1 = PAD + 6 + PAD;
        assert_eq!(img.get_pixel(x1, PAD).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(x1 + 3, PAD).0, [255, 255, 255]);
        assert!(g.push_u8(&chw, [2, 2, 3], "bad").is_err());
        assert!(g.push_u8(&chw[..5], [3, 2, 2], "short").is_err());
    }

    #[test]
    fn saves_a_png_that_decodes_to_the_render() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = ImageGrid::new(3, 1);
        g.push_f32(&[0.0, 0.5, 1.0, 2.0], [1, 2, 2], "x").unwrap();
        let p = dir.path().join("g.png");
        g.save_png(&p).unwrap();
        let back = image::open(&p).unwrap().to_rgb8();
        assert_eq!(back, g.render());
        assert_eq!(back.get_pixel(PAD + 1, PAD + 1).0, [255; 3]);
    }
}
