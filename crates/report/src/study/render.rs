//! A study directory into `REPORT.md`, `report.html` and `figures/`.

use super::claims::{claims, ClaimRow};
use super::doc::{Block, Doc};
use super::load::Study;
use super::sections;
use crate::{write_atomic, Error, Result};
use std::path::{Path, PathBuf};

/// What [`render`] wrote.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `REPORT.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// The figure files (PNG and SVG) under `figures/`.
    pub figures: Vec<PathBuf>,
    /// The claims table.
    pub claims: Vec<ClaimRow>,
}

/// The report of `study` as a document; figures are drawn into
/// `figures` (their files are listed in `written`).
pub fn document(study: &Study, written: &mut Vec<PathBuf>) -> Result<Doc> {
    use super::figures::{drop_figure, ds_figure, robust_figure};
    let mut blocks = sections::intro(study);
    blocks.extend(sections::claims_section(study));
    blocks.extend(sections::departures_section(study));
    let robustness = sections::robustness_section(study);
    if !robustness.is_empty() {
        blocks.extend(robustness);
        blocks.extend(robust_figure(study, written)?);
    }
    // The sections ask for their figures by kind; the first error wins.
    let mut error = None;
    let mut keep = |r: Result<Vec<Block>>| {
        r.unwrap_or_else(|e| {
            error.get_or_insert(e);
            Vec::new()
        })
    };
    blocks.extend(sections::ds_section(study, &mut |kind| {
        keep(ds_figure(study, kind, written))
    }));
    blocks.extend(sections::probes_section(study, &mut |kind| {
        keep(drop_figure(study, kind, written))
    }));
    blocks.extend(sections::attribution_section(
        study,
        &mut |regime, method| keep(pictures(study, regime, method)),
    ));
    blocks.extend(sections::training_section(study));
    blocks.extend(sections::not_run_section(study));
    if let Some(e) = error {
        return Err(e);
    }
    Ok(Doc {
        title: study.manifest.title.clone(),
        blocks,
    })
}

/// The attribution picture of the lowest seed of `regime`, if the study has one.
fn pictures(study: &Study, regime: &str, method: &str) -> Result<Vec<Block>> {
    let Some((seed, path)) = study
        .runs
        .iter()
        .filter(|r| r.regime == regime)
        .filter_map(|r| r.attribution_images.get(method).map(|p| (r.seed, p)))
        .min_by_key(|(s, _)| *s)
    else {
        return Ok(Vec::new());
    };
    let full = study.dir.join(path);
    let png = std::fs::read(&full).map_err(|source| Error::Io { path: full, source })?;
    Ok(vec![Block::Picture {
        caption: format!("{method} maps of {regime} (seed {seed})"),
        path: path.display().to_string(),
        png,
    }])
}

/// Reads the study in `dir` and writes `dir/REPORT.md`, `dir/report.html`
/// and `dir/figures/*.{png,svg}`, each atomically.
pub fn render(dir: &Path) -> Result<Rendered> {
    let study = Study::load(dir)?;
    let mut figures = Vec::new();
    let doc = document(&study, &mut figures)?;
    let markdown = dir.join("REPORT.md");
    write_atomic(&markdown, doc.markdown().as_bytes())?;
    let html = dir.join("report.html");
    write_atomic(&html, doc.html().as_bytes())?;
    Ok(Rendered {
        markdown,
        html,
        figures,
        claims: claims(&study),
    })
}
