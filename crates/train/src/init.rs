//! The weights a run starts from: a fresh initialisation drawn from the
//! seed, or trained weights (`init`) for fine-tuning and transfer (the
//! paper's Sec. 4.6 fine-tunes its CIFAR-100 models on CIFAR-10, SVHN and
//! MNIST with Adam at 1e-5).
//!
//! `init` is a run directory (its newest complete checkpoint, with the
//! normalisation it was trained with) or a `.safetensors` file with
//! torchvision's names (its `normalize.*` entries if present, otherwise the
//! configuration's `normalize`). When the data has another class count the
//! final layer (`fc`) is replaced by one drawn from the seed
//! (`Seed(seed).derive("init-head")`); every other tensor, BatchNorm
//! statistics included, is the init's.

use crate::config::{NormalizeChoice, TrainConfig};
use crate::metrics::InitInfo;
use crate::run::RunDir;
use crate::{Error, Result};
use candle_core::{DType, Device};
use sc_core::{Classifier, Seed};
use sc_data::ImageSet;
use sc_models::{Arch, Model, Normalize};
use std::path::Path;

/// The model a new run starts from, and where its weights came from.
pub(crate) fn initial_model(
    config: &TrainConfig,
    train_set: &ImageSet,
    device: &Device,
) -> Result<(Model, Option<InitInfo>)> {
    let arch: Arch = config.model.parse()?;
    let Some(init) = &config.init else {
        let model = Model::new(
            arch,
            train_set.num_classes(),
            train_set.image_shape(),
            normalization(config, train_set)?,
            Seed(config.seed).derive("init"),
            DType::F32,
            device,
        )?;
        return Ok((model, None));
    };
    let bad = |problem: String| Error::Config(format!("init = {init:?}: {problem}"));
    let path = Path::new(init);
    let shape = train_set.image_shape();
    let (model, weights) = if path.is_dir() {
        let run = RunDir::new(path);
        let stem = run.latest()?.ok_or_else(|| {
            bad("expected a run directory with a complete checkpoint, found none".into())
        })?;
        let (model, _) = sc_models::load_checkpoint(run.checkpoints(), &stem, device)?;
        let weights = run.checkpoints().join(format!("{stem}.safetensors"));
        (model, weights)
    } else if path.is_file() {
        let model = Model::load_as(arch.config(1, 1), [shape[1], shape[2]], path, device)?;
        let model = match model.normalize() {
            Some(_) => model,
            None => model.with_normalize(normalization(config, train_set)?)?,
        };
        (model, path.to_path_buf())
    } else {
        return Err(bad(
            "no such file or directory: expected a run directory or a .safetensors file".into(),
        ));
    };
    if model.config().name() != arch.name() {
        return Err(bad(format!(
            "it holds a {}, but model = {:?}",
            model.config().name(),
            config.model
        )));
    }
    if model.input_shape() != shape {
        return Err(bad(format!(
            "it takes images of {:?} (channels, height, width), but {:?} has {shape:?}",
            model.input_shape(),
            config.data
        )));
    }
    if model.dtype() != DType::F32 {
        return Err(bad(format!(
            "its weights are {:?}; training runs in f32",
            model.dtype()
        )));
    }
    let (from, to) = (model.num_classes(), train_set.num_classes());
    let (model, replaced_head) = if from == to {
        (model, None)
    } else {
        let head_seed = Seed(config.seed).derive("init-head");
        (model.with_new_head(to, head_seed)?, Some((from, to)))
    };
    let info = InitInfo {
        weights: weights.display().to_string(),
        replaced_head,
    };
    Ok((model, Some(info)))
}

