//! Properties every attack must have on any input: the result stays in its
//! ball and in [0, 1]; more restarts never help the defender.

use super::*;
use crate::{
    ApgdCe, ApgdConfig, Attack, AttackLoss, DeepFool, DeepFoolConfig, Fgsm, Norm, Pgd, PgdConfig,
    Target, ThreatModel,
};
use proptest::prelude::*;
use rand::Rng;

const SHAPE: [usize; 3] = [1, 4, 4];

/// Images with some pixels exactly at 0 and 1, where clipping binds.
fn edge_images(n: usize, seed: u64) -> Tensor {
    let mut r = rng(seed);
    let d: usize = SHAPE.iter().product();
    let v: Vec<f32> = (0..n * d)
        .map(|_| match r.random_range(0..6) {
            0 => 0.0,
            1 => 1.0,
            _ => r.random::<f32>(),
        })
        .collect();
    Tensor::from_vec(v, (n, SHAPE[0], SHAPE[1], SHAPE[2]), &Device::Cpu).unwrap()
}

fn assert_in_ball(x: &Tensor, adv: &Tensor, threat: Option<ThreatModel>, what: &str) {
    assert_eq!(adv.dims(), x.dims(), "{what}");
    let a = rows(adv);
    assert!(
        a.iter().flatten().all(|v| (0.0..=1.0).contains(v)),
        "{what}: pixels outside [0, 1]"
    );
    if let Some(t) = threat {
        for (i, d) in t.distances(x, adv).unwrap().iter().enumerate() {
            assert!(
                *d <= t.eps() + 1e-6,
                "{what}: sample {i} at distance {d} > eps {}",
                t.eps()
            );
        }
    }
}

