//! TEMPORARY shim until `sc_report::plot` lands from main (deleted at the merge).

use super::doc::Block;
use super::load::Study;
use crate::Result;
use std::path::PathBuf;

/// Shim.
pub fn ds_figure(_: &Study, _: &str, _: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    Ok(Vec::new())
}

/// Shim.
pub fn drop_figure(_: &Study, _: &str, _: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    Ok(Vec::new())
}
