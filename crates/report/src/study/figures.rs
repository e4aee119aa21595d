//! The study's figures, drawn with [`crate::plot`]: DS (raw and
//! scale-free) vs level per photometric kind, one line per regime with its
//! 95% CI band (paper Fig. 3); accuracy drop vs strength per
//! semantic-destroying probe (Figs. 6, 8, 10); robust accuracy per regime
//! with CIs (Table 2); the Fig. 1 discontinuity fraction vs level per
//! photometric kind; the median margin per DCT band (log y); accuracy per
//! background colour (Table 4) and after fine-tuning (Table 3). Each is written as PNG and SVG under `figures/` and
//! returned as a [`Block::Figure`] (the SVG goes inline into the HTML).

use super::doc::Block;
use super::load::{Run, Study};
use super::measures::{
    accuracy_drop, discontinuity_fraction, ds, robust_accuracy, scale_free_ds, transfer_accuracy,
    LEVELS,
};
use super::stats::Estimate;
use crate::plot::{Bar, BarChart, LineChart, Series};
use crate::{write_atomic, Result};
use std::path::{Path, PathBuf};

/// A per-run number (a measure of [`super::measures`]).
type RunValue = dyn Fn(&Run) -> Option<f64>;

/// A per-alpha number of an alpha sweep.
type AlphaValue = fn(&super::stages::AlphaPoint) -> f64;

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

/// Writes a figure as `figures/{stem}.png` (by `save_png`) and `.svg`
/// (`svg`); the figure block.
fn save_figure(
    study: &Study,
    save_png: impl FnOnce(&Path) -> Result<()>,
    svg: String,
    stem: &str,
    caption: String,
    written: &mut Vec<PathBuf>,
) -> Result<Vec<Block>> {
    let dir = study.dir.join("figures");
    let png = dir.join(format!("{stem}.png"));
    save_png(&png)?;
    let svg_path = dir.join(format!("{stem}.svg"));
    write_atomic(&svg_path, svg.as_bytes())?;
    written.extend([png, svg_path]);
    Ok(vec![Block::Figure {
        caption,
        svg,
        png: format!("figures/{stem}.png"),
    }])
}

