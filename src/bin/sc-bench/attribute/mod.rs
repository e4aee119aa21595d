use crate::args::{batch_size, DataArgs, DeviceArgs};
use crate::model::{ModelArgs, ModelsArgs};
use crate::Out;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use sc_core::Seed;
use sc_interpret::faithfulness::Canvas;
use sc_interpret::slic::Slic;
use sc_interpret::summary::{summarize, Explained, SummaryConfig};
use sc_interpret::{
    Attribution, AttributionMap, GradCam, IntegratedGradients, Lime, LimeFill, Saliency,
    SmoothGrad, SmoothGradBase,
};
use std::path::PathBuf;

mod report;

/// Attribution maps of a model (paper Sec. 4.5, Fig. 6) with their
/// smoothness, the share of their mass on the object, and their
/// faithfulness (deletion and insertion AUC, Petsiuk et al. 2018).
#[derive(Args)]
pub struct AttributeArgs {
    /// The model (`--run`, repeatable: the later runs are compared as with
    /// --compare), or `--model NAME --weights FILE`.
    #[command(flatten)]
    models: ModelsArgs,
    // The data set whose test split (or only split) is explained.
    #[command(flatten)]
    data: DataArgs,
    /// The attribution method.
    #[arg(long, value_enum, default_value_t = Method::Ig)]
    method: Method,
    /// Integration steps of IG (default 32; ig, or smoothgrad over ig).
    #[arg(long)]
    steps: Option<usize>,
    /// What SmoothGrad averages (default saliency; smoothgrad only).
    #[arg(long, value_enum)]
    smoothgrad_base: Option<SmoothBase>,
    /// SmoothGrad's noise, as a fraction of each image's value range
    /// (default 0.15; smoothgrad only).
    #[arg(long)]
    noise_std: Option<f64>,
    /// SmoothGrad's number of noisy copies (default 50; smoothgrad only).
    #[arg(long)]
    noise_samples: Option<usize>,
    /// Seed of the random methods (default 0; smoothgrad and lime only).
    #[arg(long)]
    seed: Option<u64>,
    /// LIME's number of random superpixel masks (default 1000; lime only).
    #[arg(long)]
    samples: Option<usize>,
    /// LIME's number of SLIC superpixels to aim for (default 16; lime only).
    #[arg(long)]
    segments: Option<usize>,
    /// LIME's superpixels reported per image (default 5; lime only).
    #[arg(long)]
    top_k: Option<usize>,
    /// What LIME's hidden superpixels show (default mean; lime only).
    #[arg(long, value_enum)]
    lime_fill: Option<LimeFillArg>,
    /// The layer GradCAM reads (default: the last stage, block4 or layer4;
    /// gradcam only). An unknown name lists the model's layers.
    #[arg(long)]
    layer: Option<String>,
    /// Steps of the deletion and insertion curves.
    #[arg(long, default_value_t = 16)]
    curve_steps: usize,
    /// What deleted pixels become.
    #[arg(long, value_enum, default_value_t = CanvasArg::Black)]
    deletion_canvas: CanvasArg,
    /// What pixels are inserted onto.
    #[arg(long, value_enum, default_value_t = CanvasArg::Blur)]
    insertion_canvas: CanvasArg,
    /// Use only the first N images.
    #[arg(long, default_value_t = 64)]
    limit: usize,
    #[arg(long, default_value_t = 32, value_parser = batch_size)]
    batch_size: usize,
    /// Draw the first 8 images and their maps into this PNG; the per-image
    /// numbers go beside it (same name, .csv) and the numbers table (.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Other training runs to explain on the same images: the PNG becomes
    /// the grid "image | --run model | these ..." and the JSON gets a
    /// `compare` list (repeatable).
    #[arg(long)]
    compare: Vec<PathBuf>,
    /// Write the raw attributions, maps, GradCAM's coarse maps, labels and
    /// indices of the --run (or --weights) model to this safetensors file.
    #[arg(long)]
    save_maps: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    #[arg(long)]
    json: bool,
}

/// The most IG steps: Sundararajan et al. (2017) find 20-300 enough for a
/// completeness gap within 5%; beyond this a typo would run for days.
const MAX_IG_STEPS: usize = 4096;
/// The most SmoothGrad samples: Smilkov et al. (2017) see no change past 50.
const MAX_NOISE_SAMPLES: usize = 10_000;
/// The most LIME masks: the lime package's default is 1000.
const MAX_LIME_SAMPLES: usize = 1_000_000;
/// The most superpixels (LIME's regression is cubic in their number).
const MAX_SEGMENTS: usize = 1024;
/// The most curve steps: one per pixel of a 256x256 image.
const MAX_CURVE_STEPS: usize = 65_536;

