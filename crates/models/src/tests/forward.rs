use super::naive;
use super::*;
use crate::Arch;
use sc_core::{Classifier, SpatialFeatures};
use std::time::Instant;

fn assert_matches_reference(model: &Model, x: &Tensor, reference: impl Fn(&Img) -> Vec<f64>) {
    let logits = to_vec2(&model.logits(x).unwrap());
    for (i, img) in images(x).iter().enumerate() {
        let want = reference(img);
        assert_eq!(logits[i].len(), want.len());
        for (k, (got, want)) in logits[i].iter().zip(&want).enumerate() {
            assert!(
                (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                "{}: image {i} logit {k}: {got} vs reference {want}",
                model.name()
            );
        }
    }
}

#[test]
fn tiny_resnets_match_the_naive_reference() {
    for block in [Block::Basic, Block::Bottleneck] {
        for (stem, hw) in [(Stem::Cifar, [9, 11]), (Stem::ImageNet, [35, 29])] {
            let model = tiny_resnet(block, stem, hw, DType::F64);
            randomize_bn(&model, 1);
            let names: Vec<String> = model.named_vars().into_iter().map(|(k, _)| k).collect();
            assert!(names.contains(&"layer2.0.downsample.0.weight".to_string()));
            assert!(!names.iter().any(|n| n.starts_with("layer1.1.downsample")));
            let w = naive::weights(&model);
            let cfg = tiny_resnet_config(block, stem, 5);
            let x = pixels([2, 3, hw[0], hw[1]], 2, DType::F64);
            assert_matches_reference(&model, &x, |img| {
                naive::resnet(&cfg, &w, model.normalize(), img)
            });
        }
    }
}

#[test]
fn small_cnn_matches_the_naive_reference() {
    let model = Model::new(
        Arch::SmallCnn,
        4,
        [3, 8, 16],
        Some(Normalize::cifar100()),
        Seed(5),
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    randomize_bn(&model, 3);
    let w = naive::weights(&model);
    let x = pixels([2, 3, 8, 16], 4, DType::F64);
    assert_matches_reference(&model, &x, |img| {
        naive::small_cnn(&w, model.normalize(), img)
    });
}

#[test]
fn without_normalisation_pixels_enter_unchanged() {
    let model = Model::new(
        Arch::SmallCnn,
        3,
        [1, 8, 8],
        None,
        Seed(5),
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    let w = naive::weights(&model);
    let x = pixels([1, 1, 8, 8], 4, DType::F64);
    assert_matches_reference(&model, &x, |img| naive::small_cnn(&w, None, img));
    let normalised = model.with_normalize(Some(Normalize::mnist())).unwrap();
    assert_matches_reference(&normalised, &x, |img| {
        naive::small_cnn(&w, Some(&Normalize::mnist()), img)
    });
}

#[test]
fn models_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
}

#[test]
fn features_compose_to_logits() {
    // For every readable layer, the features followed by the rest of the
    // network give the logits (up to the eval path's BN-folded convs,
    // which are the same ops: 1e-5 relative), and the map has the stage's
    // channel count and resolution.
    for (arch, shape, fshapes, names) in [
        (
            Arch::SmallCnn,
            [2, 3, 16, 16],
            [
                [2, 32, 16, 16],
                [2, 64, 8, 8],
                [2, 128, 4, 4],
                [2, 256, 2, 2],
            ],
            "block",
        ),
        (
            Arch::ResNet18,
            [2, 3, 32, 32],
            [
                [2, 64, 32, 32],
                [2, 128, 16, 16],
                [2, 256, 8, 8],
                [2, 512, 4, 4],
            ],
            "layer",
        ),
    ] {
        let mut model = Model::new(
            arch,
            7,
            [3, shape[2], shape[3]],
            None,
            Seed(1),
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
        let x = pixels(shape, 1, DType::F32);
        let direct = model.logits(&x).unwrap();
        assert_eq!(direct.dims(), [2, 7]);
        // The default is the last stage, and it composes exactly.
        assert_eq!(model.feature_layer(), format!("{names}4"));
        let f = model.features(&x).unwrap();
        assert_eq!(f.dims(), fshapes[3], "{arch}");
        assert_eq!(
            max_abs_diff(&model.logits_from_features(&f).unwrap(), &direct),
            0.0
        );
        let layers = model.feature_layers();
        assert_eq!(
            layers,
            (1..=4).map(|i| format!("{names}{i}")).collect::<Vec<_>>()
        );
        for (i, layer) in layers.iter().enumerate() {
            model.set_feature_layer(layer).unwrap();
            assert_eq!(model.feature_layer(), layer);
            let f = model.features(&x).unwrap();
            assert_eq!(f.dims(), fshapes[i], "{arch} {layer}");
            let scale = direct
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let diff = max_abs_diff(&model.logits_from_features(&f).unwrap(), &direct);
            assert!(
                diff <= 1e-5 * f64::from(scale.max(1.0)),
                "{arch} {layer}: {diff}"
            );
        }
        let e = model.set_feature_layer("fc").unwrap_err().to_string();
        assert!(
            e.contains("\"fc\"") && e.contains(&format!("{names}1, {names}2")),
            "{e}"
        );
    }
}

#[test]
fn inputs_of_the_wrong_shape_are_refused() {
    let model = Model::new(
        Arch::SmallCnn,
        3,
        [3, 32, 32],
        None,
        Seed(1),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    for shape in [vec![1, 1, 32, 32], vec![3, 32, 32], vec![1, 3, 30, 32]] {
        let x = Tensor::zeros(shape.clone(), DType::F32, &Device::Cpu).unwrap();
        assert!(model.logits(&x).is_err(), "{shape:?}");
    }
    // Another size divisible by 8 is fine (global pooling).
    let x = Tensor::zeros((1, 3, 16, 24), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(model.logits(&x).unwrap().dims(), [1, 3]);
    assert!(Model::new(
        Arch::SmallCnn,
        3,
        [3, 28, 28],
        None,
        Seed(1),
        DType::F32,
        &Device::Cpu
    )
    .is_err());
    assert!(Model::new(
        Arch::SmallCnn,
        0,
        [3, 32, 32],
        None,
        Seed(1),
        DType::F32,
        &Device::Cpu
    )
    .is_err());
    assert!(Model::new(
        Arch::SmallCnn,
        3,
        [3, 32, 32],
        Some(Normalize::mnist()),
        Seed(1),
        DType::F32,
        &Device::Cpu
    )
    .is_err());
}

#[test]
fn resnet18_gives_logits_for_cifar_batches() {
    let model = Model::new(
        Arch::ResNet18,
        100,
        [3, 32, 32],
        Some(Normalize::cifar100()),
        Seed(0),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let logits = model
        .logits(&pixels([2, 3, 32, 32], 0, DType::F32))
        .unwrap();
    assert_eq!(logits.dims(), [2, 100]);
    assert_eq!(
        (model.name(), model.num_classes(), model.input_shape()),
        ("resnet18", 100, [3, 32, 32])
    );
    assert!(to_vec2(&logits).iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn resnet50_gives_imagenet_logits() {
    let start = Instant::now();
    let model = Model::new(
        Arch::ResNet50,
        1000,
        [3, 224, 224],
        Some(Normalize::imagenet()),
        Seed(0),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let built = start.elapsed();
    let logits = model
        .logits(&pixels([1, 3, 224, 224], 0, DType::F32))
        .unwrap();
    assert_eq!(logits.dims(), [1, 1000]);
    assert!(to_vec2(&logits).iter().flatten().all(|v| v.is_finite()));
    assert!(
        start.elapsed().as_secs() < 60,
        "init {built:?}, forward {:?}",
        start.elapsed() - built
    );
}

/// torchvision's parameter counts: ResNet-50 has 25,557,032 parameters;
/// ResNet-18 with the 3x3 stem and 100 classes has 11,220,132.
#[test]
fn parameter_counts_and_names_match_torchvision() {
    let count =
        |m: &Model| -> usize { m.trainable_vars().iter().map(|(_, v)| v.elem_count()).sum() };
    let r50 = Model::new(
        Arch::ResNet50,
        1000,
        [3, 224, 224],
        None,
        Seed(0),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(count(&r50), 25_557_032);
    // 53 convs, 53 BNs of 4 tensors, fc weight and bias; torchvision's state
    // dict has these 267 plus 53 num_batches_tracked.
    assert_eq!(r50.named_vars().len(), 267);
    let shape = |m: &Model, n: &str| -> Vec<usize> {
        m.named_vars()
            .into_iter()
            .find(|(k, _)| k == n)
            .unwrap_or_else(|| panic!("no {n}"))
            .1
            .dims()
            .to_vec()
    };
    assert_eq!(shape(&r50, "conv1.weight"), [64, 3, 7, 7]);
    assert_eq!(shape(&r50, "layer1.0.downsample.0.weight"), [256, 64, 1, 1]);
    assert_eq!(shape(&r50, "layer3.5.conv3.weight"), [1024, 256, 1, 1]);
    assert_eq!(shape(&r50, "layer4.2.bn3.running_var"), [2048]);
    assert_eq!(shape(&r50, "fc.weight"), [1000, 2048]);
    let r18 = Model::new(
        Arch::ResNet18,
        100,
        [3, 32, 32],
        None,
        Seed(0),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(count(&r18), 11_220_132);
    assert_eq!(shape(&r18, "conv1.weight"), [64, 3, 3, 3]);
    assert_eq!(shape(&r18, "layer2.0.downsample.1.weight"), [128]);
    assert!(!r18
        .named_vars()
        .iter()
        .any(|(k, _)| k.starts_with("layer1.0.downsample")));
}
