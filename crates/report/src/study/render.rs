//! A study directory into `REPORT.md`, `report.html` and `figures/`.

use super::claims::{claims, ClaimRow};
use super::doc::{Block, Doc, PictureFile};
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
    use super::figures::{
        alpha_figures, discontinuity_figure, drop_figure, ds_figure, fairness_figure,
        margin_figure, robust_figure, transfer_figure,
    };
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
    let mut embeddings = std::collections::BTreeMap::new();
    for method in ["pca", "tsne", "umap"] {
        embeddings.insert(method.to_string(), embedding_rows(study, method)?);
    }
    blocks.extend(sections::discontinuity_section(
        study,
        &mut |kind| keep(discontinuity_figure(study, kind, written)),
        &mut |method| embeddings.remove(method).unwrap_or_default(),
    ));
    blocks.extend(sections::ds_section(study, &mut |kind| {
        keep(ds_figure(study, kind, written))
    }));
    blocks.extend(sections::alpha_section(study, &mut || {
        keep(alpha_figures(study, written))
    }));
    blocks.extend(sections::probes_section(study, &mut |kind| {
        keep(drop_figure(study, kind, written))
    }));
    blocks.extend(sections::margin_section(study, &mut || {
        keep(margin_figure(study, written))
    }));
    blocks.extend(sections::attribution_section(
        study,
        &mut |regime, method| keep(pictures(study, regime, method)),
    ));
    blocks.extend(sections::transfer_section(study, &mut || {
        keep(transfer_figure(study, written))
    }));
    blocks.extend(sections::fairness_section(study, &mut || {
        keep(fairness_figure(study, written))
    }));
    blocks.extend(sections::training_section(study));
    blocks.extend(sections::timings_section(study));
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

/// The Fig. 2 pictures of `method`, side by side per pair (base beside c,
/// adv beside adv-c), each of the lowest seed that has one, captioned with
/// its class, anchor and trustworthiness.
fn embedding_rows(study: &Study, method: &str) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    for pair in [["base", "c"], ["adv", "adv-c"]] {
        let mut pictures = Vec::new();
        for regime in pair {
            let Some(run) = study
                .runs
                .iter()
                .filter(|r| r.regime == regime && r.embedding_images.contains_key(method))
                .min_by_key(|r| r.seed)
            else {
                continue;
            };
            let path = &run.embedding_images[method];
            let full = study.dir.join(path);
            let png = std::fs::read(&full).map_err(|source| Error::Io { path: full, source })?;
            let detail = run.discontinuity.as_ref().map_or(String::new(), |d| {
                let e = &d.embeddings;
                let trust = match method {
                    "pca" => e.pca.trustworthiness,
                    "tsne" => e.tsne.trustworthiness,
                    _ => e.umap.trustworthiness,
                };
                format!(
                    ": class {}, anchor {}, level {}, trustworthiness {trust:.3}",
                    d.fig2.class_name, d.fig2.anchor, d.fig2.level
                )
            });
            pictures.push(PictureFile {
                caption: format!("{regime} (seed {}){detail}", run.seed),
                path: path.display().to_string(),
                png,
            });
        }
        if !pictures.is_empty() {
            out.push(Block::PictureRow {
                caption: format!("Fig. 2 by {method}: {}", pair.join(" beside ")),
                pictures,
            });
        }
    }
    Ok(out)
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
