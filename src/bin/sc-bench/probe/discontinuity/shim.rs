//! TEMPORARY stand-ins for the lead's shared pieces (`SelectionArgs`,
//! `DataArgs::test_selection`, `sc_report::plot`), with their announced
//! signatures; deleted when they land on main.

use crate::args::DataArgs;
use anyhow::{bail, Result};
use clap::Args;
use sc_data::ImageSet;
use std::path::Path;

/// Which test images a probe uses.
#[derive(Args, Clone, Debug)]
pub struct SelectionArgs {
    /// First N images.
    #[arg(long, conflicts_with = "per_class")]
    pub limit: Option<usize>,
    /// First N of each class.
    #[arg(long)]
    pub per_class: Option<usize>,
}

/// `DataArgs::test_selection`.
pub trait TestSelection {
    /// The selected images and their positions in the evaluated split.
    fn test_selection(&self, sel: &SelectionArgs) -> Result<(ImageSet, Vec<usize>)>;
}

impl TestSelection for DataArgs {
    fn test_selection(&self, sel: &SelectionArgs) -> Result<(ImageSet, Vec<usize>)> {
        let set = self.test_split(None)?;
        let indices: Vec<usize> = match (sel.limit, sel.per_class) {
            (Some(n), _) => (0..n.min(set.len())).collect(),
            (None, Some(n)) => {
                let mut seen = vec![0; set.num_classes()];
                let mut out = Vec::new();
                for (i, &l) in set.labels().iter().enumerate() {
                    if seen[l as usize] < n {
                        seen[l as usize] += 1;
                        out.push(i);
                    }
                }
                if let Some(c) = seen.iter().position(|&s| s < n) {
                    bail!(
                        "--per-class {n}: class {} has {}",
                        set.classes()[c],
                        seen[c]
                    );
                }
                out
            }
            (None, None) => (0..set.len()).collect(),
        };
        Ok((set.select(&indices)?, indices))
    }
}

/// `sc_report::plot`.
pub mod plot {
    use super::*;

    /// Marker shapes.
    #[derive(Clone, Copy, Debug)]
    pub enum Marker {
        /// .
        Dot,
        /// .
        Circle,
        /// .
        Cross,
        /// .
        Triangle,
        /// .
        Square,
    }

    /// A scatter group.
    pub struct ScatterGroup {
        /// .
        pub label: String,
        /// .
        pub points: Vec<(f64, f64)>,
        /// .
        pub marker: Marker,
        /// .
        pub size: u32,
    }

    /// A scatter chart.
    pub struct ScatterChart {
        /// .
        pub title: String,
        /// .
        pub x_label: String,
        /// .
        pub y_label: String,
        /// .
        pub groups: Vec<ScatterGroup>,
    }

    impl ScatterChart {
        /// Writes an empty file (stand-in).
        pub fn save_png(&self, path: &Path, _size: (u32, u32)) -> Result<()> {
            sc_core::write_atomic(path, b"")?;
            Ok(())
        }
    }
}
