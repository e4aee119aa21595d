use super::*;
use crate::Arch;

fn bits(model: &Model) -> Vec<(String, Vec<u64>)> {
    model
        .named_vars()
        .into_iter()
        .map(|(k, v)| {
            let t = v.as_tensor().to_dtype(DType::F64).unwrap();
            let b = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            (k, b.into_iter().map(f64::to_bits).collect())
        })
        .collect()
}

fn small(seed: u64) -> Model {
    Model::new(
        Arch::SmallCnn,
        10,
        [3, 32, 32],
        None,
        Seed(seed),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap()
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let (a, b, c) = (bits(&small(3)), bits(&small(3)), bits(&small(4)));
    assert_eq!(a, b);
    for ((name, x), (_, y)) in a.iter().zip(&c) {
        let random = name.starts_with("conv") || name.starts_with("fc.");
        assert_eq!(x != y, random, "{name}");
    }
}

#[test]
fn initialisation_follows_torchvision() {
    let model = Model::new(
        Arch::ResNet18,
        100,
        [3, 32, 32],
        None,
        Seed(1),
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    for (name, var) in model.named_vars() {
        let v = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
        let dims = var.dims().to_vec();
        if name == "fc.weight" || name == "fc.bias" {
            let bound = 1.0 / 512f64.sqrt();
            assert!(v.iter().all(|a| a.abs() <= bound), "{name}");
            let max = v.iter().fold(0f64, |m, a| m.max(a.abs()));
            assert!(max > 0.9 * bound, "{name}: max {max}");
        } else if dims.len() == 4 {
            // Kaiming normal, fan_out mode, ReLU gain.
            let want = (2.0 / (dims[0] * dims[2] * dims[3]) as f64).sqrt();
            let tol = 4.0 * want / n.sqrt() + 0.02 * want;
            assert!((std - want).abs() < tol, "{name}: std {std}, want {want}");
            assert!(mean.abs() < 5.0 * want / n.sqrt(), "{name}: mean {mean}");
        } else {
            let want = if name.ends_with("running_var") || name.ends_with(".weight") {
                1.0
            } else {
                0.0
            };
            assert!(v.iter().all(|a| *a == want), "{name}");
        }
    }
}

#[test]
fn new_heads_keep_the_body_and_copies_are_independent() {
    let model = small(1);
    let head = model.with_new_head(4, Seed(9)).unwrap();
    assert_eq!(sc_core::Classifier::num_classes(&head), 4);
    let (a, b) = (bits(&model), bits(&head));
    for ((name, x), (name_b, y)) in a.iter().zip(&b) {
        assert_eq!(name, name_b);
        if !name.starts_with("fc.") {
            assert_eq!(x, y, "{name}");
        }
    }
    let copy = model.deep_clone().unwrap();
    let (_, w) = copy
        .named_vars()
        .into_iter()
        .find(|(k, _)| k == "conv1.weight")
        .unwrap();
    w.set(&w.as_tensor().zeros_like().unwrap()).unwrap();
    assert_eq!(bits(&model), a, "the copy shares storage with the original");
}
