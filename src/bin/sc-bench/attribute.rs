use crate::model::{device, ModelArgs};
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::Args;
use sc_interpret::summary::summarize;
use sc_interpret::{Attribution, GradCam, IntegratedGradients, Saliency};
use sc_report::ImageGrid;
use std::path::PathBuf;

/// Attribution maps of a model (paper Sec. 4.5, Fig. 6) with their
/// smoothness and the share of their mass on the object.
#[derive(Args)]
pub struct AttributeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Data set whose test split (or only split) is explained.
    #[arg(long)]
    data: String,
    /// saliency, ig (Integrated Gradients) or gradcam.
    #[arg(long, default_value = "ig")]
    method: String,
    /// Integration steps of IG.
    #[arg(long, default_value_t = 32)]
    steps: usize,
    /// Use only the first N images.
    #[arg(long, default_value_t = 64)]
    limit: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Draw the first 8 images and their maps into this PNG.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long)]
    json: bool,
}

pub fn run(args: AttributeArgs) -> Result<()> {
    let out = Out::new(args.json);
    let device = device(&args.device)?;
    let set = crate::model::evaluation_set(&args.data, Some(args.limit))?;
    let [c, h, w] = set.image_shape();
    let model = args.model.load(&device, [h, w])?;
    let ig = IntegratedGradients::new(args.steps).context("--steps")?;
    let (summary, maps) = match args.method.as_str() {
        "saliency" => summarize(&set, "saliency", args.batch_size, &device, &mut |x, t| {
            Saliency.attribute(&model, x, t)
        })?,
        "ig" => summarize(
            &set,
            "integrated-gradients",
            args.batch_size,
            &device,
            &mut |x, t| ig.attribute(&model, x, t),
        )?,
        "gradcam" => summarize(&set, "gradcam", args.batch_size, &device, &mut |x, t| {
            Ok(GradCam.attribute(&model, x, t)?.0)
        })?,
        other => bail!("--method {other:?}: expected saliency, ig or gradcam"),
    };
    out.say(format!(
        "{} of {} on {} images: total variation {:.4}{}{}",
        summary.method,
        sc_core::Classifier::name(&model),
        summary.images,
        summary.mean_total_variation,
        match (summary.mean_mass_on_object, summary.mean_object_area) {
            (Some(m), Some(a)) => format!(", mass on the object {m:.4} (object area {a:.4})"),
            _ => String::new(),
        },
        summary
            .mean_abs_completeness_gap
            .map_or(String::new(), |g| format!(
                ", mean |completeness gap| {g:.2e}"
            )),
    ));
    if let Some(path) = &args.out {
        let mut grid = ImageGrid::new(4, 3);
        for i in 0..summary.images.min(8) {
            let img = set.image(i).context("internal: image index")?;
            grid.push_u8(img, [c, h, w], &i.to_string())?;
            let m: Vec<f32> = maps.get(i)?.abs()?.flatten_all()?.to_vec1()?;
            let top = m.iter().fold(0f32, |a, &b| a.max(b));
            let scaled: Vec<f32> = m
                .iter()
                .map(|v| if top > 0.0 { v / top } else { 0.0 })
                .collect();
            grid.push_f32(&scaled, [1, h, w], &args.method)?;
        }
        grid.save_png(path)
            .with_context(|| format!("writing {}", path.display()))?;
        out.say(format!("wrote {}", path.display()));
    }
    out.json(&serde_json::to_value(&summary)?)
}
