//! The evidence of discontinuity (paper Sec. 2.2): the Fig. 1 table and
//! figure per photometric kind, and the Fig. 2 embeddings with their
//! trustworthiness.

use super::super::doc::{Block, Table};
use super::super::load::Study;
use super::super::measures::{discontinuity_fraction, discontinuity_rank, PHOTOMETRIC};
use super::{cell, level_table};

/// Whether any run measured Fig. 1 under `kind`.
fn measured(study: &Study, kind: &str) -> bool {
    study.runs.iter().any(|r| {
        r.discontinuity
            .as_ref()
            .is_some_and(|d| d.fig1.iter().any(|e| e.perturbation == kind))
    })
}

/// The trustworthiness of each embedding method per regime.
fn trust_table(study: &Study) -> Table {
    let mut t = Table::new(&["regime", "PCA", "t-SNE", "UMAP"]);
    for regime in study.regimes() {
        t.row(vec![
            regime.clone(),
            cell(study, &regime, 1.0, 3, &|r| {
                Some(r.discontinuity.as_ref()?.embeddings.pca.trustworthiness)
            }),
            cell(study, &regime, 1.0, 3, &|r| {
                Some(r.discontinuity.as_ref()?.embeddings.tsne.trustworthiness)
            }),
            cell(study, &regime, 1.0, 3, &|r| {
                Some(r.discontinuity.as_ref()?.embeddings.umap.trustworthiness)
            }),
        ]);
    }
    t
}

/// Figs. 1-2; `figure(kind)` gives each kind's Fig. 1 figure and
/// `pictures(method)` the Fig. 2 pictures of one embedding method.
pub fn discontinuity_section(
    study: &Study,
    figure: &mut dyn FnMut(&str) -> Vec<Block>,
    pictures: &mut dyn FnMut(&str) -> Vec<Block>,
) -> Vec<Block> {
    if !study.runs.iter().any(|r| r.discontinuity.is_some()) {
        return Vec::new();
    }
    let images = study
        .runs
        .iter()
        .find_map(|r| r.discontinuity.as_ref())
        .map_or(0, |d| d.images);
    let mut out = vec![
        Block::Heading(
            1,
            "Evidence of discontinuity (paper Sec. 2.2, Figs. 1-2)".into(),
        ),
        Block::Para(format!(
            "For each test image `A` ({images} test images per run) and each photometric \
             perturbation `P` of Table 1: the **share of images** for which some other test \
             image `B` of the same class is closer to `A` than `A`'s own perturbed version, \
             `DS(A, B) < DS(A, P(A))`, and the **mean rank**: how many such `B` there are, on \
             average. A semantically continuous model keeps `P(A)` nearest to `A`, so both \
             should be smaller for the constrained regimes. The paper shows this for a base \
             ResNet50 on ImageNet only (Fig. 1)."
        )),
    ];
    for kind in PHOTOMETRIC {
        if !measured(study, kind) {
            continue;
        }
        out.push(Block::Heading(2, format!("Fig. 1 under {kind}")));
        out.extend(figure(kind));
        out.push(Block::Para(format!(
            "Share of images with a closer same-class image under {kind}, %:"
        )));
        out.push(Block::Table(level_table(
            study,
            kind,
            100.0,
            2,
            discontinuity_fraction,
        )));
        out.push(Block::Para(format!("Mean rank under {kind}:")));
        out.push(Block::Table(level_table(
            study,
            kind,
            1.0,
            2,
            discontinuity_rank,
        )));
    }
    out.push(Block::Heading(
        2,
        "Fig. 2: one class's logits embedded in 2-D".into(),
    ));
    out.push(Block::Para(
        "The logits of every selected test image of one class, with an anchor image and its \
         four perturbed versions, projected by PCA, t-SNE and UMAP. Trustworthiness (k = 5) says \
         how far a 2-D picture can be believed: 1 = every 2-D neighbourhood is a neighbourhood \
         of the logits. A continuous model puts the perturbed versions beside the anchor."
            .into(),
    ));
    out.push(Block::Table(trust_table(study)));
    for method in ["pca", "tsne", "umap"] {
        out.extend(pictures(method));
    }
    out
}
