//! TEMPORARY stand-ins for `sc_report::plot` and `SelectionArgs`, which the
//! lead adds to main; deleted at the merge.

use crate::args::DataArgs;
use anyhow::Result;
use clap::Args;
use sc_data::ImageSet;
use std::path::Path;

#[derive(Args, Clone, Debug)]
pub struct SelectionArgs {
    /// Use only the first N test images.
    #[arg(long, conflicts_with = "per_class")]
    pub limit: Option<usize>,
    /// Use the first N test images of each class.
    #[arg(long)]
    pub per_class: Option<usize>,
}

pub fn test_selection(data: &DataArgs, sel: &SelectionArgs) -> Result<(ImageSet, Vec<usize>)> {
    let set = data.test_split(None)?;
    let idx: Vec<usize> = match (sel.limit, sel.per_class) {
        (Some(n), _) => (0..n.min(set.len())).collect(),
        (None, Some(n)) => {
            let mut seen = vec![0; set.num_classes()];
            (0..set.len())
                .filter(|&i| {
                    let c = set.labels()[i] as usize;
                    seen[c] += 1;
                    seen[c] <= n
                })
                .collect()
        }
        _ => (0..set.len()).collect(),
    };
    Ok((set.select(&idx)?, idx))
}

pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub band: Option<Vec<(f64, f64)>>,
}
impl LineChart {
    pub fn save_png(&self, path: &Path, _size: (u32, u32)) -> Result<()> {
        sc_core::write_atomic(path, b"\x89PNG shim")?;
        Ok(())
    }
}
