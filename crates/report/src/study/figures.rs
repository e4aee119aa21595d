//! The study's figures, drawn with [`crate::plot`]: DS (raw and
//! scale-free) vs level per photometric kind, one line per regime with its
//! 95% CI band (paper Fig. 3); accuracy drop vs strength per
//! semantic-destroying probe (Figs. 6, 8, 10); robust accuracy per regime
//! with CIs (Table 2). Each is written as PNG and SVG under `figures/` and
//! returned as a [`Block::Figure`] (the SVG goes inline into the HTML).

use super::doc::Block;
use super::load::{Run, Study};
use super::measures::{accuracy_drop, ds, robust_accuracy, scale_free_ds, LEVELS};
use super::stats::Estimate;
use crate::plot::{Bar, BarChart, LineChart, Series};
use crate::{write_atomic, Result};
use std::path::PathBuf;

/// Pixel size of every figure.
const SIZE: (u32, u32) = (720, 420);

/// The estimate over seeds of `f` for `regime`.
fn estimate(study: &Study, regime: &str, f: &dyn Fn(&Run) -> Option<f64>) -> Option<Estimate> {
    let v: Vec<f64> = study
        .per_seed(regime, f)
        .into_iter()
        .map(|(_, x)| x)
        .collect();
    Estimate::of(&v)
}

/// One series per regime of `f(run, level)` against the level, with a band
/// when every point has a CI; regimes without values are left out.
fn level_series(study: &Study, scale: f64, f: &dyn Fn(&Run, u8) -> Option<f64>) -> Vec<Series> {
    let mut out = Vec::new();
    for regime in study.regimes() {
        let points: Vec<(f64, Estimate)> = LEVELS
            .iter()
            .filter_map(|&l| {
                Some((
                    f64::from(l),
                    estimate(study, &regime, &|r| f(r, l))?.scaled(scale),
                ))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let band: Option<Vec<(f64, f64)>> = points.iter().map(|(_, e)| e.ci).collect();
        out.push(Series {
            label: regime.clone(),
            points: points.iter().map(|(x, e)| (*x, e.mean)).collect(),
            band,
        });
    }
    out
}

/// Writes `chart` as `figures/{stem}.png` and `.svg`; the figure block.
fn save_line(
    study: &Study,
    chart: &LineChart,
    stem: &str,
    caption: String,
    written: &mut Vec<PathBuf>,
) -> Result<Vec<Block>> {
    let dir = study.dir.join("figures");
    let png = dir.join(format!("{stem}.png"));
    chart.save_png(&png, SIZE)?;
    let svg = chart.to_svg(SIZE)?;
    let svg_path = dir.join(format!("{stem}.svg"));
    write_atomic(&svg_path, svg.as_bytes())?;
    written.extend([png, svg_path]);
    Ok(vec![Block::Figure {
        caption,
        svg,
        png: format!("figures/{stem}.png"),
    }])
}

/// DS and scale-free DS vs level under `kind`, one line per regime.
pub fn ds_figure(study: &Study, kind: &str, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    let mut out = Vec::new();
    for (stem, y_label, f) in [
        ("ds", "DS(x, P(x))", ds as fn(&Run, &str, u8) -> Option<f64>),
        ("scale-free-ds", "DS / mean same-class DS", scale_free_ds),
    ] {
        let series = level_series(study, 1.0, &|r, l| f(r, kind, l));
        if series.is_empty() {
            continue;
        }
        let chart = LineChart {
            title: format!("{y_label} under {kind}"),
            x_label: "level (Table 1)".into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            series,
        };
        out.extend(save_line(
            study,
            &chart,
            &format!("{stem}-{kind}"),
            format!("{y_label} under {kind} per level: mean over seeds, band = 95% CI, one line per regime."),
            written,
        )?);
    }
    Ok(out)
}

/// Accuracy drop from clean vs level under `kind`, one line per regime.
pub fn drop_figure(study: &Study, kind: &str, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    let series = level_series(study, 100.0, &|r, l| accuracy_drop(r, kind, l));
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let chart = LineChart {
        title: format!("accuracy drop under {kind}"),
        x_label: "level (strength)".into(),
        y_label: "clean minus perturbed accuracy, points".into(),
        log_x: false,
        log_y: false,
        series,
    };
    save_line(
        study,
        &chart,
        &format!("drop-{kind}"),
        format!("Accuracy lost under {kind} per level: mean over seeds, band = 95% CI."),
        written,
    )
}

/// Robust accuracy per regime with its 95% CI.
pub fn robust_figure(study: &Study, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    let bars: Vec<Bar> = study
        .regimes()
        .into_iter()
        .filter_map(|regime| {
            let e = estimate(study, &regime, &robust_accuracy)?.scaled(100.0);
            Some(Bar {
                label: regime,
                value: e.mean,
                ci: e.ci,
            })
        })
        .collect();
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let chart = BarChart {
        title: "robust accuracy (worst case over the attacks)".into(),
        y_label: "accuracy, %".into(),
        bars,
    };
    let dir = study.dir.join("figures");
    let png = dir.join("robust-accuracy.png");
    chart.save_png(&png, SIZE)?;
    let svg = chart.to_svg(SIZE)?;
    let svg_path = dir.join("robust-accuracy.svg");
    write_atomic(&svg_path, svg.as_bytes())?;
    written.extend([png, svg_path]);
    Ok(vec![Block::Figure {
        caption: "Robust accuracy per regime: mean over seeds, error bar = 95% CI.".into(),
        svg,
        png: "figures/robust-accuracy.png".into(),
    }])
}
