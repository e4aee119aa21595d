//! A study as a scientist would publish it (issue 14): the typed JSON of
//! every stage and run ([`stages`], [`load`]), statistics over seeds
//! ([`stats`]: means with 95% Student-t intervals, paired differences), the
//! claims table with verdicts from the CI alone ([`mod@claims`], [`verdict`]),
//! the "departs from the paper" table from the configuration actually used
//! ([`departures`]), and the rendering into `REPORT.md` and a self-contained
//! `report.html` with figures ([`mod@render`]). `sc-bench report DIR` calls
//! [`render()`]; `cargo xtask reproduce` writes the study directory.
//!
//! Adding a stage to studies: its typed report in [`stages`], its file in
//! [`load::RunFiles`], a section in `sections`, its row(s) in [`mod@claims`].

pub mod claims;
pub mod departures;
pub mod doc;
mod figures;
pub mod load;
pub mod measures;
pub mod render;
mod sections;
pub mod stages;
pub mod stats;
pub mod verdict;

pub use claims::{claims, ClaimRow};
pub use load::{Manifest, Run, RunFiles, Study, MANIFEST};
pub use render::{render, Rendered};
pub use stats::{paired_difference, t_quantile, Estimate};
pub use verdict::{Expect, Verdict};
