//! Each attack against models whose optimal attack is known.

use super::*;
use crate::{
    ApgdCe, ApgdConfig, Attack, AttackLoss, DeepFool, DeepFoolConfig, Fgsm, Norm, Pgd, PgdConfig,
    Target, ThreatModel,
};

const SHAPE: [usize; 3] = [3, 4, 4];

/// For a binary linear model the Linf-optimal perturbation is
/// `eps * sign(w_j - w_y)`: FGSM finds it in one step and PGD must reach
/// it, so an image falls exactly when its Linf margin is below eps.
#[test]
fn fgsm_and_pgd_reach_the_closed_form_linf_optimum_of_a_linear_model() {
    let model = Linear::random(2, SHAPE, 11);
    let x = images(200, SHAPE, 0.4, 0.6, 12);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let eps = 0.01;
    let xs = rows(&x);

    let fgsm = Fgsm::new(eps)
        .unwrap()
        .perturb(&model, &x, &y, &mut rng(0))
        .unwrap();
    for (i, (row, adv)) in xs.iter().zip(rows(&fgsm)).enumerate() {
        let (a, b) = (yv[i] as usize, 1 - yv[i] as usize);
        for (p, (x0, x1)) in row.iter().zip(&adv).enumerate() {
            let expected = x0 + eps * (model.w[b][p] - model.w[a][p]).signum();
            assert!(
                (x1 - expected).abs() < 1e-6,
                "image {i} pixel {p}: {x1} vs {expected}"
            );
        }
    }

    let threat = ThreatModel::linf(eps).unwrap();
    let pgd = Pgd::new(PgdConfig::new(threat, eps / 4.0, 10)).unwrap();
    let adv = pgd.perturb(&model, &x, &y, &mut rng(1)).unwrap();
    let broken: Vec<bool> = preds(&model, &adv)
        .iter()
        .zip(&yv)
        .map(|(p, y)| p != y)
        .collect();
    let (mut below, mut above) = (0, 0);
    for (i, row) in xs.iter().enumerate() {
        let m = model.margin(row, yv[i] as usize, 1, None);
        if m < eps * 0.999 {
            below += 1;
            assert!(
                broken[i],
                "image {i}: Linf margin {m} < eps {eps} but not broken"
            );
        } else if m > eps * 1.001 {
            above += 1;
            assert!(
                !broken[i],
                "image {i}: Linf margin {m} > eps {eps} but broken"
            );
        }
    }
    assert!(
        below >= 20 && above >= 20,
        "{below} below and {above} above: a test with no teeth"
    );
}

/// The L2-optimal perturbation of a binary linear model is
/// `eps (w_j - w_y) / ||w_j - w_y||`; PGD-L2 from the clean image steps
/// straight along it.
#[test]
fn pgd_l2_reaches_the_closed_form_l2_optimum_of_a_linear_model() {
    let model = Linear::random(2, SHAPE, 13);
    let x = images(200, SHAPE, 0.4, 0.6, 14);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let eps = 0.1;
    let pgd = Pgd::new(PgdConfig {
        random_start: false,
        ..PgdConfig::new(ThreatModel::l2(eps).unwrap(), eps / 4.0, 6)
    })
    .unwrap();
    let adv = pgd.perturb(&model, &x, &y, &mut rng(1)).unwrap();
    let p = preds(&model, &adv);
    let dist = ThreatModel::l2(eps).unwrap().distances(&x, &adv).unwrap();
    let (mut below, mut above) = (0, 0);
    for (i, row) in rows(&x).iter().enumerate() {
        let m = model.margin(row, yv[i] as usize, 2, None);
        if m < eps * 0.999 {
            below += 1;
            assert_ne!(p[i], yv[i], "image {i}: L2 margin {m} < eps but not broken");
        } else if m > eps * 1.001 {
            above += 1;
            assert_eq!(p[i], yv[i], "image {i}: L2 margin {m} > eps but broken");
            assert!(
                (dist[i] - eps).abs() < 1e-5,
                "image {i} stops at {} inside the ball",
                dist[i]
            );
        }
    }
    assert!(
        below >= 20 && above >= 20,
        "{below} below and {above} above: a test with no teeth"
    );
}

