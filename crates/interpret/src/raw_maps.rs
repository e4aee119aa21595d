//! The raw maps of [`crate::summary::summarize`] as a safetensors file, so
//! that other tools (Captum, lime, numpy) can read and check them.

use crate::summary::Explained;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

impl Explained {
    /// The tensors written by [`Explained::save_safetensors`]:
    /// `attributions` `[N, C, H, W]` and `map` `[N, H, W]` (f32),
    /// `coarse` `[N, h, w]` (GradCAM only, before upsampling), `labels` and
    /// `indices` (i64, each image's position in the evaluated split).
    pub fn raw_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let ints = |v: Vec<i64>| Tensor::from_vec(v.clone(), v.len(), &Device::Cpu);
        let mut out = HashMap::new();
        out.insert(
            "attributions".to_string(),
            self.attributions.to_dtype(DType::F32)?,
        );
        out.insert("map".to_string(), self.maps.to_dtype(DType::F32)?);
        if let Some(c) = &self.coarse {
            out.insert("coarse".to_string(), c.to_dtype(DType::F32)?);
        }
        out.insert(
            "labels".to_string(),
            ints(self.labels.iter().map(|&l| i64::from(l)).collect())?,
        );
        out.insert(
            "indices".to_string(),
            ints(self.indices.iter().map(|&i| i as i64).collect())?,
        );
        Ok(out)
    }

    /// Writes [`Explained::raw_tensors`] to `path` atomically (a temporary
    /// file renamed over it).
    pub fn save_safetensors(&self, path: &Path) -> Result<()> {
        let tensors = self.raw_tensors()?;
        sc_core::write_atomic_with(path, |tmp| {
            candle_core::safetensors::save(&tensors, tmp).map_err(std::io::Error::other)
        })
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
