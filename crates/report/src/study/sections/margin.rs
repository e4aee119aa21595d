//! Margins per DCT band (the companion paper, Ortiz-Jimenez et al. 2020):
//! per regime and band, the median L2 distance to the decision boundary
//! within the band's subspace, as a geometric mean over seeds.

use super::super::doc::{Block, Table};
use super::super::load::{Run, Study};
use super::super::measures::log_margin;
use super::super::stats::Estimate;
use super::cell;

/// The bands any run probed, in order.
pub fn bands(study: &Study) -> Vec<usize> {
    let mut b: Vec<usize> = study
        .runs
        .iter()
        .filter_map(|r| r.margin.as_ref())
        .flat_map(|m| m.bands.iter().map(|b| b.band))
        .collect();
    b.sort_unstable();
    b.dedup();
    b
}

/// The estimate over seeds of log10 of the median margin of `band` for
/// `regime` (seeds whose median is undefined are left out), and how many
/// seeds probed it.
pub fn log_margin_estimate(study: &Study, regime: &str, band: usize) -> (Option<Estimate>, usize) {
    let probed = study
        .runs
        .iter()
        .filter(|r| r.regime == regime && r.margin.is_some())
        .count();
    let v: Vec<f64> = study
        .per_seed(regime, |r: &Run| log_margin(r, band))
        .into_iter()
        .map(|(_, x)| x)
        .collect();
    (Estimate::of(&v), probed)
}

/// `10^mean [10^lo, 10^hi]`: the geometric mean over seeds and its CI.
fn geometric_cell(e: Option<Estimate>, probed: usize) -> String {
    let Some(e) = e else {
        return if probed > 0 {
            "undefined (at most half flipped)".into()
        } else {
            "-".into()
        };
    };
    let p = |x: f64| format!("{:.3}", 10f64.powf(x));
    let mut s = match e.ci {
        Some((lo, hi)) => format!("{} [{}, {}]", p(e.mean), p(lo), p(hi)),
        None => format!("{} (no CI)", p(e.mean)),
    };
    if e.n < probed {
        s.push_str(&format!(" ({} of {probed} seeds defined)", e.n));
    }
    s
}

/// The margins section; `figure()` draws the margin figure.
pub fn margin_section(study: &Study, figure: &mut dyn FnMut() -> Vec<Block>) -> Vec<Block> {
    let bands = bands(study);
    if bands.is_empty() {
        return Vec::new();
    }
    let first = study.runs.iter().find_map(|r| r.margin.as_ref());
    let (images, size, max_iter) = first.map_or((0, 0, 0), |m| (m.images, m.band_size, m.max_iter));
    let mut header = vec!["regime".to_string()];
    header.extend(bands.iter().map(|b| format!("band {b}")));
    let mut margins = Table::new(&header);
    let mut flipped = Table::new(&header);
    for regime in study.regimes() {
        let mut m = vec![regime.clone()];
        let mut f = vec![regime.clone()];
        for &b in &bands {
            let (e, probed) = log_margin_estimate(study, &regime, b);
            m.push(geometric_cell(e, probed));
            f.push(cell(study, &regime, 100.0, 1, &|r| {
                Some(
                    r.margin
                        .as_ref()?
                        .bands
                        .iter()
                        .find(|x| x.band == b)?
                        .flipped_fraction,
                )
            }));
        }
        margins.row(m);
        flipped.row(f);
    }
    let mut out = vec![
        Block::Heading(1, "Margins per DCT band (companion paper)".into()),
        Block::Para(format!(
            "The L2 distance from each of {images} test images to the decision boundary within \
             one band of the 2-D DCT basis ({size}x{size} frequencies per channel, band 0 = the \
             lowest), found by DeepFool restricted to the band ({max_iter} steps at most); per \
             run the median over images, an image whose decision did not flip counting as \
             infinitely far, so the median is undefined when at most half flipped. Margins span \
             orders of magnitude: each cell is the geometric mean over seeds with its 95% CI \
             (the t interval of log10). Ortiz-Jimenez et al. find networks nearly invariant \
             along non-discriminative (high-frequency) directions; a semantically continuous \
             model should have larger margins there (claim M)."
        )),
    ];
    out.extend(figure());
    out.push(Block::Para("Median margin (L2, pixels in [0, 1]):".into()));
    out.push(Block::Table(margins));
    out.push(Block::Para(
        "Images whose decision flipped within the band, %:".into(),
    ));
    out.push(Block::Table(flipped));
    out
}
