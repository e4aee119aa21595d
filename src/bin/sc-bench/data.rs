use crate::args::DataArgs;
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use sc_data::fetch::{FetchOptions, Progress};
use sc_data::ImageSet;
use sc_report::ImageGrid;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Count per split, image shape and label histogram of a data set.
    Info {
        #[command(flatten)]
        data: DataArgs,
        /// One JSON object on stdout: {train, test}, each {count, shape, label_counts} or null.
        #[arg(long)]
        json: bool,
    },
    /// A labelled grid of sample images (and their masks, for `shapes`) as a PNG.
    Preview {
        #[command(flatten)]
        data: DataArgs,
        /// The PNG to write.
        #[arg(long)]
        out: PathBuf,
        /// Images shown per class.
        #[arg(long, default_value_t = 6)]
        per_class: usize,
        /// Split to show (default: test, or the only split).
        #[arg(long, value_enum)]
        split: Option<Split>,
        #[arg(long)]
        json: bool,
    },
    /// Download a standard data set from its official source, checksum-verified and resumable.
    Fetch {
        /// One of: mnist, fashion-mnist, cifar10, cifar100, svhn.
        name: String,
        /// Directory to download into (created if absent).
        #[arg(long)]
        dir: PathBuf,
        /// Base URL of a mirror that replaces the official one.
        #[arg(long)]
        mirror: Option<String>,
        /// Keep archives packed (CIFAR tarballs are unpacked by default).
        #[arg(long)]
        no_extract: bool,
        #[arg(long)]
        json: bool,
    },
}

/// A split of a data set.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Split {
    /// The training split.
    Train,
    /// The test split.
    Test,
}

pub fn run(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Info { data, json } => info(&data, &Out::new(json)),
        DataCommand::Preview {
            data,
            out,
            per_class,
            split,
            json,
        } => preview(&data, &out, per_class, split, &Out::new(json)),
        DataCommand::Fetch {
            name,
            dir,
            mirror,
            no_extract,
            json,
        } => fetch(&name, dir, mirror, !no_extract, &Out::new(json)),
    }
}

fn split_json(set: Option<&ImageSet>) -> Value {
    match set {
        Some(s) => json!({
            "count": s.len(),
            "shape": s.image_shape(),
            "label_counts": s.label_counts(),
            "group_counts": group_counts(s),
        }),
        None => Value::Null,
    }
}

/// Images per group (background colour of a Colorful set), or null.
fn group_counts(set: &ImageSet) -> Value {
    match set.groups() {
        Some(g) => g
            .names()
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let n = g.of_image().iter().filter(|&&x| x as usize == k).count();
                (name.clone(), json!(n))
            })
            .collect::<serde_json::Map<String, Value>>()
            .into(),
        None => Value::Null,
    }
}

fn info(args: &DataArgs, out: &Out) -> Result<()> {
    let data = args.load()?;
    out.say(format!(
        "data set: {} ({} classes)",
        data.name,
        data.classes().len()
    ));
    for (name, set) in [("train", &data.train), ("test", &data.test)] {
        match set {
            Some(s) => {
                let [c, h, w] = s.image_shape();
                out.say(format!("{name}: {} images of {c}x{h}x{w}", s.len()));
                if let Value::Object(groups) = group_counts(s) {
                    for (group, count) in groups {
                        out.say(format!("  background {group}: {count}"));
                    }
                }
                for (class, count) in s.classes().iter().zip(s.label_counts()) {
                    out.say(format!("  {class:>20}: {count}"));
                }
            }
            None => out.say(format!("{name}: absent")),
        }
    }
    out.json(&json!({
        "train": split_json(data.train.as_ref()),
        "test": split_json(data.test.as_ref()),
    }))
}

fn preview(
    args: &DataArgs,
    path: &std::path::Path,
    per_class: usize,
    split: Option<Split>,
    out: &Out,
) -> Result<()> {
    if per_class == 0 {
        bail!("--per-class must be at least 1");
    }
    let data = args.load()?;
    let set = match split {
        None => data.test_or_only(),
        Some(Split::Train) => data.train.as_ref(),
        Some(Split::Test) => data.test.as_ref(),
    }
    .with_context(|| format!("{}: the requested split is absent", data.name))?;
    let [c, h, w] = set.image_shape();
    let with_masks = set.masks().is_some();
    // At most as many columns as any class has images (per_class may be huge).
    let cols = per_class.min(set.len()) * if with_masks { 2 } else { 1 };
    let scale = (96 / w.max(h)).max(1) as u32;
    let mut grid = ImageGrid::new(cols, scale);
    let mut shown = vec![0usize; set.num_classes()];
    let mut order: Vec<usize> = Vec::new();
    for class in 0..set.num_classes() {
        order.extend(
            (0..set.len())
                .filter(|&i| set.labels()[i] as usize == class)
                .take(per_class),
        );
    }
    for &i in &order {
        let label = set.labels()[i] as usize;
        let caption = format!("{label} {}", set.classes()[label]);
        let image = set.image(i).context("image index")?;
        grid.push_u8(image, [c, h, w], &caption)?;
        if let Some(mask) = set.mask(i) {
            grid.push_mask(mask, h, w, "mask")?;
        }
        shown[label] += 1;
    }
    grid.save_png(path)?;
    out.say(format!(
        "wrote {} ({} images of {} classes)",
        path.display(),
        order.len(),
        shown.iter().filter(|&&n| n > 0).count()
    ));
    out.json(&json!({
        "out": path.display().to_string(),
        "images": order.len(),
        "indices": order,
        "masks": with_masks,
    }))
}

/// indicatif progress bars for downloads.
struct Bars {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress for Bars {
    fn start(&mut self, file: &str, total: Option<u64>, already: u64) {
        let bar = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(file.to_string());
        bar.set_position(already);
        self.bar = Some(bar);
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    fn finish(&mut self, _file: &str) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

fn fetch(name: &str, dir: PathBuf, mirror: Option<String>, extract: bool, out: &Out) -> Result<()> {
    let opts = FetchOptions {
        mirror,
        extract,
        ..FetchOptions::default()
    };
    let report = sc_data::fetch::fetch(name, &dir, &opts, &mut Bars { bar: None })
        .with_context(|| format!("fetching {name} into {}", dir.display()))?;
    for f in &report.files {
        out.say(format!(
            "{} {} ({} bytes, sha256 {})",
            if f.skipped { "verified" } else { "downloaded" },
            f.path.display(),
            f.bytes,
            f.sha256
        ));
    }
    out.json(&json!({
        "name": name,
        "dir": dir.display().to_string(),
        "files": report.files.iter().map(|f| json!({
            "path": f.path.display().to_string(),
            "bytes": f.bytes,
            "sha256": f.sha256,
            "skipped": f.skipped,
        })).collect::<Vec<_>>(),
    }))
}
