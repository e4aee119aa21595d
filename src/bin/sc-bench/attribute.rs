use crate::args::{batch_size, DataArgs, DeviceArgs};
use crate::model::ModelArgs;
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
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
    // The data set whose test split (or only split) is explained.
    #[command(flatten)]
    data: DataArgs,
    /// The attribution method.
    #[arg(long, value_enum, default_value_t = Method::Ig)]
    method: Method,
    /// Integration steps of IG (default 32; IG only).
    #[arg(long)]
    steps: Option<usize>,
    /// Use only the first N images.
    #[arg(long, default_value_t = 64)]
    limit: usize,
    #[arg(long, default_value_t = 32, value_parser = batch_size)]
    batch_size: usize,
    /// Draw the first 8 images and their maps into this PNG.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    #[arg(long)]
    json: bool,
}

/// The most IG steps: Sundararajan et al. (2017) find 20-300 enough for a
/// completeness gap within 5%; beyond this a typo would run for days.
const MAX_IG_STEPS: usize = 4096;

/// The attribution methods of Sec. 4.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The input gradient of the label's logit (Simonyan et al. 2014).
    Saliency,
    /// Integrated Gradients from a black baseline (Sundararajan et al. 2017).
    Ig,
    /// GradCAM on the last spatial feature map (Selvaraju et al. 2017).
    Gradcam,
}

impl Method {
    /// The name used in reports and captions.
    fn name(self) -> &'static str {
        match self {
            Method::Saliency => "saliency",
            Method::Ig => "integrated-gradients",
            Method::Gradcam => "gradcam",
        }
    }
}

pub fn run(args: AttributeArgs) -> Result<()> {
    let out = Out::new(args.json);
    if args.steps.is_some() && args.method != Method::Ig {
        bail!(
            "--steps applies to --method ig only, not {}",
            args.method.name()
        );
    }
    let steps = args.steps.unwrap_or(32);
    if steps > MAX_IG_STEPS {
        bail!("--steps {steps}: expected at most {MAX_IG_STEPS}");
    }
    let ig = IntegratedGradients::new(steps).context("--steps")?;
    let device = args.device.open()?;
    let set = args.data.test_split(Some(args.limit))?;
    let [c, h, w] = set.image_shape();
    let model = args
        .model
        .load_for(&device, &set, &args.data.data.to_string())?;
    let name = args.method.name();
    let (summary, maps) = match args.method {
        Method::Saliency => summarize(&set, name, args.batch_size, &device, &mut |x, t| {
            Saliency.attribute(&model, x, t)
        })?,
        Method::Ig => summarize(&set, name, args.batch_size, &device, &mut |x, t| {
            ig.attribute(&model, x, t)
        })?,
        Method::Gradcam => summarize(&set, name, args.batch_size, &device, &mut |x, t| {
            Ok(GradCam.attribute(&model, x, t)?.0)
        })?,
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
            grid.push_f32(&scaled, [1, h, w], name)?;
        }
        grid.save_png(path)
            .with_context(|| format!("writing {}", path.display()))?;
        out.say(format!("wrote {}", path.display()));
    }
    out.json(&serde_json::to_value(&summary)?)
}