/// The attribution methods of Sec. 4.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Method {
    /// The input gradient of the label's logit (Simonyan et al. 2014).
    Saliency,
    /// Integrated Gradients from a black baseline (Sundararajan et al. 2017).
    Ig,
    /// Saliency (or IG) averaged over noisy copies (Smilkov et al. 2017).
    Smoothgrad,
    /// GradCAM on a spatial feature map, the last by default (Selvaraju et al. 2017).
    Gradcam,
    /// LIME over SLIC superpixels (Ribeiro et al. 2016).
    Lime,
}

/// What SmoothGrad averages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SmoothBase {
    /// The input gradient.
    Saliency,
    /// Integrated Gradients.
    Ig,
}

/// What LIME's hidden superpixels show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LimeFillArg {
    /// The superpixel's mean colour (the lime package's default).
    Mean,
    /// Black.
    Black,
}

/// The canvas of the deletion and insertion curves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CanvasArg {
    /// All channels zero.
    Black,
    /// A Gaussian blur (sigma 5, 11x11) of the image.
    Blur,
}

impl From<CanvasArg> for Canvas {
    fn from(c: CanvasArg) -> Canvas {
        match c {
            CanvasArg::Black => Canvas::Black,
            CanvasArg::Blur => Canvas::Blur,
        }
    }
}

impl Method {
    /// The name used on the command line.
    fn flag(self) -> &'static str {
        match self {
            Method::Saliency => "saliency",
            Method::Ig => "ig",
            Method::Smoothgrad => "smoothgrad",
            Method::Gradcam => "gradcam",
            Method::Lime => "lime",
        }
    }
}

/// Rejects every method-specific flag given with a method it does not apply to.
fn check_flags(args: &AttributeArgs) -> Result<()> {
    let m = args.method;
    let smooth = m == Method::Smoothgrad;
    let lime = m == Method::Lime;
    let ig_steps = m == Method::Ig || (smooth && args.smoothgrad_base == Some(SmoothBase::Ig));
    let given = [
        (
            "--steps",
            args.steps.is_some(),
            ig_steps,
            "--method ig only (or smoothgrad with --smoothgrad-base ig)",
        ),
        (
            "--smoothgrad-base",
            args.smoothgrad_base.is_some(),
            smooth,
            "--method smoothgrad only",
        ),
        (
            "--noise-std",
            args.noise_std.is_some(),
            smooth,
            "--method smoothgrad only",
        ),
        (
            "--noise-samples",
            args.noise_samples.is_some(),
            smooth,
            "--method smoothgrad only",
        ),
        (
            "--seed",
            args.seed.is_some(),
            smooth || lime,
            "--method smoothgrad or lime only",
        ),
        (
            "--samples",
            args.samples.is_some(),
            lime,
            "--method lime only",
        ),
        (
            "--segments",
            args.segments.is_some(),
            lime,
            "--method lime only",
        ),
        ("--top-k", args.top_k.is_some(), lime, "--method lime only"),
        (
            "--layer",
            args.layer.is_some(),
            m == Method::Gradcam,
            "--method gradcam only",
        ),
        (
            "--lime-fill",
            args.lime_fill.is_some(),
            lime,
            "--method lime only",
        ),
    ];
    for (flag, is_given, applies, to) in given {
        if is_given && !applies {
            bail!("{flag} applies to {to}, not --method {}", m.flag());
        }
    }
    if let Some(s) = args.steps {
        if s > MAX_IG_STEPS {
            bail!("--steps {s}: expected at most {MAX_IG_STEPS}");
        }
    }
    if let Some(s) = args.noise_samples {
        if s == 0 || s > MAX_NOISE_SAMPLES {
            bail!("--noise-samples {s}: expected 1 to {MAX_NOISE_SAMPLES}");
        }
    }
    if let Some(s) = args.noise_std {
        if !(s.is_finite() && (0.0..=10.0).contains(&s)) {
            bail!("--noise-std {s}: expected a fraction of the input range in [0, 10]");
        }
    }
    for (flag, value, max) in [
        ("--samples", args.samples, MAX_LIME_SAMPLES),
        ("--segments", args.segments, MAX_SEGMENTS),
        ("--top-k", args.top_k, MAX_SEGMENTS),
    ] {
        if let Some(v) = value {
            if v == 0 || v > max {
                bail!("{flag} {v}: expected 1 to {max}");
            }
        }
    }
    if args.curve_steps == 0 || args.curve_steps > MAX_CURVE_STEPS {
        bail!(
            "--curve-steps {}: expected 1 to {MAX_CURVE_STEPS}",
            args.curve_steps
        );
    }
    Ok(())
}

