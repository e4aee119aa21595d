//! Numbers for attribution maps, so that "smoother" and "on the object"
//! (the paper's reading of Fig. 6) can be compared across models and seeds.

use crate::{invalid, Result};
use candle_core::{DType, Tensor};

/// Anisotropic total variation of each map `[N, H, W]`, normalised by the
/// map's total absolute mass: `sum |m[i+1,j]-m[i,j]| + |m[i,j+1]-m[i,j]|`
/// over `sum |m|`. Scale-free, so maps of different models compare; lower
/// means smoother. A map of zeros gives 0.
pub fn total_variation(maps: &Tensor) -> Result<Vec<f64>> {
    let (_, h, w) = maps.dims3()?;
    let m = maps.to_dtype(DType::F64)?;
    let dy = (m.narrow(1, 1, h - 1)? - m.narrow(1, 0, h - 1)?)?
        .abs()?
        .sum((1, 2))?;
    let dx = (m.narrow(2, 1, w - 1)? - m.narrow(2, 0, w - 1)?)?
        .abs()?
        .sum((1, 2))?;
    let mass = m.abs()?.sum((1, 2))?.to_vec1::<f64>()?;
    let tv = (dy + dx)?.to_vec1::<f64>()?;
    Ok(tv
        .iter()
        .zip(&mass)
        .map(|(t, m)| if *m > 0.0 { t / m } else { 0.0 })
        .collect())
}

/// Share of each map's absolute mass inside a mask `[N, H, W]` (nonzero =
/// inside): attribution on the object (the `shapes` masks) or a central box.
/// A map of zeros gives 0.
pub fn mass_inside(maps: &Tensor, masks: &Tensor) -> Result<Vec<f64>> {
    if maps.dims() != masks.dims() || maps.rank() != 3 {
        return Err(invalid(
            "masks",
            format!(
                "shape {:?}: expected the maps' shape {:?} ([N, H, W])",
                masks.dims(),
                maps.dims()
            ),
        ));
    }
    let m = maps.to_dtype(DType::F64)?.abs()?;
    let inside = masks.to_dtype(DType::F64)?.ne(0.0)?.to_dtype(DType::F64)?;
    let num = (&m * inside)?.sum((1, 2))?.to_vec1::<f64>()?;
    let den = m.sum((1, 2))?.to_vec1::<f64>()?;
    Ok(num
        .iter()
        .zip(&den)
        .map(|(a, b)| if *b > 0.0 { a / b } else { 0.0 })
        .collect())
}

/// The central box of an `h x w` map as a mask `[h, w]` (1 inside): rows
/// `h/4 .. h - h/4`, columns `w/4 .. w - w/4`, so a quarter of the area when
/// both sides divide by 4. The stand-in for object masks on sets that have
/// none (CIFAR, folders): photographs are mostly framed on their object, so
/// the share of attribution mass in the centre is the mask-free reading of
/// "on the object".
pub fn central_box(h: usize, w: usize) -> Vec<f32> {
    let (top, left) = (h / 4, w / 4);
    let mut mask = vec![0f32; h * w];
    for y in top..h - top {
        for x in left..w - left {
            mask[y * w + x] = 1.0;
        }
    }
    mask
}
