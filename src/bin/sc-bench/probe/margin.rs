//! `sc-bench probe margin`: the distance to the decision boundary along
//! diagonal bands of the DCT spectrum (Ortiz-Jimenez et al. 2020, "Hold me
//! tight!"), for one or several models on the same images.

use crate::args::{batch_size, DataArgs, DeviceArgs, SelectionArgs};
use crate::model::ModelsArgs;
use crate::Out;
use anyhow::{Context, Result};
use clap::Args;
use sc_probes::dct::diagonal_bands;
use sc_probes::margin::{margin_probe, MarginOptions, MarginReport};
use sc_report::plot::{LineChart, Series};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Margins per frequency band: DeepFool restricted to each band of the 2-D
/// DCT, unclipped; images that do not flip are reported, never averaged.
#[derive(Args)]
pub struct MarginArgs {
    #[command(flatten)]
    models: ModelsArgs,
    // The data set whose test split (or only split) is probed.
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    selection: SelectionArgs,
    /// Frequencies per axis of a band; must divide the image side.
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    band_size: usize,
    /// Distance between the starts of consecutive bands on the diagonal
    /// (the companion paper used 2 on CIFAR).
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    band_step: usize,
    /// DeepFool's candidate classes: the K with the highest logits (default: all).
    #[arg(long, value_parser = candidates)]
    candidates: Option<usize>,
    /// DeepFool steps before an image counts as not flipped.
    #[arg(long, default_value_t = 50, value_parser = at_least_one)]
    max_iter: usize,
    /// The perturbation found is scaled by 1 + overshoot.
    #[arg(long, default_value_t = 0.02, value_parser = overshoot, allow_negative_numbers = true)]
    overshoot: f64,
    #[arg(long, default_value_t = 128, value_parser = batch_size)]
    batch_size: usize,
    /// Compute DeepFool's candidate gradients in one forward/backward pass
    /// of the batch repeated per candidate instead of one backward pass per
    /// candidate: the same margins, more work in fewer, larger calls.
    #[arg(long)]
    one_pass: bool,
    /// Write margins.csv (every image in every band) and margins.png
    /// (median margin per band, one line per model) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// The report on stdout: one model's {bands, overshoot, max_iter, ...},
    /// or {runs: [...]} with one such object per --run.
    #[arg(long)]
    json: bool,
}

fn at_least_one(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(0) => Err("0: expected at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{value:?} is not a positive integer")),
    }
}

fn candidates(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        _ => Err(format!(
            "{value:?}: expected an integer of at least 2 (the prediction and one other class)"
        )),
    }
}

fn overshoot(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{value:?}: expected a finite number >= 0")),
    }
}

/// One model's report as JSON, with its label, speed and provenance.
fn report_json(
    label: &str,
    r: &MarginReport,
    seconds: f64,
    meta: serde_json::Value,
) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["meta"] = meta;
    v["run"] = json!(label);
    v["seconds"] = json!(seconds);
    v["images_per_second"] = json!(r.images as f64 / seconds.max(1e-9));
    v
}

/// Every image in every band of every model, one row each.
fn csv(results: &[(String, MarginReport, f64)], indices: &[usize]) -> String {
    let mut text = String::from("model,index,label,band,margin,flipped\n");
    for (label, r, _) in results {
        for m in &r.per_image {
            text.push_str(&format!(
                "{label},{},{},{},{},{}\n",
                indices[m.image],
                m.label,
                m.band,
                m.margin.map(|v| v.to_string()).unwrap_or_default(),
                m.flipped
            ));
        }
    }
    text
}

/// The companion's figure: median margin per band, log scale, one line per
/// model; a band whose median is undefined (at most half flipped) has no
/// point, and the legend says how many are missing. `None` when no model
/// has a single defined median (nothing to draw).
fn chart(results: &[(String, MarginReport, f64)]) -> Option<LineChart> {
    let series: Vec<Series> = results
        .iter()
        .map(|(label, r, _)| {
            let points: Vec<(f64, f64)> = r
                .bands
                .iter()
                .filter_map(|b| b.median_margin.map(|m| (b.band as f64, m)))
                .collect();
            let missing = r.bands.len() - points.len();
            Series {
                label: if missing > 0 {
                    format!("{label} ({missing} band(s) with at most half flipped not drawn)")
                } else {
                    label.clone()
                },
                points,
                band: None,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        return None;
    }
    let first = &results[0].1;
    Some(LineChart {
        title: format!(
            "Median margin per DCT band ({}x{} blocks, step {}, {} images)",
            first.band_size, first.band_size, first.band_step, first.images
        ),
        x_label: "band (0 = lowest frequencies)".into(),
        y_label: "median L2 margin".into(),
        log_x: false,
        log_y: true,
        series,
    })
}

pub fn run(args: MarginArgs) -> Result<()> {
    let out = Out::new(args.json);
    let models = args.models.each()?;
    let device = args.device.open()?;
    let (set, indices) = args.data.test_selection(&args.selection)?;
    diagonal_bands(set.image_shape(), args.band_size, args.band_step).with_context(|| {
        format!(
            "--band-size {} --band-step {}",
            args.band_size, args.band_step
        )
    })?;
    let opts = MarginOptions {
        band_size: args.band_size,
        band_step: args.band_step,
        candidates: args.candidates,
        max_iter: args.max_iter,
        overshoot: args.overshoot,
        batch_size: args.batch_size,
        one_pass: args.one_pass,
    };
    let data = args.data.data.to_string();
    let mut results = Vec::with_capacity(models.len());
    let mut metas = Vec::with_capacity(models.len());
    for (label, m) in models {
        let model = m.load_for(&device, &set, &data)?;
        metas.push(crate::meta::for_model(None, args.device.device, &m)?);
        let started = Instant::now();
        let report = margin_probe(&model, &set, &opts, &device)
            .with_context(|| format!("probing {label}"))?;
        let seconds = started.elapsed().as_secs_f64();
        out.say(format!(
            "{label} ({}) on {} images, accuracy {:.4}, {:.1} s ({:.2} images/s over {} bands):",
            report.model,
            report.images,
            report.accuracy,
            seconds,
            report.images as f64 / seconds.max(1e-9),
            report.bands.len()
        ));
        for b in &report.bands {
            let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
            out.say(format!(
                "  band {:>2} (start {:>3}, dim {:>5}): median margin {}, median over flipped {}, flipped {:.3}",
                b.band,
                b.start,
                b.dim,
                opt(b.median_margin),
                opt(b.median_margin_flipped),
                b.flipped_fraction
            ));
        }
        results.push((label, report, seconds));
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("--out {}", dir.display()))?;
        let path = dir.join("margins.csv");
        sc_core::write_atomic(&path, csv(&results, &indices).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        out.say(format!("wrote {}", path.display()));
        let png = dir.join("margins.png");
        match chart(&results) {
            Some(c) => {
                c.save_png(&png, (800, 500))
                    .with_context(|| format!("writing {}", png.display()))?;
                out.say(format!("wrote {}", png.display()));
            }
            None => out.say(format!(
                "{} not drawn: no band of any model has a median margin (at most half flipped everywhere)",
                png.display()
            )),
        }
    }
    let mut reports: Vec<serde_json::Value> = results
        .iter()
        .zip(metas)
        .map(|((label, r, s), meta)| report_json(label, r, *s, meta))
        .collect();
    if reports.len() == 1 {
        out.json(&reports.remove(0))
    } else {
        out.json(&json!({ "runs": reports }))
    }
}