pub fn run(args: AttributeArgs) -> Result<()> {
    let out = Out::new(args.json);
    check_flags(&args)?;
    let ig = IntegratedGradients::new(args.steps.unwrap_or(32)).context("--steps")?;
    let smooth_base = match args.smoothgrad_base.unwrap_or(SmoothBase::Saliency) {
        SmoothBase::Saliency => SmoothGradBase::Saliency,
        SmoothBase::Ig => SmoothGradBase::IntegratedGradients(ig),
    };
    let seed = Seed(args.seed.unwrap_or(0));
    let smoothgrad = SmoothGrad::new(
        smooth_base,
        args.noise_std.unwrap_or(0.15),
        args.noise_samples.unwrap_or(50),
        seed,
    )
    .context("--noise-std, --noise-samples")?;
    let lime = Lime::new(args.samples.unwrap_or(1000), seed)
        .context("--samples")?
        .with_slic(Slic {
            segments: args.segments.unwrap_or(16),
            ..Slic::default()
        })
        .with_top_k(args.top_k.unwrap_or(5))
        .with_fill(match args.lime_fill.unwrap_or(LimeFillArg::Mean) {
            LimeFillArg::Mean => LimeFill::Mean,
            LimeFillArg::Black => LimeFill::Constant(0.0),
        })
        .with_chunk(args.batch_size.max(64))?;
    let device = args.device.open()?;
    let set = args.data.test_split(Some(args.limit))?;
    let data = args.data.data.to_string();
    let config = SummaryConfig {
        batch_size: args.batch_size,
        curve_steps: args.curve_steps,
        deletion: args.deletion_canvas.into(),
        insertion: args.insertion_canvas.into(),
    };
    let name = match args.method {
        Method::Saliency => Saliency.name(),
        Method::Ig => ig.name(),
        Method::Smoothgrad => smoothgrad.name(),
        Method::Gradcam => GradCam.name(),
        Method::Lime => lime.name(),
    };
    // `--run A --run B` is `--run A --compare B`: one code path.
    let mut models = args.models.each()?;
    for run in &args.compare {
        let m = ModelArgs {
            model: None,
            weights: None,
            run: Some(run.clone()),
        };
        models.push((m.label(), m));
    }
    let mut results: Vec<(String, Explained, f64)> = Vec::new();
    for (label, model_args) in &models {
        let mut model = model_args.load_for(&device, &set, &data)?;
        if let Some(layer) = &args.layer {
            model
                .set_feature_layer(layer)
                .with_context(|| format!("--layer for {label}"))?;
        }
        let mut batch = 0u64;
        let mut attribute = |x: &candle_core::Tensor,
                             t: &candle_core::Tensor|
         -> sc_interpret::Result<AttributionMap> {
            batch += 1;
            match args.method {
                Method::Saliency => Saliency.attribute(&model, x, t),
                Method::Ig => ig.attribute(&model, x, t),
                // One noise stream per batch, in the set's order.
                Method::Smoothgrad => smoothgrad
                    .with_seed(seed.derive("smoothgrad-batch").index(batch - 1))
                    .attribute(&model, x, t),
                Method::Gradcam => Ok(GradCam.attribute(&model, x, t)?.0),
                Method::Lime => lime
                    .with_seed(seed.derive("lime-batch").index(batch - 1))
                    .attribute(&model, x, t),
            }
        };
        let started = std::time::Instant::now();
        let explained = summarize(&set, name, &model, config, &device, &mut attribute)
            .with_context(|| format!("{name} of {label}"))?;
        let seconds = started.elapsed().as_secs_f64();
        out.say(report::describe(label, &explained, seconds));
        results.push((label.clone(), explained, seconds));
    }
    let (_, explained, seconds) = &results[0];
    if let Some(path) = &args.save_maps {
        explained
            .save_safetensors(path)
            .with_context(|| format!("--save-maps {}", path.display()))?;
        out.say(format!("wrote {}", path.display()));
    }
    if let Some(path) = &args.out {
        report::draw(&set, &results, name, path)?;
        out.say(format!("wrote {}", path.display()));
        let csv = path.with_extension("csv");
        let text = report::csv(&results);
        sc_core::write_atomic(&csv, text.as_bytes())
            .with_context(|| format!("writing {}", csv.display()))?;
        out.say(format!("wrote {}", csv.display()));
        let md = path.with_extension("md");
        sc_core::write_atomic(&md, report::table(name, &results).as_bytes())
            .with_context(|| format!("writing {}", md.display()))?;
        out.say(format!("wrote {}", md.display()));
    }
    let mut json = serde_json::to_value(&explained.summary)?;
    json["model"] = serde_json::json!(results[0].0);
    json["seconds"] = serde_json::json!(seconds);
    json["meta"] = crate::meta::for_model(args.seed, args.device.device, &models[0].1)?;
    if results.len() > 1 {
        let mut others = Vec::new();
        for (label, e, secs) in &results[1..] {
            let mut v = serde_json::to_value(&e.summary)?;
            v["model"] = serde_json::json!(label);
            v["seconds"] = serde_json::json!(secs);
            others.push(v);
        }
        json["compare"] = serde_json::Value::Array(others);
    }
    out.json(&json)
}
