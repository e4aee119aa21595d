use super::*;
use crate::Arch;
use candle_core::Var;
use rand::seq::index::sample;
use sc_core::Classifier;

/// `sum(logits * r)` for a fixed random `r`: every logit contributes.
fn loss(model: &Model, x: &Tensor, r: &Tensor) -> Tensor {
    (model.logits(x).unwrap() * r).unwrap().sum_all().unwrap()
}

/// The input gradient of `loss` against central differences at `count`
/// random coordinates (all of them when `count` is None).
fn check_input_gradient(model: &Model, shape: [usize; 4], count: Option<usize>) {
    let x = pixels(shape, 7, DType::F64);
    let r = pixels([shape[0], model.num_classes()], 8, DType::F64);
    let var = Var::from_tensor(&x).unwrap();
    let grads = loss(model, var.as_tensor(), &r).backward().unwrap();
    let g = grads
        .get(&var)
        .expect("input gradient")
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let base = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let n = base.len();
    let coords: Vec<usize> = match count {
        None => (0..n).collect(),
        Some(k) => sample(&mut Seed(9).stream("coords"), n, k).into_vec(),
    };
    let h = 1e-5;
    let eval = |v: Vec<f64>| -> f64 {
        let t = Tensor::from_vec(v, shape.to_vec(), &Device::Cpu).unwrap();
        loss(model, &t, &r).to_scalar::<f64>().unwrap()
    };
    let mut nonzero = 0;
    for i in coords {
        let mut plus = base.clone();
        plus[i] += h;
        let mut minus = base.clone();
        minus[i] -= h;
        let fd = (eval(plus) - eval(minus)) / (2.0 * h);
        assert!(
            (g[i] - fd).abs() <= 1e-3 * fd.abs() + 1e-7,
            "{}: coordinate {i}: gradient {} vs finite difference {fd}",
            model.name(),
            g[i]
        );
        nonzero += usize::from(fd.abs() > 1e-6);
    }
    assert!(nonzero > 0, "all finite differences vanish");
}

#[test]
fn input_gradients_match_finite_differences() {
    let small = Model::new(
        Arch::SmallCnn,
        3,
        [3, 8, 8],
        Some(Normalize::cifar10()),
        Seed(2),
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    randomize_bn(&small, 4);
    check_input_gradient(&small, [1, 3, 8, 8], None);
    // Odd sizes through strided convs and the strided max-pool.
    let r = tiny_resnet(Block::Bottleneck, Stem::ImageNet, [35, 29], DType::F64);
    randomize_bn(&r, 5);
    check_input_gradient(&r, [1, 3, 35, 29], Some(80));
    let r = tiny_resnet(Block::Basic, Stem::Cifar, [9, 11], DType::F64);
    randomize_bn(&r, 6);
    check_input_gradient(&r, [2, 3, 9, 11], Some(80));
}

#[test]
fn logits_give_no_weight_gradients_and_training_does() {
    let model = tiny_resnet(Block::Bottleneck, Stem::ImageNet, [32, 32], DType::F32);
    let vars = model.trainable_vars();
    let x = Var::from_tensor(&pixels([2, 3, 32, 32], 1, DType::F32)).unwrap();
    let grads = model
        .logits(x.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(&x).is_some());
    for (name, var) in &vars {
        assert!(
            grads.get(var).is_none(),
            "eval logits gave a gradient of {name}"
        );
    }
    let grads = model
        .forward_train(x.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    for (name, var) in &vars {
        assert!(
            grads.get(var).is_some(),
            "training gave no gradient of {name}"
        );
    }
}

#[test]
fn trainable_vars_are_sorted_parameters_without_running_statistics() {
    let model = tiny_resnet(Block::Basic, Stem::Cifar, [8, 8], DType::F32);
    let names: Vec<String> = model.trainable_vars().into_iter().map(|(k, _)| k).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names
        .iter()
        .all(|n| !n.contains("running") && !n.starts_with("normalize")));
    for n in [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "layer2.0.downsample.1.bias",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.iter().any(|k| k == n), "{n} missing");
    }
    let all = model.named_vars().len();
    let bns = model
        .named_vars()
        .iter()
        .filter(|(k, _)| k.ends_with("running_mean"))
        .count();
    assert_eq!(names.len(), all - 2 * bns);
}

fn running_stats(model: &Model) -> Vec<Vec<f64>> {
    model
        .named_vars()
        .into_iter()
        .filter(|(k, _)| k.contains("running"))
        .map(|(_, v)| {
            v.as_tensor()
                .to_dtype(DType::F64)
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
        })
        .collect()
}

fn var(model: &Model, name: &str) -> Var {
    model
        .named_vars()
        .into_iter()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
}

