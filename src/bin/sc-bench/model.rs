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

    /// A short name for the model: its run directory's or weights file's name.
    pub fn label(&self) -> String {
        let path = self.run.as_ref().or(self.weights.as_ref());
        path.and_then(|p| p.file_stem())
            .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned())
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

/// One or several trained models, for the commands that compare models on
/// the same images: `--run DIR` (repeatable) or `--model NAME --weights FILE`.
#[derive(Args, Clone)]
pub struct ModelsArgs {
    /// small-cnn, resnet18 or resnet50 (required with --weights; checked against every --run).
    #[arg(long)]
    pub model: Option<Arch>,
    /// A safetensors file with torchvision parameter names.
    #[arg(long, conflicts_with = "run")]
    pub weights: Option<PathBuf>,
    /// A training run directory (its newest complete checkpoint); repeat
    /// for several models.
    #[arg(long)]
    pub run: Vec<PathBuf>,
}

impl ModelsArgs {
    /// Each model as a [`ModelArgs`], in command-line order, with a label
    /// for tables and legends (the run's name; its path when two runs share
    /// a name).
    pub fn each(&self) -> Result<Vec<(String, ModelArgs)>> {
        let single = |run: Option<PathBuf>| ModelArgs {
            model: self.model,
            weights: self.weights.clone(),
            run,
        };
        let models: Vec<ModelArgs> = if self.run.is_empty() {
            vec![single(None)]
        } else {
            self.run.iter().map(|r| single(Some(r.clone()))).collect()
        };
        if self.weights.is_none() && self.run.is_empty() {
            bail!("give the model as --run DIR (repeatable) or as --model NAME --weights FILE");
        }
        let labels: Vec<String> = models.iter().map(ModelArgs::label).collect();
        Ok(models
            .into_iter()
            .zip(&labels)
            .map(|(m, label)| {
                let shared = labels.iter().filter(|l| *l == label).count() > 1;
                let label = match (&m.run, shared) {
                    (Some(run), true) => run.display().to_string(),
                    _ => label.clone(),
                };
                (label, m)
            })
            .collect())
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
