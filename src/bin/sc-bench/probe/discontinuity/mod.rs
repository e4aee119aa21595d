//! `sc-bench probe discontinuity`: the paper's Sec. 2.2 on a trained model.
//! Fig. 1's statistic over the selected test images for the four
//! photometric kinds at levels 1-4, and Fig. 2's embeddings of one class's
//! logits with an anchor image and its perturbed versions. The science is
//! in `sc_probes::discontinuity`; this module resolves the flags and writes
//! the table, JSON, CSV and PNG files.

mod files;

use crate::args::{batch_size, DataArgs, DeviceArgs, SelectionArgs};
use crate::model::ModelArgs;
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::Args;
use sc_core::{Classifier, Level, Seed};
use sc_data::ImageSet;
use sc_probes::discontinuity::{discontinuity, Fig1Options, Fig2Options};
use serde_json::json;
use std::path::PathBuf;

/// Fig. 1 and Fig. 2 of the paper (Sec. 2.2).
#[derive(Args)]
pub struct DiscontinuityArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    selection: SelectionArgs,
    /// The class embedded in Fig. 2, by name or number (default: the anchor's class).
    #[arg(long)]
    class: Option<String>,
    /// The Fig. 2 anchor image, by its position in the evaluated split
    /// (default: the first selected image of the class).
    #[arg(long)]
    anchor: Option<usize>,
    /// The level (1-4) of the anchor's perturbed versions in Fig. 2.
    #[arg(long, default_value = "1")]
    level: Level,
    /// Fixes the t-SNE and UMAP layouts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Images per forward pass (memory, not results, depends on it).
    #[arg(long, default_value_t = 256, value_parser = batch_size)]
    batch_size: usize,
    #[command(flatten)]
    device: DeviceArgs,
    /// Writes fig1.csv, embedding.csv, embedding-{pca,tsne,umap}.png and
    /// discontinuity.json here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// One JSON object on stdout ({fig1, embeddings, fig2, ...}); the table goes to stderr.
    #[arg(long)]
    json: bool,
}

/// `--class` as a class number of `set`: a class name, or a number below
/// the class count.
fn class_of(spec: &str, set: &ImageSet, data: &str) -> Result<u32> {
    if let Some(c) = set.classes().iter().position(|n| n == spec) {
        return Ok(c as u32);
    }
    match spec.parse::<usize>() {
        Ok(c) if c < set.num_classes() => Ok(c as u32),
        _ => {
            let mut names = set
                .classes()
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if set.num_classes() > 10 {
                names.push_str(", ...");
            }
            bail!(
                "--class {spec}: {data} has no such class (expected a name: {names}; or a number 0-{})",
                set.num_classes() - 1
            )
        }
    }
}

/// The Fig. 2 class and the anchor's position in the selected `set`
/// (`positions` = each selected image's position in the split).
fn class_and_anchor(
    args: &DiscontinuityArgs,
    set: &ImageSet,
    positions: &[usize],
    data: &str,
) -> Result<(u32, usize)> {
    let anchor = match args.anchor {
        Some(i) => Some(positions.iter().position(|&p| p == i).with_context(|| {
            format!(
                "--anchor {i} is not among the {} selected images (positions {}..={} of the split)",
                positions.len(),
                positions.first().copied().unwrap_or(0),
                positions.last().copied().unwrap_or(0)
            )
        })?),
        None => None,
    };
    let class = match (&args.class, anchor) {
        (Some(spec), _) => class_of(spec, set, data)?,
        (None, Some(a)) => set.labels()[a],
        (None, None) => set.labels()[0],
    };
    let name = &set.classes()[class as usize];
    match anchor {
        Some(a) if set.labels()[a] != class => bail!(
            "--anchor {} is of class {}, not of --class {name}",
            positions[a],
            set.classes()[set.labels()[a] as usize]
        ),
        Some(a) => Ok((class, a)),
        None => {
            let a = set
                .labels()
                .iter()
                .position(|&l| l == class)
                .with_context(|| format!("--class {name}: no selected image is of this class"))?;
            Ok((class, a))
        }
    }
}

pub fn run(args: DiscontinuityArgs) -> Result<()> {
    let out = Out::new(args.json);
    let device = args.device.open()?;
    let data = args.data.data.to_string();
    let (set, positions) = args.data.test_selection(&args.selection)?;
    let model = args.model.load_for(&device, &set, &data)?;
    let (class, anchor) = class_and_anchor(&args, &set, &positions, &data)?;
    let seed = Seed(args.seed);
    let fig1_opts = Fig1Options {
        batch_size: args.batch_size,
        seed,
        ..Fig1Options::default()
    };
    let mut fig2_opts = Fig2Options {
        level: args.level,
        batch_size: args.batch_size,
        seed,
        ..Fig2Options::default()
    };
    fig2_opts.tsne.seed = seed.derive("tsne");
    fig2_opts.umap.seed = seed.derive("umap");
    let (f1, f2) = discontinuity(
        &model,
        &set,
        (class, anchor),
        &fig1_opts,
        &fig2_opts,
        &device,
    )?;
    let class_name = &set.classes()[class as usize];
    let report = json!({
        "model": model.name().to_string(),
        "data": data,
        "images": set.len(),
        "seed": args.seed,
        "fig1": f1.entries,
        "fig1_not_applicable": f1.not_applicable,
        "embeddings": f2.embeddings,
        "fig2": {
            "class": class,
            "class_name": class_name,
            "anchor": positions[anchor],
            "level": f2.level,
            "points": f2.points.len(),
            "not_applicable": f2.not_applicable,
        },
    });
    out.say(format!(
        "{} on {} images of {data}: Fig. 1, images with a same-class image closer than their perturbed version",
        model.name(),
        set.len()
    ));
    out.say(format!(
        "  {:<12} {:>5} {:>9} {:>10}",
        "perturbation", "level", "fraction", "mean_rank"
    ));
    for e in &f1.entries {
        out.say(format!(
            "  {:<12} {:>5} {:>9.4} {:>10.3}",
            e.perturbation, e.level, e.fraction, e.mean_rank
        ));
    }
    for n in &f1.not_applicable {
        out.say(format!(
            "  {:<12} {:>5} not applicable ({})",
            n.kind, n.level, n.reason
        ));
    }
    let e = &f2.embeddings;
    let evr: Vec<String> = e
        .pca
        .explained_variance_ratio
        .iter()
        .map(|r| format!("{r:.3}"))
        .collect();
    out.say(format!(
        "Fig. 2: class {class_name} ({} points), anchor {} and its versions at level {}; trustworthiness (k = 5):",
        f2.points.len(),
        positions[anchor],
        f2.level
    ));
    out.say(format!(
        "  pca  {:.4} (explained variance {})",
        e.pca.trustworthiness,
        evr.join(", ")
    ));
    out.say(format!(
        "  tsne {:.4} (perplexity {:.1})",
        e.tsne.trustworthiness, e.tsne.perplexity
    ));
    out.say(format!(
        "  umap {:.4} ({} neighbours)",
        e.umap.trustworthiness, e.umap.n_neighbors
    ));
    if let Some(dir) = &args.out {
        for path in files::write_all(dir, &f1, &f2, &positions, class_name, &report)? {
            out.say(format!("wrote {}", path.display()));
        }
    }
    out.json(&report)
}