#[test]
fn training_forwards_update_running_statistics_as_pytorch() {
    let model = Model::new(
        Arch::SmallCnn,
        3,
        [3, 8, 8],
        Some(Normalize::cifar10()),
        Seed(2),
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    randomize_bn(&model, 1);
    let x = pixels([4, 3, 8, 8], 3, DType::F64);
    let before = running_stats(&model);
    let eval_logits = model.logits(&x).unwrap();
    assert_eq!(
        running_stats(&model),
        before,
        "eval forward changed running statistics"
    );

    let old_mean = var(&model, "bn1.running_mean")
        .as_tensor()
        .to_vec1::<f64>()
        .unwrap();
    let old_var = var(&model, "bn1.running_var")
        .as_tensor()
        .to_vec1::<f64>()
        .unwrap();
    let train_logits = model.forward_train(&x).unwrap();
    assert!(max_abs_diff(&train_logits, &eval_logits) > 1e-6);
    assert_ne!(running_stats(&model), before);

    // bn1's input: conv1 of the normalised pixels.
    let (m, s) = Normalize::cifar10()
        .tensors(DType::F64, &Device::Cpu)
        .unwrap();
    let pre = x
        .broadcast_sub(&m)
        .unwrap()
        .broadcast_div(&s)
        .unwrap()
        .conv2d(var(&model, "conv1.weight").as_tensor(), 1, 1, 1, 1)
        .unwrap()
        .transpose(0, 1)
        .unwrap()
        .flatten_from(1)
        .unwrap();
    let per_channel = pre.to_vec2::<f64>().unwrap();
    let new_mean = var(&model, "bn1.running_mean")
        .as_tensor()
        .to_vec1::<f64>()
        .unwrap();
    let new_var = var(&model, "bn1.running_var")
        .as_tensor()
        .to_vec1::<f64>()
        .unwrap();
    for (c, v) in per_channel.iter().enumerate() {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let unbiased = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0);
        assert!((new_mean[c] - (0.9 * old_mean[c] + 0.1 * mean)).abs() < 1e-9);
        assert!((new_var[c] - (0.9 * old_var[c] + 0.1 * unbiased)).abs() < 1e-9);
    }
    // The eval path reads the updated statistics.
    assert!(max_abs_diff(&model.logits(&x).unwrap(), &eval_logits) > 1e-9);
    assert!(model
        .forward_train(&pixels([1, 3, 8, 8], 3, DType::F64))
        .is_err());
}

#[test]
fn detached_eval_weights_see_in_place_updates() {
    let model = tiny_resnet(Block::Basic, Stem::Cifar, [8, 8], DType::F64);
    let x = pixels([2, 3, 8, 8], 3, DType::F64);
    let before = model.logits(&x).unwrap();
    let bias = var(&model, "fc.bias");
    bias.set(&(bias.as_tensor() + 1.0).unwrap()).unwrap();
    let shifted = model.logits(&x).unwrap();
    let diff = (shifted.clone() - &before).unwrap();
    assert!(to_vec2(&diff)
        .iter()
        .flatten()
        .all(|d| (d - 1.0).abs() < 1e-12));
    let w = var(&model, "conv1.weight");
    w.set(&(w.as_tensor() * 0.5).unwrap()).unwrap();
    assert!(max_abs_diff(&model.logits(&x).unwrap(), &shifted) > 1e-6);
}

/// The trainer's gradients: train-mode weight gradients against central
/// differences (batch statistics do not depend on the running ones, so
/// repeated train forwards are a function of the weights alone).
#[test]
fn weight_gradients_match_finite_differences() {
    let model = tiny_resnet(Block::Basic, Stem::ImageNet, [35, 29], DType::F64);
    randomize_bn(&model, 7);
    let x = pixels([3, 3, 35, 29], 7, DType::F64);
    let r = pixels([3, model.num_classes()], 8, DType::F64);
    let train_loss = || -> Tensor {
        (model.forward_train(&x).unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let grads = train_loss().backward().unwrap();
    let mut rng = Seed(3).stream("weights");
    for name in [
        "conv1.weight",
        "bn1.weight",
        "layer1.0.conv2.weight",
        "layer2.0.conv1.weight",
        "layer2.0.downsample.0.weight",
        "layer3.0.bn2.bias",
        "fc.weight",
        "fc.bias",
    ] {
        let v = var(&model, name);
        let g = grads
            .get(&v)
            .unwrap_or_else(|| panic!("no gradient of {name}"))
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let base = v
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for i in sample(&mut rng, base.len(), base.len().min(4)) {
            let h = 1e-5;
            let at = |delta: f64| -> f64 {
                let mut w = base.clone();
                w[i] += delta;
                v.set(&Tensor::from_vec(w, v.dims(), &Device::Cpu).unwrap())
                    .unwrap();
                train_loss().to_scalar::<f64>().unwrap()
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            at(0.0);
            assert!(
                (g[i] - fd).abs() <= 1e-3 * fd.abs() + 1e-7,
                "{name}[{i}]: gradient {} vs finite difference {fd}",
                g[i]
            );
        }
    }
}
