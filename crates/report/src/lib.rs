//! `sc-report`: turns semcon's results into pictures and files a person reads.
//!
//! [`ImageGrid`] lays images (CHW `u8` or `[0,1]` f32, 1 or 3 channels) and
//! masks out in a captioned grid and writes it as a PNG; used for data
//! previews and before/after pictures of perturbations. Every file is written
//! to a temporary name and renamed ([`write_atomic`]), so an interrupted run
//! never leaves a torn file. [`heat_overlay`] draws an attribution map in
//! [`viridis`] over its image. [`plot`] describes line, scatter and bar
//! charts as values and draws them to PNG and SVG. [`study`] turns a study
//! directory (the JSON of every stage over seeds and regimes) into
//! `REPORT.md` and a self-contained `report.html`: claims with verdicts from
//! 95% confidence intervals, figures, and where the study departs from the
//! paper.
//!
//! ```
//! use sc_report::ImageGrid;
//!
//! let mut grid = ImageGrid::new(2, 2);
//! let red = [255u8; 16].iter().chain(&[0u8; 32]).copied().collect::<Vec<u8>>();
//! grid.push_u8(&red, [3, 4, 4], "red")?;
//! grid.push_mask(&[1, 0, 0, 1], 2, 2, "mask")?;
//! let img = grid.render();
//! assert!(img.width() >= 2 * 8);
//! # Ok::<(), sc_report::Error>(())
//! ```

mod font;
mod grid;
mod heatmap;
pub mod plot;
pub mod study;

pub use font::{draw_text, text_height, text_width};
pub use grid::ImageGrid;
pub use heatmap::{heat_overlay, viridis, VIRIDIS};

use std::path::{Path, PathBuf};

/// Errors of `sc-report`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The underlying error.
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("{path}: cannot encode image: {source}")]
    Encode {
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The underlying error.
        source: image::ImageError,
    },
    /// A JSON file that is not what it should be.
    #[error("{path}: {source}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        #[source]
        /// The parse error (with line and column).
        source: serde_json::Error,
    },
    /// A study directory that does not hold a study.
    #[error("{path}: {problem}")]
    Study {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// A figure that cannot be drawn: a bad value (named by its series) or
    /// a plotting failure.
    #[error("figure {what}: {problem}")]
    Plot {
        /// The series, axis or figure concerned.
        what: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// Input that does not describe an image.
    #[error("invalid image {what}: {problem}")]
    InvalidImage {
        /// What was invalid.
        what: String,
        /// What is wrong, and what was expected.
        problem: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes `bytes` to `path` atomically (see [`sc_core::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    sc_core::write_atomic(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // A directory in the way gives an error naming the path, not a panic.
        std::fs::create_dir_all(dir.path().join("d")).unwrap();
        let e = write_atomic(&dir.path().join("d"), b"x").unwrap_err();
        assert!(e.to_string().contains("d"));
    }
}
