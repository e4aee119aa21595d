use super::*;
use crate::{load_checkpoint, save_checkpoint, Arch, CheckpointMeta, Error};
use sc_core::Classifier;
use std::collections::HashMap;
use std::path::Path;

fn small(num_classes: usize, normalize: Option<Normalize>, dtype: DType) -> Model {
    let model = Model::new(
        Arch::SmallCnn,
        num_classes,
        [3, 16, 16],
        normalize,
        Seed(1),
        dtype,
        &Device::Cpu,
    )
    .unwrap();
    randomize_bn(&model, 2);
    model
}

fn tensors_of(model: &Model) -> HashMap<String, Tensor> {
    model
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect()
}

fn write(path: &Path, tensors: &HashMap<String, Tensor>) {
    candle_core::safetensors::save(tensors, path).unwrap();
}

#[test]
fn saved_models_load_with_identical_logits() {
    let dir = tempfile::tempdir().unwrap();
    let x = pixels([2, 3, 16, 16], 1, DType::F32);
    let model = small(7, Some(Normalize::cifar10()), DType::F32);
    let path = dir.path().join("m.safetensors");
    model.save(&path).unwrap();
    let loaded = Model::load(Arch::SmallCnn, &path, &Device::Cpu).unwrap();
    assert_eq!(loaded.num_classes(), 7, "class count from fc.weight");
    assert_eq!(loaded.normalize(), Some(&Normalize::cifar10()));
    assert_eq!(loaded.dtype(), DType::F32);
    assert_eq!(
        loaded.input_shape(),
        [3, 32, 32],
        "the architecture's default size"
    );
    let (a, b) = (model.logits(&x).unwrap(), loaded.logits(&x).unwrap());
    assert_eq!(max_abs_diff(&a, &b), 0.0);

    // A custom ResNet in f64, without normalisation.
    let r = tiny_resnet(Block::Bottleneck, Stem::ImageNet, [32, 32], DType::F64)
        .with_normalize(None)
        .unwrap();
    randomize_bn(&r, 3);
    r.save(&path).unwrap();
    let loaded = Model::load_as(*r.config(), [32, 32], &path, &Device::Cpu).unwrap();
    assert_eq!(loaded.normalize(), None);
    assert_eq!(loaded.dtype(), DType::F64);
    let x = pixels([2, 3, 32, 32], 1, DType::F64);
    assert_eq!(
        max_abs_diff(&r.logits(&x).unwrap(), &loaded.logits(&x).unwrap()),
        0.0
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temporary files left"
    );
}

