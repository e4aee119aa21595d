//! `sc-bench alpha-sweep`: the paper's Fig. 4. One C model per alpha, then
//! test accuracy and the continuity score (the sum over the four
//! photometric kinds of Table 1 of the mean DS at level 1) per alpha.

use crate::args::{DataArgs, SelectionArgs};
use crate::model::ModelArgs;
use crate::train::{data_spec, quoted, train_run, TrainFlags};
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::Args;
use sc_core::{Level, Seed};
use sc_perturb::PerturbationKind;
use sc_probes::continuity::{perturbation_sweep, SweepOptions};
use sc_report::plot::{LineChart, Series};
use sc_train::Regime;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Train one regime-C model per alpha (resumable), then accuracy and the
/// continuity score per alpha (paper Fig. 4).
#[derive(Args)]
pub struct AlphaSweepArgs {
    /// The weights of the continuity term, comma-separated, each >= 0 and
    /// listed once, e.g. 0,0.01,0.1,1.
    #[arg(long)]
    alphas: Alphas,
    /// The sweep's directory: one run per alpha in `DIR/alpha-<a>/` (a
    /// finished run is skipped, an interrupted one resumed), and
    /// alpha-sweep.json and alpha-sweep.png.
    #[arg(long)]
    run: PathBuf,
    /// Data set (the same syntax as every command's `--data`); default shapes.
    #[arg(long, value_parser = data_spec)]
    data: Option<String>,
    #[command(flatten)]
    train: TrainFlags,
    /// A TOML file of options; command-line flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    device: crate::args::DeviceArgs,
    /// The test images the models are evaluated on.
    #[command(flatten)]
    selection: SelectionArgs,
    /// Images per forward pass of the evaluation.
    #[arg(long, default_value_t = 256, value_parser = crate::args::batch_size)]
    eval_batch_size: usize,
    /// {points: [{alpha, accuracy, continuity_score, run}], ...} on stdout.
    #[arg(long)]
    json: bool,
}

/// A list of alphas: non-empty, each finite and >= 0, no value twice.
#[derive(Clone, Debug)]
struct Alphas(Vec<f64>);

impl FromStr for Alphas {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("an empty list: expected alphas such as 0,0.01,0.1,1".into());
        }
        let mut alphas = Vec::new();
        for item in s.split(',') {
            let a: f64 = item
                .trim()
                .parse()
                .map_err(|_| format!("{item:?} is not a number"))?;
            if !(a.is_finite() && a >= 0.0) {
                return Err(format!("{item}: expected a finite alpha >= 0"));
            }
            if alphas.contains(&a) {
                return Err(format!("alpha {a} is listed twice"));
            }
            alphas.push(a);
        }
        Ok(Alphas(alphas))
    }
}

/// The run directory of one alpha: `alpha-<a>` with Rust's shortest
/// round-trip decimal (`alpha-0`, `alpha-0.01`, `alpha-1`).
fn alpha_dir(root: &Path, alpha: f64) -> PathBuf {
    root.join(format!("alpha-{alpha}"))
}

