use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::Args;
use sc_models::{Arch, Model};
use std::path::PathBuf;

/// Which trained model to use: a run directory (its newest checkpoint) or a
/// weights file with its architecture.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// small-cnn, resnet18 or resnet50 (required with --weights; checked against --run).
    #[arg(long)]
    pub model: Option<String>,
    /// A safetensors file with torchvision parameter names.
    #[arg(long, conflicts_with = "run")]
    pub weights: Option<PathBuf>,
    /// A training run directory: its newest complete checkpoint is used.
    #[arg(long)]
    pub run: Option<PathBuf>,
}

impl ModelArgs {
    /// Loads the model for images of `[H, W]` (the size of the data it will
    /// see; weights files do not record it).
    pub fn load(&self, device: &Device, image_size: [usize; 2]) -> Result<Model> {
        match (&self.weights, &self.run) {
            (Some(path), None) => {
                let name = self
                    .model
                    .as_deref()
                    .context("--weights needs --model NAME (small-cnn, resnet18, resnet50)")?;
                let arch: Arch = name.parse().context("--model")?;
                Model::load_as(arch.config(1, 1), image_size, path, device)
                    .with_context(|| format!("loading {name} weights"))
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
                if let Some(name) = &self.model {
                    let arch: Arch = name.parse().context("--model")?;
                    if model.arch() != Some(arch) {
                        bail!(
                            "--model {name}, but {} holds a {} checkpoint",
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
}

/// `--device cpu` or `cuda[:N]` (CUDA needs a build with `--features cuda`).
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let ordinal = match s.strip_prefix("cuda:") {
                Some(n) => n
                    .parse()
                    .with_context(|| format!("--device {s:?}: bad GPU ordinal"))?,
                None => 0,
            };
            if !candle_core::utils::cuda_is_available() {
                bail!("--device {s}: this sc-bench was built without CUDA (rebuild with --features cuda)");
            }
            Device::new_cuda(ordinal).with_context(|| format!("--device {s}"))
        }
        other => bail!("--device {other:?}: expected cpu, cuda or cuda:N"),
    }
}

/// The images a model is measured on: the test split of `--data` (or its
/// only split), its first `limit` images when given.
pub fn evaluation_set(data: &str, limit: Option<usize>) -> Result<sc_data::ImageSet> {
    let spec: sc_data::DataSpec = data.parse().context("--data")?;
    let data = spec.load().with_context(|| format!("loading {spec}"))?;
    let set = data.test_or_only().context("the data set has no images")?;
    Ok(match limit {
        Some(0) => bail!("--limit must be at least 1"),
        Some(n) => set.take(n),
        None => set.clone(),
    })
}