fn success(model: &dyn Classifier, adv: &Tensor, y: &[u32]) -> Vec<bool> {
    preds(model, adv)
        .iter()
        .zip(y)
        .map(|(p, y)| p != y)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_attack_stays_in_its_ball_and_in_the_pixel_box(
        seed in any::<u64>(),
        linf in any::<bool>(),
        eps_frac in 0.0f64..1.0,
        steps in 1usize..5,
        restarts in 1usize..3,
        random_start in any::<bool>(),
    ) {
        let model = TwoLayer::random(3, 6, SHAPE, seed);
        let x = edge_images(5, seed ^ 1);
        let y = labels(&(0..5).map(|i| (i % 3) as u32).collect::<Vec<_>>());
        let (norm, eps) = if linf { (Norm::Linf, 0.5 * eps_frac) } else { (Norm::L2, 3.0 * eps_frac) };
        let threat = ThreatModel::new(norm, eps).unwrap();
        let mut attacks: Vec<Box<dyn Attack>> = Vec::new();
        for (loss, target) in [
            (AttackLoss::Ce, None),
            (AttackLoss::DsToClean, None),
            (AttackLoss::Ce, Some(Target::LeastLikely)),
        ] {
            attacks.push(Box::new(Pgd::new(PgdConfig {
                random_start,
                restarts,
                loss,
                target,
                ..PgdConfig::new(threat, eps.max(1e-3) / 3.0, steps)
            }).unwrap()));
        }
        attacks.push(Box::new(ApgdCe::new(ApgdConfig { steps: steps * 3, restarts, ..ApgdConfig::new(threat) }).unwrap()));
        attacks.push(Box::new(DeepFool::new(DeepFoolConfig { steps, ..DeepFoolConfig::new(norm) }).unwrap()));
        if linf {
            attacks.push(Box::new(Fgsm::new(eps).unwrap()));
        }
        let mut r = rng(seed);
        for a in &attacks {
            let adv = a.perturb(&model, &x, &y, &mut r).unwrap();
            assert_in_ball(&x, &adv, a.threat(), a.name());
        }
    }

    #[test]
    fn more_restarts_never_raise_adversarial_accuracy_on_the_same_seed(
        seed in any::<u64>(),
        linf in any::<bool>(),
        eps_frac in 0.05f64..1.0,
        steps in 1usize..4,
        k in 2usize..4,
    ) {
        let model = TwoLayer::random(3, 6, SHAPE, seed);
        let x = edge_images(8, seed ^ 2);
        let y = predict(&model, &x);
        let yv: Vec<u32> = y.to_vec1().unwrap();
        let (norm, eps) = if linf { (Norm::Linf, 0.1 * eps_frac) } else { (Norm::L2, 0.6 * eps_frac) };
        let threat = ThreatModel::new(norm, eps).unwrap();
        let pgd = |restarts, loss| Pgd::new(PgdConfig { restarts, loss, ..PgdConfig::new(threat, eps / 2.0, steps) }).unwrap();
        let apgd = |restarts| ApgdCe::new(ApgdConfig { restarts, steps: steps * 4, ..ApgdConfig::new(threat) }).unwrap();

        let one = pgd(1, AttackLoss::Ce).perturb(&model, &x, &y, &mut rng(seed)).unwrap();
        let many = pgd(k, AttackLoss::Ce).perturb(&model, &x, &y, &mut rng(seed)).unwrap();
        let (s1, sk) = (success(&model, &one, &yv), success(&model, &many, &yv));
        for i in 0..yv.len() {
            prop_assert!(!s1[i] || sk[i], "pgd: sample {} broken with 1 restart, not with {}", i, k);
        }

        let one = apgd(1).perturb(&model, &x, &y, &mut rng(seed)).unwrap();
        let many = apgd(k).perturb(&model, &x, &y, &mut rng(seed)).unwrap();
        let (s1, sk) = (success(&model, &one, &yv), success(&model, &many, &yv));
        for i in 0..yv.len() {
            prop_assert!(!s1[i] || sk[i], "apgd: sample {} broken with 1 restart, not with {}", i, k);
        }

        // The distance-score attack ranks by the score alone: it never falls.
        let clean = model.logits(&x).unwrap();
        let ds = |adv: &Tensor| -> Vec<f64> {
            sc_loss::ds(&clean, &model.logits(adv).unwrap()).unwrap().to_dtype(DType::F64).unwrap().to_vec1().unwrap()
        };
        let one = ds(&pgd(1, AttackLoss::DsToClean).perturb(&model, &x, &y, &mut rng(seed)).unwrap());
        let many = ds(&pgd(k, AttackLoss::DsToClean).perturb(&model, &x, &y, &mut rng(seed)).unwrap());
        for i in 0..yv.len() {
            prop_assert!(many[i] >= one[i], "pgd-ds: sample {} DS {} with {} restarts < {} with 1", i, many[i], k, one[i]);
        }
    }
}

#[test]
fn restart_zero_of_a_k_restart_run_is_the_one_restart_run() {
    // With a model that no attack can fool, each run returns its best
    // iterate by loss; a k-restart run can only add better ones, and with
    // restarts = 1 the caller's generator advances the same way.
    let model = TwoLayer::random(3, 6, SHAPE, 9);
    let x = edge_images(4, 10);
    let y = predict(&model, &x);
    let threat = ThreatModel::linf(0.0).unwrap();
    let pgd = |restarts| {
        Pgd::new(PgdConfig {
            restarts,
            ..PgdConfig::new(threat, 0.1, 2)
        })
        .unwrap()
    };
    let mut r1 = rng(5);
    let mut r3 = rng(5);
    let a = pgd(1).perturb(&model, &x, &y, &mut r1).unwrap();
    let b = pgd(3).perturb(&model, &x, &y, &mut r3).unwrap();
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(
        rows(&a),
        rows(&x),
        "eps = 0 must return the clean images exactly"
    );
    assert_eq!(
        r1.random::<u64>(),
        r3.random::<u64>(),
        "the caller's stream advances alike"
    );
}