/// The two curves on one axis, each relative to its value at the smallest
/// alpha, so both start at 1 (the paper's claim: accuracy stays near 1
/// while the score falls); a curve whose value there is 0 is drawn raw, as
/// its legend says. The y axis is linear (an accuracy may be 0). Alpha 0
/// cannot sit on a log x axis: it is drawn at a tenth of the smallest
/// positive alpha, as the x label says.
fn chart(points: &[(f64, f64, f64)]) -> LineChart {
    let positive = points
        .iter()
        .map(|p| p.0)
        .filter(|&a| a > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log_x = positive.is_finite();
    let x_of = |a: f64| {
        if log_x && a == 0.0 {
            positive / 10.0
        } else {
            a
        }
    };
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first = sorted[0];
    let curve = |label: &str, value: fn(&(f64, f64, f64)) -> f64| -> Series {
        let reference = value(&first);
        let (scale, label) = if reference > 0.0 {
            (reference, label.to_string())
        } else {
            (
                1.0,
                format!("{label} (raw: {reference} at alpha {})", first.0),
            )
        };
        Series {
            label,
            points: sorted
                .iter()
                .map(|p| (x_of(p.0), value(p) / scale))
                .collect(),
            band: None,
        }
    };
    let zero = if log_x && first.0 == 0.0 {
        format!(" (alpha 0 drawn at {})", positive / 10.0)
    } else {
        String::new()
    };
    LineChart {
        title: "Accuracy and continuity score against alpha (paper Fig. 4)".into(),
        x_label: format!("alpha{zero}"),
        y_label: format!("relative to alpha = {}", first.0),
        log_x,
        log_y: false,
        series: vec![
            curve("test accuracy", |p| p.1),
            curve("continuity score (sum of level-1 mean DS)", |p| p.2),
        ],
    }
}

pub fn run(args: AlphaSweepArgs) -> Result<()> {
    let out = Out::new(args.json);
    if args.train.regime.is_some() || args.train.alpha.is_some() {
        bail!("--regime/--alpha: alpha-sweep trains regime c at each of --alphas");
    }
    for kv in &args.train.set {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k).trim();
        if key == "alpha" || key == "regime" {
            bail!("--set {kv}: alpha-sweep sets {key} itself (regime c, --alphas)");
        }
    }
    let device = args.device.open()?;
    let mut points = Vec::with_capacity(args.alphas.0.len());
    let mut json_points = Vec::with_capacity(args.alphas.0.len());
    let mut evaluated_on = None;
    for &alpha in &args.alphas.0 {
        let dir = alpha_dir(&args.run, alpha);
        out.say(format!("alpha {alpha}: {}", dir.display()));
        let mut overrides = Vec::new();
        if let Some(d) = &args.data {
            overrides.push(("data".to_string(), quoted(d)));
        }
        overrides.extend(args.train.overrides()?);
        overrides.push(("regime".to_string(), quoted(Regime::C.name())));
        overrides.push(("alpha".to_string(), format!("{alpha:?}")));
        let trained = train_run(args.config.as_deref(), &overrides, &dir, true, &device)
            .with_context(|| format!("alpha {alpha} ({})", dir.display()))?;
        if trained.steps_now == 0 {
            out.say(format!("alpha {alpha}: the run was already finished"));
        }
        let data = DataArgs {
            data: trained.config.data.parse().context("the run's data")?,
            image_size: None,
        };
        let (set, _) = data.test_selection(&args.selection)?;
        let model = ModelArgs {
            model: None,
            weights: None,
            run: Some(dir.clone()),
        }
        .load_for(&device, &set, &trained.config.data)?;
        let opts = SweepOptions {
            kinds: PerturbationKind::PHOTOMETRIC.to_vec(),
            levels: vec![Level::new(1)?],
            batch_size: args.eval_batch_size,
            seed: Seed(trained.config.seed),
        };
        let sweep = perturbation_sweep(&model, &set, &opts, &device)?;
        let score: f64 = sweep.entries.iter().map(|e| e.mean_ds).sum();
        let kinds: Vec<&str> = sweep.entries.iter().map(|e| e.kind.as_str()).collect();
        out.say(format!(
            "alpha {alpha}: accuracy {:.4}, continuity score {score:.4} (sum of the level-1 mean DS of {})",
            sweep.clean_accuracy,
            kinds.join(", ")
        ));
        json_points.push(json!({
            "alpha": alpha,
            "accuracy": sweep.clean_accuracy,
            "continuity_score": score,
            "kinds": kinds,
            "not_applicable": sweep.not_applicable,
            "run": dir,
            "meta": crate::meta::for_run(Some(trained.config.seed), args.device.device, &dir)?,
        }));
        points.push((alpha, sweep.clean_accuracy, score));
        evaluated_on = Some(set.len());
    }
    let report = json!({
        "points": json_points,
        "images": evaluated_on,
        "level": 1,
        "reduction": "DS summed over classes, averaged over images; the score sums the four photometric kinds",
    });
    std::fs::create_dir_all(&args.run).with_context(|| format!("--run {}", args.run.display()))?;
    let path = args.run.join("alpha-sweep.json");
    sc_core::write_atomic(&path, serde_json::to_string_pretty(&report)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let png = args.run.join("alpha-sweep.png");
    chart(&points)
        .save_png(&png, (800, 500))
        .with_context(|| format!("writing {}", png.display()))?;
    out.say(format!("wrote {} and {}", path.display(), png.display()));
    out.json(&report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_lists_must_be_non_empty_non_negative_and_distinct() {
        assert_eq!("0,0.01,1".parse::<Alphas>().unwrap().0, [0.0, 0.01, 1.0]);
        assert!("".parse::<Alphas>().unwrap_err().contains("empty"));
        assert!("0.1,-1".parse::<Alphas>().unwrap_err().contains(">= 0"));
        assert!("0.1,0.10".parse::<Alphas>().unwrap_err().contains("twice"));
        assert!("0.1,x"
            .parse::<Alphas>()
            .unwrap_err()
            .contains("not a number"));
        assert!("inf".parse::<Alphas>().is_err());
        assert_eq!(alpha_dir(Path::new("d"), 0.01), Path::new("d/alpha-0.01"));
        assert_eq!(alpha_dir(Path::new("d"), 1.0), Path::new("d/alpha-1"));
    }

    #[test]
    fn the_chart_puts_alpha_zero_a_decade_below_and_starts_both_curves_at_one() {
        let c = chart(&[(0.1, 0.8, 2.0), (0.0, 0.9, 8.0), (1.0, 0.6, 1.0)]);
        assert!(c.log_x && !c.log_y);
        assert!(c.x_label.contains("alpha 0 drawn at 0.01"), "{}", c.x_label);
        let acc = &c.series[0].points;
        assert_eq!(acc[0], (0.1 / 10.0, 1.0));
        assert!((acc[2].1 - 0.6 / 0.9).abs() < 1e-12);
        assert_eq!(c.series[1].points[1], (0.1, 0.25));
        let raw = chart(&[(0.0, 0.0, 4.0), (0.5, 0.5, 1.0)]);
        assert!(
            raw.series[0].label.contains("raw"),
            "{}",
            raw.series[0].label
        );
        assert_eq!(raw.series[0].points[1], (0.5, 0.5));
        assert_eq!(raw.series[1].points[1], (0.5, 0.25));
        let only_zero = chart(&[(0.0, 0.5, 1.0)]);
        assert!(!only_zero.log_x && only_zero.series[0].points == [(0.0, 1.0)]);
    }
}