/// Writes a line chart (see [`save_figure`]).
fn save_line(
    study: &Study,
    chart: &LineChart,
    stem: &str,
    caption: String,
    written: &mut Vec<PathBuf>,
) -> Result<Vec<Block>> {
    let svg = chart.to_svg(SIZE)?;
    save_figure(
        study,
        |p| chart.save_png(p, SIZE),
        svg,
        stem,
        caption,
        written,
    )
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

/// The Fig. 1 fraction vs level under `kind`, in %, one line per regime.
pub fn discontinuity_figure(
    study: &Study,
    kind: &str,
    written: &mut Vec<PathBuf>,
) -> Result<Vec<Block>> {
    let series = level_series(study, 100.0, &|r, l| discontinuity_fraction(r, kind, l));
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let chart = LineChart {
        title: format!("images with a closer same-class image, under {kind}"),
        x_label: "level (Table 1)".into(),
        y_label: "share of images, %".into(),
        log_x: false,
        log_y: false,
        series,
    };
    save_line(
        study,
        &chart,
        &format!("discontinuity-{kind}"),
        format!(
            "Fig. 1 under {kind}: share of images A with a same-class image B such that \
             DS(A, B) < DS(A, P(A)), per level; mean over seeds, band = 95% CI."
        ),
        written,
    )
}

/// The median margin per DCT band, log y, one line per regime: the
/// geometric mean over seeds with its 95% CI band (the t interval of
/// log10, exponentiated, so it stays positive on the log axis). Bands whose
/// median is undefined in some seed are drawn from the seeds that have one.
pub fn margin_figure(study: &Study, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    use super::sections::{log_margin_estimate, margin_bands};
    let bands = margin_bands(study);
    let mut series = Vec::new();
    for regime in study.regimes() {
        let points: Vec<(f64, Estimate)> = bands
            .iter()
            .filter_map(|&b| Some((b as f64, log_margin_estimate(study, &regime, b).0?)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let p10 = |x: f64| 10f64.powf(x);
        let band: Option<Vec<(f64, f64)>> = points
            .iter()
            .map(|(_, e)| e.ci.map(|(lo, hi)| (p10(lo), p10(hi))))
            .collect();
        series.push(Series {
            label: regime,
            points: points.iter().map(|(x, e)| (*x, p10(e.mean))).collect(),
            band,
        });
    }
    if series.is_empty() {
        return Ok(Vec::new());
    }
    let chart = LineChart {
        title: "median margin per DCT band".into(),
        x_label: "band (0 = lowest frequencies)".into(),
        y_label: "median L2 margin".into(),
        log_x: false,
        log_y: true,
        series,
    };
    save_line(
        study,
        &chart,
        "margin-dct",
        "Median L2 margin per DCT band (companion paper), log scale: geometric mean over \
         seeds, band = 95% CI."
            .into(),
        written,
    )
}

/// Fig. 4: test accuracy and continuity score against alpha, one chart
/// each, mean over the sweeps' seeds with a 95% CI band when there are
/// two or more. The x axis is logarithmic; alpha 0 is drawn at a tenth of
/// the smallest positive alpha, as the axis label says.
pub fn alpha_figures(study: &Study, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    use super::sections::{alphas, at_alpha};
    let alphas = alphas(study);
    let positive = alphas.iter().copied().find(|a| *a > 0.0);
    let x_of = |a: f64| match positive {
        Some(p) if a == 0.0 => p / 10.0,
        _ => a,
    };
    let zero = match positive {
        Some(p) if alphas.first() == Some(&0.0) => format!(" (alpha 0 drawn at {})", p / 10.0),
        _ => String::new(),
    };
    let mut out = Vec::new();
    let measures: [(&str, &str, f64, AlphaValue); 2] = [
        ("alpha-accuracy", "test accuracy, %", 100.0, |p| p.accuracy),
        (
            "alpha-continuity",
            "continuity score (sum of level-1 DS)",
            1.0,
            |p| p.continuity_score,
        ),
    ];
    for (stem, y_label, scale, f) in measures {
        let points: Vec<(f64, Estimate)> = alphas
            .iter()
            .filter_map(|&a| Some((x_of(a), at_alpha(study, a, f)?.scaled(scale))))
            .collect();
        if points.is_empty() {
            continue;
        }
        let band: Option<Vec<(f64, f64)>> = points.iter().map(|(_, e)| e.ci).collect();
        let chart = LineChart {
            title: format!("{y_label} against alpha (regime C)"),
            x_label: format!("alpha{zero}"),
            y_label: y_label.into(),
            log_x: positive.is_some(),
            log_y: false,
            series: vec![Series {
                label: "c".into(),
                points: points.iter().map(|(x, e)| (*x, e.mean)).collect(),
                band,
            }],
        };
        out.extend(save_line(
            study,
            &chart,
            stem,
            format!("Fig. 4: {y_label} against alpha, mean over the sweeps' seeds (band = 95% CI with two or more)."),
            written,
        )?);
    }
    Ok(out)
}

/// Writes a bar chart (see [`save_figure`]).
fn save_bars(
    study: &Study,
    chart: &BarChart,
    stem: &str,
    caption: String,
    written: &mut Vec<PathBuf>,
) -> Result<Vec<Block>> {
    let svg = chart.to_svg(SIZE)?;
    save_figure(
        study,
        |p| chart.save_png(p, SIZE),
        svg,
        stem,
        caption,
        written,
    )
}

/// One bar per (regime, label) of `f` in %, with its 95% CI; empty when no
/// regime has a value.
fn bars(study: &Study, labels: &[(String, &RunValue)]) -> Vec<Bar> {
    let mut out = Vec::new();
    for regime in study.regimes() {
        for (label, f) in labels {
            if let Some(e) = estimate(study, &regime, f) {
                let e = e.scaled(100.0);
                out.push(Bar {
                    label: if label.is_empty() {
                        regime.clone()
                    } else {
                        format!("{regime}: {label}")
                    },
                    value: e.mean,
                    ci: e.ci,
                });
            }
        }
    }
    out
}

/// Robust accuracy per regime with its 95% CI.
pub fn robust_figure(study: &Study, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    let bars = bars(study, &[(String::new(), &robust_accuracy)]);
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let chart = BarChart {
        title: "robust accuracy (worst case over the attacks)".into(),
        y_label: "accuracy, %".into(),
        bars,
    };
    save_bars(
        study,
        &chart,
        "robust-accuracy",
        "Robust accuracy per regime: mean over seeds, error bar = 95% CI.".into(),
        written,
    )
}

/// Accuracy per background colour and regime on the colour-biased set (Table 4).
pub fn fairness_figure(study: &Study, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    let groups = super::sections::fairness_groups(study);
    let fs: Vec<Box<RunValue>> = groups
        .iter()
        .map(|g| {
            let g = g.clone();
            Box::new(move |r: &Run| *r.fairness.as_ref()?.group_accuracy.get(&g)?) as Box<RunValue>
        })
        .collect();
    let labels: Vec<(String, &RunValue)> = groups
        .iter()
        .zip(&fs)
        .map(|(g, f)| (format!("{g} background"), f.as_ref()))
        .collect();
    let bars = bars(study, &labels);
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let chart = BarChart {
        title: "accuracy per background colour (colour-biased training)".into(),
        y_label: "accuracy, %".into(),
        bars,
    };
    save_bars(
        study,
        &chart,
        "fairness-groups",
        "Test accuracy per background colour and regime: mean over seeds, error bar = 95% CI."
            .into(),
        written,
    )
}

/// Fine-tuned test accuracy on the target per regime (Table 3).
pub fn transfer_figure(study: &Study, written: &mut Vec<PathBuf>) -> Result<Vec<Block>> {
    let bars = bars(study, &[(String::new(), &transfer_accuracy)]);
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let target = study
        .runs
        .iter()
        .find_map(|r| r.transfer.as_ref())
        .map_or_else(String::new, |t| t.data.clone());
    let chart = BarChart {
        title: format!("fine-tuned accuracy on {target}"),
        y_label: "test accuracy, %".into(),
        bars,
    };
    save_bars(
        study,
        &chart,
        "transfer",
        format!("Test accuracy after fine-tuning on `{target}` per regime: mean over seeds, error bar = 95% CI."),
        written,
    )
}