#[test]
fn pytorch_files_load_class_and_channel_counts_from_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torch.safetensors");
    let model = Model::new(
        Arch::ResNet18,
        13,
        [1, 32, 32],
        None,
        Seed(0),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let mut t = tensors_of(&model);
    // PyTorch's BN step counters are ignored.
    t.insert(
        "bn1.num_batches_tracked".into(),
        Tensor::new(&[7i64], &Device::Cpu)
            .unwrap()
            .squeeze(0)
            .unwrap(),
    );
    write(&path, &t);
    let loaded = Model::load(Arch::ResNet18, &path, &Device::Cpu).unwrap();
    assert_eq!(
        (loaded.num_classes(), loaded.input_shape()),
        (13, [1, 32, 32])
    );
    assert_eq!(loaded.normalize(), None);
    // Half-precision files are widened to f32.
    let half: HashMap<String, Tensor> = t
        .iter()
        .map(|(k, v)| {
            let v = match v.dtype() {
                DType::F32 => v.to_dtype(DType::F16).unwrap(),
                _ => v.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    write(&path, &half);
    let loaded = Model::load(Arch::ResNet18, &path, &Device::Cpu).unwrap();
    assert_eq!(loaded.dtype(), DType::F32);
    let x = pixels([1, 1, 32, 32], 1, DType::F32);
    assert_eq!(loaded.logits(&x).unwrap().dtype(), DType::F32);
}

fn load_error(arch: Arch, tensors: &HashMap<String, Tensor>) -> (String, Error) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    write(&path, tensors);
    let err = Model::load(arch, &path, &Device::Cpu).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "file not named: {msg}"
    );
    (msg, err)
}

#[test]
fn mismatched_files_are_refused_with_the_mismatches() {
    let good = tensors_of(&small(5, None, DType::F32));

    let mut t = good.clone();
    t.insert(
        "conv2.weight".into(),
        Tensor::zeros((64, 16, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    let (msg, _) = load_error(Arch::SmallCnn, &t);
    assert!(
        msg.contains("conv2.weight: expected [64, 32, 3, 3], found [64, 16, 3, 3]"),
        "{msg}"
    );

    let mut t = good.clone();
    t.remove("bn3.running_var");
    let (msg, _) = load_error(Arch::SmallCnn, &t);
    assert!(msg.contains("bn3.running_var: missing"), "{msg}");

    let mut t = good.clone();
    t.insert(
        "extra.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let (msg, _) = load_error(Arch::SmallCnn, &t);
    assert!(msg.contains("extra.weight: unexpected"), "{msg}");

    let mut t = good.clone();
    t.remove("fc.weight");
    let (msg, _) = load_error(Arch::SmallCnn, &t);
    assert!(msg.contains("fc.weight: missing"), "{msg}");

    // A small-cnn file is no ResNet-18: many problems, the first few listed.
    let (msg, err) = load_error(Arch::ResNet18, &good);
    match err {
        Error::WeightsMismatch {
            problems,
            count,
            arch,
            ..
        } => {
            assert_eq!(arch, "resnet18");
            assert_eq!(problems.len(), 8);
            assert!(count > 8);
            assert!(msg.ends_with("; ..."), "{msg}");
        }
        e => panic!("unexpected error {e}"),
    }

    let mut t = good.clone();
    t.insert(
        "normalize.mean".into(),
        Tensor::new(&[0.5f32, 0.5, 0.5], &Device::Cpu).unwrap(),
    );
    let (msg, _) = load_error(Arch::SmallCnn, &t);
    assert!(msg.contains("normalize.std"), "{msg}");
}

#[test]
fn unreadable_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.safetensors");
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json").unwrap();
    let msg = Model::load(Arch::SmallCnn, &path, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("junk.safetensors"), "{msg}");
    let missing = dir.path().join("absent.safetensors");
    let msg = Model::load(Arch::SmallCnn, &missing, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.safetensors"), "{msg}");
}

#[test]
fn checkpoints_round_trip_and_detect_torn_writes() {
    let dir = tempfile::tempdir().unwrap();
    let model = Model::new(
        Arch::SmallCnn,
        3,
        [1, 24, 16],
        Some(Normalize::mnist()),
        Seed(4),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    randomize_bn(&model, 1);
    let meta = CheckpointMeta {
        classes: vec!["circle".into(), "square".into(), "triangle".into()],
        dataset: "shapes".into(),
        training: serde_json::json!({"epoch": 3, "step": 120, "regime": "C"}),
    };
    save_checkpoint(dir.path(), "epoch-3", &model, &meta).unwrap();
    let (loaded, got) = load_checkpoint(dir.path(), "epoch-3", &Device::Cpu).unwrap();
    assert_eq!(got, meta);
    assert_eq!(loaded.input_shape(), [1, 24, 16]);
    assert_eq!(loaded.normalize(), Some(&Normalize::mnist()));
    let x = pixels([2, 1, 24, 16], 1, DType::F32);
    assert_eq!(
        max_abs_diff(&model.logits(&x).unwrap(), &loaded.logits(&x).unwrap()),
        0.0
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["epoch-3.json", "epoch-3.safetensors"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("epoch-3.json")).unwrap())
            .unwrap();
    assert_eq!(json["model"], "small-cnn");
    assert_eq!(json["arch"], "small-cnn");
    assert_eq!(json["num_classes"], 3);
    assert_eq!(json["dataset"], "shapes");
    assert_eq!(json["training"]["step"], 120);

    // Weights replaced without their JSON.
    let other = Model::new(
        Arch::SmallCnn,
        3,
        [1, 24, 16],
        Some(Normalize::mnist()),
        Seed(5),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    other.save(dir.path().join("epoch-3.safetensors")).unwrap();
    let msg = load_checkpoint(dir.path(), "epoch-3", &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("epoch-3.safetensors") && msg.contains("hash"),
        "{msg}"
    );

    // Incomplete: no JSON.
    let msg = load_checkpoint(dir.path(), "epoch-4", &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("epoch-4.json"), "{msg}");

    let wrong = CheckpointMeta {
        classes: vec!["a".into()],
        ..meta.clone()
    };
    assert!(save_checkpoint(dir.path(), "x", &model, &wrong).is_err());
    assert!(save_checkpoint(dir.path(), "../x", &model, &meta).is_err());
}