/// Multi-class: the cross-entropy direction mixes the other classes, so
/// PGD is not exactly optimal near the margin; every image well within
/// reach (margin below 0.7 eps) must fall.
#[test]
fn pgd_breaks_every_multiclass_linear_image_within_its_linf_margin() {
    let model = Linear::random(4, SHAPE, 21);
    let x = images(100, SHAPE, 0.4, 0.6, 22);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let eps = 0.01;
    let pgd = Pgd::new(PgdConfig::new(
        ThreatModel::linf(eps).unwrap(),
        eps / 4.0,
        20,
    ))
    .unwrap();
    let adv = pgd.perturb(&model, &x, &y, &mut rng(2)).unwrap();
    let p = preds(&model, &adv);
    let mut below = 0;
    for (i, row) in rows(&x).iter().enumerate() {
        let m = model.margin(row, yv[i] as usize, 1, None);
        if m < 0.7 * eps {
            below += 1;
            assert_ne!(
                p[i], yv[i],
                "image {i}: Linf margin {m} < 0.7 eps but not broken"
            );
        }
    }
    assert!(below >= 20, "only {below} images within reach");
}

#[test]
fn targeted_pgd_reaches_its_targets() {
    let model = Linear::random(5, SHAPE, 31);
    let x = images(40, SHAPE, 0.4, 0.6, 32);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let threat = ThreatModel::linf(0.1).unwrap();

    let targets: Vec<u32> = yv
        .iter()
        .enumerate()
        .map(|(i, c)| (c + 1 + (i as u32 % 4)) % 5)
        .collect();
    let pgd = Pgd::new(PgdConfig {
        target: Some(Target::Labels(labels(&targets))),
        ..PgdConfig::new(threat, 0.02, 20)
    })
    .unwrap();
    let adv = pgd.perturb(&model, &x, &y, &mut rng(3)).unwrap();
    assert_eq!(preds(&model, &adv), targets);
    assert_eq!(pgd.name(), "pgd-targeted");

    let least: Vec<u32> = model
        .logits(&x)
        .unwrap()
        .argmin(D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap();
    let pgd = Pgd::new(PgdConfig {
        target: Some(Target::LeastLikely),
        ..PgdConfig::new(threat, 0.02, 20)
    })
    .unwrap();
    let adv = pgd.perturb(&model, &x, &y, &mut rng(4)).unwrap();
    assert_eq!(preds(&model, &adv), least);
}

fn ds_of(model: &dyn Classifier, x: &Tensor, adv: &Tensor) -> Vec<f64> {
    let clean = model.logits(x).unwrap();
    sc_loss::ds(&clean, &model.logits(adv).unwrap())
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn the_distance_score_attack_raises_the_distance_score() {
    let model = TwoLayer::random(5, 16, SHAPE, 41);
    let x = images(32, SHAPE, 0.2, 0.8, 42);
    let y = predict(&model, &x);
    let threat = ThreatModel::linf(0.03).unwrap();
    let ds_attack = Pgd::new(PgdConfig {
        loss: AttackLoss::DsToClean,
        ..PgdConfig::new(threat, 0.0075, 10)
    })
    .unwrap();
    let ce_attack = Pgd::new(PgdConfig::new(threat, 0.0075, 10)).unwrap();
    let by_ds = ds_of(
        &model,
        &x,
        &ds_attack.perturb(&model, &x, &y, &mut rng(5)).unwrap(),
    );
    let by_ce = ds_of(
        &model,
        &x,
        &ce_attack.perturb(&model, &x, &y, &mut rng(5)).unwrap(),
    );
    let random = ds_of(&model, &x, &threat.random_point(&x, &mut rng(6)).unwrap());
    for i in 0..by_ds.len() {
        assert!(
            by_ds[i] > 2.0 * random[i],
            "image {i}: DS {} vs {} at a random point",
            by_ds[i],
            random[i]
        );
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&by_ds) > mean(&by_ce),
        "DS attack {} vs CE attack {}",
        mean(&by_ds),
        mean(&by_ce)
    );
}

#[test]
fn apgd_ce_is_at_least_as_strong_as_pgd_on_a_nonlinear_model() {
    let model = TwoLayer::random(5, 16, SHAPE, 51);
    let x = images(64, SHAPE, 0.0, 1.0, 52);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let threat = ThreatModel::linf(0.02).unwrap();
    let robust = |adv: &Tensor| {
        preds(&model, adv)
            .iter()
            .zip(&yv)
            .filter(|(p, y)| p == y)
            .count()
    };
    let pgd = Pgd::paper_cifar().with_eps(0.02).unwrap().unwrap();
    let pgd_robust = robust(&pgd.perturb(&model, &x, &y, &mut rng(7)).unwrap());
    let apgd = ApgdCe::new(ApgdConfig::new(threat)).unwrap();
    let apgd_robust = robust(&apgd.perturb(&model, &x, &y, &mut rng(7)).unwrap());
    assert!(
        pgd_robust > 5 && pgd_robust < 59,
        "PGD leaves {pgd_robust} of 64: eps is not discriminative"
    );
    assert!(
        apgd_robust <= pgd_robust,
        "APGD-CE leaves {apgd_robust} robust, PGD {pgd_robust}"
    );
}

#[test]
fn deepfool_finds_the_closed_form_margin_of_a_linear_model_in_one_step() {
    let model = Linear::random(4, SHAPE, 61);
    let x = images(30, SHAPE, 0.45, 0.55, 62);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    for (norm, q) in [(Norm::L2, 2), (Norm::Linf, 1)] {
        let df = DeepFool::new(DeepFoolConfig {
            steps: 1,
            ..DeepFoolConfig::new(norm)
        })
        .unwrap();
        let m = df.margins(&model, &x, &y).unwrap();
        for (i, row) in rows(&x).iter().enumerate() {
            let d = model.margin(row, yv[i] as usize, q, None);
            let expected = 1.02 * (d + 1e-4);
            assert!(m.flipped[i], "{norm}: image {i} not broken in one step");
            let margin = f64::from(m.margins[i].unwrap());
            assert!(
                (margin - expected).abs() <= 1e-3 * expected + 1e-6,
                "{norm}: image {i}: margin {margin} vs closed form {expected}"
            );
        }
        let adv = df.perturb(&model, &x, &y, &mut rng(0)).unwrap();
        assert_eq!(rows(&adv), rows(&m.adv));
    }
}

#[test]
fn deepfool_breaks_a_nonlinear_model_and_leaves_misclassified_images_alone() {
    let model = TwoLayer::random(5, 16, SHAPE, 71);
    let x = images(20, SHAPE, 0.3, 0.7, 72);
    let mut yv = preds(&model, &x);
    yv[0] = (yv[0] + 1) % 5;
    let y = labels(&yv);
    let m = DeepFool::new(DeepFoolConfig {
        candidates: Some(3),
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap()
    .margins(&model, &x, &y)
    .unwrap();
    assert!(m.flipped.iter().all(|&s| s), "{:?}", m.flipped);
    assert_eq!(m.margins[0], Some(0.0));
    assert!(m.margins[1..].iter().all(|v| v.unwrap() > 0.0));
    assert_eq!(rows(&m.adv)[0], rows(&x)[0]);
}

/// Gram-Schmidt on Gaussian vectors: `k` orthonormal rows of length `d`.
fn orthonormal_basis(k: usize, d: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut r = rng(seed);
    let mut basis: Vec<Vec<f64>> = Vec::new();
    while basis.len() < k {
        let mut v: Vec<f64> = (0..d).map(|_| super::normal(&mut r)).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
        }
        let len = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        basis.push(v.iter().map(|a| a / len).collect());
    }
    basis
}

fn project(basis: &[Vec<f64>], v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for b in basis {
        let c: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
        out.iter_mut().zip(b).for_each(|(o, b)| *o += c * b);
    }
    out
}

#[test]
fn subspace_deepfool_stays_in_the_subspace_and_finds_the_subspace_margin() {
    let d: usize = SHAPE.iter().product();
    let basis = orthonormal_basis(6, d, 81);
    let flat: Vec<f32> = basis.iter().flatten().map(|v| *v as f32).collect();
    let b = Tensor::from_vec(flat, (6, d), &Device::Cpu).unwrap();
    let config = DeepFoolConfig {
        subspace: Some(b),
        ..DeepFoolConfig::new(Norm::L2)
    };
    let df = DeepFool::new(config).unwrap();
    assert_eq!(df.name(), "deepfool-subspace");

    let x = images(16, SHAPE, 0.47, 0.53, 82);
    let check_in_subspace = |m: &crate::Margins| {
        for (i, (a, c)) in rows(&m.adv).iter().zip(rows(&x)).enumerate() {
            let delta: Vec<f64> = a.iter().zip(&c).map(|(a, c)| a - c).collect();
            let p = project(&basis, &delta);
            let off: f64 = delta
                .iter()
                .zip(&p)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            let len: f64 = delta.iter().map(|a| a * a).sum::<f64>().sqrt();
            assert!(
                off <= 1e-3 * len + 1e-6,
                "image {i}: {off} of {len} outside the subspace"
            );
        }
    };

    let nonlinear = TwoLayer::random(3, 16, SHAPE, 83);
    let y = predict(&nonlinear, &x);
    let m = df.margins(&nonlinear, &x, &y).unwrap();
    assert!(
        m.flipped.iter().filter(|&&s| s).count() >= 12,
        "{:?}",
        m.flipped
    );
    check_in_subspace(&m);

    // On a linear model the subspace margin is |f_y - f_j| / ||P (w_y - w_j)||.
    let linear = Linear::random(3, SHAPE, 84);
    let y = predict(&linear, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let m = df.margins(&linear, &x, &y).unwrap();
    check_in_subspace(&m);
    let proj = |v: &[f64]| project(&basis, v);
    for (i, row) in rows(&x).iter().enumerate() {
        let dp = linear.margin(row, yv[i] as usize, 2, Some(&proj));
        let full = linear.margin(row, yv[i] as usize, 2, None);
        assert!(dp >= full, "a subspace cannot bring the boundary closer");
        // Unclipped, the linearisation is exact: one step crosses.
        assert!(m.flipped[i], "image {i} not flipped");
        let expected = 1.02 * (dp + 1e-4);
        let margin = f64::from(m.margins[i].unwrap());
        assert!(
            (margin - expected).abs() <= 2e-3 * expected,
            "image {i}: {margin} vs subspace margin {expected}"
        );
    }
}

#[test]
fn subspace_deepfool_does_not_clip_so_it_stays_exactly_in_the_span() {
    // Images in a corner of the cube: almost every subspace direction
    // leaves [0, 1], so a clip would bind and move the result off the span.
    let d: usize = SHAPE.iter().product();
    let basis = orthonormal_basis(4, d, 85);
    let flat: Vec<f64> = basis.iter().flatten().copied().collect();
    let b = Tensor::from_vec(flat, (4, d), &Device::Cpu).unwrap();
    let df = DeepFool::new(DeepFoolConfig {
        subspace: Some(b),
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap();
    let model = Linear::random(3, SHAPE, 86);
    let x = images(12, SHAPE, 0.0, 0.02, 87)
        .to_dtype(DType::F64)
        .unwrap();
    let y = predict(&model, &x);
    let m = df.margins(&model, &x, &y).unwrap();
    let mut outside_box = 0;
    for (i, (a, c)) in rows(&m.adv).iter().zip(rows(&x)).enumerate() {
        let delta: Vec<f64> = a.iter().zip(&c).map(|(a, c)| a - c).collect();
        let p = project(&basis, &delta);
        let off = delta
            .iter()
            .zip(&p)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        // f64 arithmetic: in the span up to rounding.
        assert!(off <= 1e-12, "image {i}: {off} off the span");
        outside_box += usize::from(a.iter().any(|v| !(0.0..=1.0).contains(v)));
    }
    assert!(
        outside_box > 0,
        "no clip would have bound: a test with no teeth"
    );
    assert!(m.flipped.iter().all(|&f| f), "{:?}", m.flipped);
}

#[test]
fn deepfool_reports_a_run_out_of_budget_as_censored_not_as_a_margin() {
    let model = TwoLayer::random(5, 16, SHAPE, 88);
    let x = images(40, SHAPE, 0.0, 1.0, 89);
    let y = predict(&model, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let one_step = DeepFool::new(DeepFoolConfig {
        steps: 1,
        overshoot: 0.0,
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap();
    let m = one_step.margins(&model, &x, &y).unwrap();
    let pred = preds(&model, &m.adv);
    let mut censored = 0;
    for i in 0..40 {
        // Independent check of the flag: the model's decision at the result.
        assert_eq!(m.flipped[i], pred[i] != yv[i], "image {i}");
        assert_eq!(m.margins[i].is_some(), m.flipped[i], "image {i}");
        censored += usize::from(m.margins[i].is_none());
    }
    assert!(
        censored > 0 && censored < 40,
        "{censored} of 40 censored after one step: the model is not nonlinear enough"
    );
    // With a full budget the censored ones flip, and get a margin.
    let full = DeepFool::new(DeepFoolConfig::new(Norm::L2)).unwrap();
    let m50 = full.margins(&model, &x, &y).unwrap();
    assert!(m50.flipped.iter().all(|&f| f), "{:?}", m50.flipped);
    assert!(m50.margins.iter().all(Option::is_some));
}

/// The batch shrinks to the images still standing as they flip; each
/// image's result must not depend on the others in its batch: the margins
/// of a batch equal those of the images run one at a time (as the
/// reference implementation runs them), up to f32 rounding.
#[test]
fn deepfool_on_a_batch_equals_deepfool_image_by_image_and_in_one_pass() {
    let model = TwoLayer::random(5, 16, SHAPE, 88);
    let x = images(12, SHAPE, 0.0, 1.0, 89);
    let y = predict(&model, &x);
    let d: usize = SHAPE.iter().product();
    let basis = orthonormal_basis(8, d, 93);
    let flat: Vec<f32> = basis.iter().flatten().map(|v| *v as f32).collect();
    for subspace in [
        None,
        Some(Tensor::from_vec(flat, (8, d), &Device::Cpu).unwrap()),
    ] {
        let config = DeepFoolConfig {
            overshoot: 0.0,
            candidates: Some(3),
            subspace,
            ..DeepFoolConfig::new(Norm::L2)
        };
        let one_step = DeepFool::new(DeepFoolConfig {
            steps: 1,
            ..config.clone()
        })
        .unwrap()
        .margins(&model, &x, &y)
        .unwrap();
        let early = one_step.flipped.iter().filter(|&&f| f).count();
        assert!(
            early > 0 && early < 12,
            "{early} of 12 flipped after one step: the batch would never shrink"
        );
        let df = DeepFool::new(config.clone()).unwrap();
        let batch = df.margins(&model, &x, &y).unwrap();
        // The one-pass Jacobian (batch repeated per candidate) is the same
        // computation arranged differently.
        let one_pass = DeepFool::new(DeepFoolConfig {
            one_pass: true,
            ..config
        })
        .unwrap()
        .margins(&model, &x, &y)
        .unwrap();
        assert_eq!(one_pass.flipped, batch.flipped);
        for (a, b) in one_pass.margins.iter().zip(&batch.margins) {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-4 * a.max(1e-3), "{a} vs {b}"),
                (None, None) => {}
                other => panic!("{other:?}"),
            }
        }
        for i in 0..12 {
            let xi = x.narrow(0, i, 1).unwrap();
            let yi = y.narrow(0, i, 1).unwrap();
            let one = df.margins(&model, &xi, &yi).unwrap();
            assert_eq!(one.flipped[0], batch.flipped[i], "image {i}");
            match (one.margins[0], batch.margins[i]) {
                (Some(a), Some(b)) => {
                    assert!((a - b).abs() <= 1e-4 * a.max(1e-3), "image {i}: {a} vs {b}")
                }
                (None, None) => {}
                other => panic!("image {i}: {other:?}"),
            }
            let diff: f32 = (one.adv - batch.adv.narrow(0, i, 1).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(diff <= 1e-4, "image {i}: perturbed images differ by {diff}");
        }
    }
}
