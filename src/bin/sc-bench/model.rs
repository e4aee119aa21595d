//! Loading a trained model, and the one check that it fits the data it is
//! about to run on.

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::Args;
use sc_core::Classifier;
use sc_data::ImageSet;
use sc_models::{Arch, Model};
use std::path::PathBuf;

/// Which trained model to use: a run directory (its newest checkpoint) or a
/// weights file with its architecture.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// small-cnn, resnet18 or resnet50 (required with --weights; checked against --run).
    #[arg(long)]
    pub model: Option<Arch>,
    /// A safetensors file with torchvision parameter names.
    #[arg(long, conflicts_with = "run")]
    pub weights: Option<PathBuf>,
    /// A training run directory: its newest complete checkpoint is used.
    #[arg(long)]
    pub run: Option<PathBuf>,
}

impl ModelArgs {
    /// Loads the model for images of `[H, W]` (the size of the data it will
    /// see; weights files do not record it). Commands that run the model on
    /// a data set call [`ModelArgs::load_for`] instead, which also checks
    /// that the two fit.
    pub fn load(&self, device: &Device, image_size: [usize; 2]) -> Result<Model> {
        match (&self.weights, &self.run) {
            (Some(path), None) => {
                let arch = self
                    .model
                    .context("--weights needs --model NAME (small-cnn, resnet18, resnet50)")?;
                Model::load_as(arch.config(1, 1), image_size, path, device)
                    .with_context(|| format!("loading {arch} weights"))
            }
            (None, Some(run)) => {
                let runs = sc_train::RunDir::new(run);
                let stem = runs.latest()?.with_context(|| {
                    format!(
                        "{}: no complete checkpoint (is it a training run?)",
                        run.display()
                    )
                })?;
                let (model, _) = sc_models::load_checkpoint(runs.checkpoints(), &stem, device)
                    .with_context(|| format!("loading {}/checkpoints/{stem}", run.display()))?;
                if let Some(arch) = self.model {
                    if model.arch() != Some(arch) {
                        bail!(
                            "--model {arch}, but {} holds a {} checkpoint",
                            run.display(),
                            model.config().name()
                        );
                    }
                }
                Ok(model)
            }
            _ => bail!("give the model as --run DIR or as --model NAME --weights FILE"),
        }
    }

    /// Loads the model for `set` (described to the user as `data`) and
    /// checks with [`check_fits`] that it was made for such images.
    pub fn load_for(&self, device: &Device, set: &ImageSet, data: &str) -> Result<Model> {
        let [_, h, w] = set.image_shape();
        let model = self.load(device, [h, w])?;
        check_fits(&model, set, data)?;
        Ok(model)
    }
}

/// The one check every command that runs a model on data makes: the data's
/// class count and image shape `[C, H, W]` equal the model's. Otherwise a
/// model would be scored against labels of another class list, or on
/// images of a size it was not trained at, and print a number that means
/// nothing. The error names the data (`data`, e.g. the `--data` value) and
/// the model, with both values.
pub fn check_fits(model: &dyn Classifier, set: &ImageSet, data: &str) -> Result<()> {
    let (classes, model_classes) = (set.num_classes(), model.num_classes());
    if classes != model_classes {
        bail!(
            "{data} has {classes} classes, but the model ({}) has {model_classes}",
            model.name()
        );
    }
    let ([c, h, w], [mc, mh, mw]) = (set.image_shape(), model.input_shape());
    if [c, h, w] != [mc, mh, mw] {
        bail!(
            "{data} has {c}x{h}x{w} images, but the model ({}) takes {mc}x{mh}x{mw} (use --image-size for folder and shapes sets)",
            model.name()
        );
    }
    Ok(())
}