/// The first layer's normalisation that `config.normalize` asks for.
fn normalization(config: &TrainConfig, train_set: &ImageSet) -> Result<Option<Normalize>> {
    Ok(match &config.normalize {
        NormalizeChoice::None => None,
        NormalizeChoice::Data => Some(Normalize::from_data(&train_set.images(&Device::Cpu)?)?),
        NormalizeChoice::Cifar10 => Some(Normalize::cifar10()),
        NormalizeChoice::Cifar100 => Some(Normalize::cifar100()),
        NormalizeChoice::Imagenet => Some(Normalize::imagenet()),
        NormalizeChoice::Mnist => Some(Normalize::mnist()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;
    use sc_data::DataSpec;
    use sc_models::CheckpointMeta;
    use std::collections::HashMap;

    fn tensors(model: &Model) -> HashMap<String, Vec<f32>> {
        model
            .named_vars()
            .into_iter()
            .map(|(k, v)| {
                let t: &Tensor = v.as_tensor();
                (k, t.flatten_all().unwrap().to_vec1().unwrap())
            })
            .collect()
    }

    fn shapes(spec: &str) -> ImageSet {
        let spec: DataSpec = spec.parse().unwrap();
        spec.load().unwrap().train.unwrap()
    }

    #[test]
    fn starts_from_the_inits_weights_and_replaces_only_a_mismatched_head() {
        let dev = Device::Cpu;
        let set = shapes("shapes:n=20,test=4,size=16,seed=1");
        let dir = tempfile::tempdir().unwrap();
        // A "trained" model: 7 classes, its own seed and normalisation.
        let source = Model::new(
            Arch::SmallCnn,
            7,
            set.image_shape(),
            Some(Normalize::cifar10()),
            Seed(99),
            DType::F32,
            &dev,
        )
        .unwrap();
        let run = RunDir::new(dir.path().join("run"));
        let meta = CheckpointMeta {
            classes: Vec::new(),
            dataset: "x".into(),
            training: serde_json::Value::Null,
        };
        sc_models::save_checkpoint(run.checkpoints(), "step-0000000003", &source, &meta).unwrap();
        let file = dir.path().join("w.safetensors");
        source.save(&file).unwrap();

        for init in [run.root().to_path_buf(), file.clone()] {
            let config = TrainConfig {
                init: Some(init.display().to_string()),
                ..TrainConfig::default()
            };
            let (model, info) = initial_model(&config, &set, &dev).unwrap();
            let info = info.unwrap();
            assert_eq!(info.replaced_head, Some((7, set.num_classes())), "{init:?}");
            assert_eq!(model.num_classes(), set.num_classes());
            assert_eq!(model.normalize(), Some(&Normalize::cifar10()), "{init:?}");
            let (got, want) = (tensors(&model), tensors(&source));
            assert_eq!(got.len(), want.len());
            for (name, values) in &got {
                if name.starts_with("fc.") {
                    assert_ne!(values.len(), want[name].len(), "{name}");
                } else {
                    assert_eq!(values, &want[name], "{name} differs from the init");
                }
            }
            // The new head is drawn from the seed: the same seed, the same head.
            let (again, _) = initial_model(&config, &set, &dev).unwrap();
            assert_eq!(tensors(&again)["fc.weight"], got["fc.weight"]);
        }

        // Same class count: every tensor is the init's.
        let same = Model::new(
            Arch::SmallCnn,
            set.num_classes(),
            set.image_shape(),
            None,
            Seed(5),
            DType::F32,
            &dev,
        )
        .unwrap();
        same.save(&file).unwrap();
        let config = TrainConfig {
            init: Some(file.display().to_string()),
            normalize: NormalizeChoice::None,
            ..TrainConfig::default()
        };
        let (model, info) = initial_model(&config, &set, &dev).unwrap();
        assert_eq!(info.unwrap().replaced_head, None);
        assert_eq!(tensors(&model), tensors(&same));
    }

    #[test]
    fn a_bad_init_is_named() {
        let set = shapes("shapes:n=20,test=4,size=16,seed=1");
        let dir = tempfile::tempdir().unwrap();
        let e = |init: &Path, model: &str| {
            let config = TrainConfig {
                init: Some(init.display().to_string()),
                model: model.into(),
                ..TrainConfig::default()
            };
            match initial_model(&config, &set, &Device::Cpu) {
                Ok(_) => panic!("{init:?} was accepted"),
                Err(e) => e.to_string(),
            }
        };
        let missing = dir.path().join("nope");
        assert!(e(&missing, "small-cnn").contains("no such file"));
        assert!(e(dir.path(), "small-cnn").contains("with a complete checkpoint, found none"));
        let other = Model::new(
            Arch::SmallCnn,
            3,
            [3, 8, 8],
            None,
            Seed(1),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let run = RunDir::new(dir.path().join("r"));
        let meta = CheckpointMeta {
            classes: Vec::new(),
            dataset: "x".into(),
            training: serde_json::Value::Null,
        };
        sc_models::save_checkpoint(run.checkpoints(), "step-0000000001", &other, &meta).unwrap();
        let msg = e(run.root(), "small-cnn");
        assert!(
            msg.contains("[3, 8, 8]") && msg.contains("[3, 16, 16]"),
            "{msg}"
        );
        let msg = e(run.root(), "resnet18");
        assert!(
            msg.contains("small-cnn") && msg.contains("resnet18"),
            "{msg}"
        );
    }
}
