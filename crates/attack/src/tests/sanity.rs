//! The sanity checks of Carlini et al. 2019 pass on an honest model and
//! flag a gradient-masked one.

use super::*;
use crate::robustness::{evaluate, evaluate_with, EvalOptions, SanityOptions};
use crate::{
    ApgdCe, ApgdConfig, Attack, DeepFool, DeepFoolConfig, Fgsm, Norm, Pgd, PgdConfig, ThreatModel,
};
use sc_core::Seed;
use std::sync::Mutex;

const SHAPE: [usize; 3] = [3, 4, 4];

fn summary(r: &crate::RobustnessReport) -> String {
    r.sanity
        .iter()
        .map(|c| format!("{}: {} ({}) {:?}", c.name, c.passed, c.detail, c.values))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_check_passes_on_a_linear_model() {
    let model = Linear::random(3, SHAPE, 91);
    let x = images(60, SHAPE, 0.4, 0.6, 92);
    let y = predict(&model, &x);
    let options = EvalOptions {
        batch_size: 16,
        ..EvalOptions::default()
    };
    let attacks: Vec<Box<dyn Attack>> = vec![
        Pgd::paper_cifar().with_eps(0.01).unwrap().unwrap(),
        Box::new(Pgd::new(PgdConfig::new(ThreatModel::l2(0.05).unwrap(), 0.0125, 10)).unwrap()),
        Box::new(Fgsm::new(0.01).unwrap()),
        Box::new(
            ApgdCe::new(ApgdConfig {
                steps: 20,
                ..ApgdConfig::new(ThreatModel::linf(0.01).unwrap())
            })
            .unwrap(),
        ),
    ];
    for attack in &attacks {
        let r = evaluate_with(&model, &x, &y, attack.as_ref(), Seed(3), &options).unwrap();
        assert_eq!(r.clean_accuracy, 1.0);
        assert!(
            r.robust_accuracy > 0.1 && r.robust_accuracy < 0.9,
            "{}: {}",
            attack.name(),
            r.robust_accuracy
        );
        let names: Vec<&str> = r.sanity.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "threat-model",
                "eps-zero",
                "monotone-in-eps",
                "large-eps",
                "no-weaker-than-fgsm",
                "apgd-no-weaker"
            ]
        );
        assert!(r.sanity_passed(), "{}:\n{}", attack.name(), summary(&r));
        assert_eq!(r.attack, attack.name());
        assert_eq!(r.sanity_samples, 60);
        assert_eq!(r.params.len(), attack.params().len());
    }
}

#[test]
fn the_large_eps_check_flags_a_gradient_masked_model() {
    let honest = Linear::random(3, SHAPE, 93);
    let masked = Masked(honest.clone());
    let x = images(60, SHAPE, 0.4, 0.6, 94);
    let y = predict(&honest, &x);
    let pgd = Pgd::paper_cifar().with_eps(0.01).unwrap().unwrap();
    let r = evaluate(&masked, &x, &y, pgd.as_ref(), Seed(4)).unwrap();
    assert!(
        r.clean_accuracy >= 0.9,
        "the masked model is accurate on clean data: {}",
        r.clean_accuracy
    );
    let large = r.check("large-eps").unwrap();
    assert!(
        !large.passed,
        "gradient masking went unnoticed:\n{}",
        summary(&r)
    );
    assert!(large.detail.contains("gradient masking"));
    assert!(!r.sanity_passed());
    // PGD looks strong against the masked model only because it is blind:
    // the same attack breaks the honest twin.
    let honest_r = evaluate(&honest, &x, &y, pgd.as_ref(), Seed(4)).unwrap();
    assert!(honest_r.robust_accuracy < r.robust_accuracy);
    assert!(honest_r.sanity_passed(), "{}", summary(&honest_r));
}

#[test]
fn a_weak_attack_is_flagged() {
    // One tiny step: the attack cannot use a larger budget, is weaker than
    // FGSM and far weaker than APGD-CE.
    let model = Linear::random(3, SHAPE, 95);
    let x = images(60, SHAPE, 0.4, 0.6, 96);
    let y = predict(&model, &x);
    let threat = ThreatModel::linf(0.01).unwrap();
    let weak = Pgd::new(PgdConfig {
        random_start: false,
        ..PgdConfig::new(threat, 0.0005, 1)
    })
    .unwrap();
    let r = evaluate(&model, &x, &y, &weak, Seed(5)).unwrap();
    assert!(
        !r.check("no-weaker-than-fgsm").unwrap().passed,
        "{}",
        summary(&r)
    );
    let apgd = r.check("apgd-no-weaker").unwrap();
    assert!(!apgd.passed, "{}", summary(&r));
    assert!(apgd.detail.contains("overstates"), "{}", summary(&r));
    assert_eq!(r.failed_checks(), ["no-weaker-than-fgsm", "apgd-no-weaker"]);
    assert!(r.check("eps-zero").unwrap().passed);
}

#[test]
fn evaluation_is_reproducible_and_configurable() {
    let model = TwoLayer::random(4, 12, SHAPE, 97);
    let x = images(30, SHAPE, 0.0, 1.0, 98);
    let y = predict(&model, &x);
    let pgd = Pgd::paper_cifar();
    let options = EvalOptions {
        batch_size: 7,
        sanity: SanityOptions {
            max_samples: Some(10),
            apgd_steps: 10,
            ..SanityOptions::default()
        },
    };
    // Wall times are the one part of a report that is not a function of the inputs.
    let untimed = |mut r: crate::RobustnessReport| {
        r.stages.iter_mut().for_each(|s| s.seconds = 0.0);
        r
    };
    let a = untimed(evaluate_with(&model, &x, &y, &pgd, Seed(6), &options).unwrap());
    let b = untimed(evaluate_with(&model, &x, &y, &pgd, Seed(6), &options).unwrap());
    assert_eq!(a, b);
    assert!(a.upper_bound);
    assert_eq!(a.stages.len(), 1);
    assert_eq!(a.sanity_samples, 10);
    assert_eq!(a.n, 30);
    let none = EvalOptions {
        batch_size: 30,
        sanity: SanityOptions::none(),
    };
    let c = evaluate_with(&model, &x, &y, &pgd, Seed(6), &none).unwrap();
    assert!(c.sanity.is_empty());
    assert_eq!(c.clean_correct, a.clean_correct);
    assert_eq!(
        c.robust, a.robust,
        "the sanity checks do not change the main run"
    );

    // DeepFool has no radius: only the threat-model (pixel range) check applies.
    let df = DeepFool::new(DeepFoolConfig::new(Norm::L2)).unwrap();
    let d = evaluate_with(&model, &x, &y, &df, Seed(6), &options).unwrap();
    assert_eq!(d.sanity.len(), 1);
    assert!(d.sanity_passed());
    assert_eq!(d.robust_accuracy, 0.0);
}

/// FGSM whose strength falls as its radius grows: `min(e, E - e)` at radius
/// `e`, a stand-in for an attack that mis-scales its schedule.
#[derive(Debug)]
struct Inverted {
    eps: f64,
    full: f64,
}

impl Attack for Inverted {
    fn name(&self) -> &'static str {
        "inverted"
    }
    fn params(&self) -> Vec<(&'static str, f64)> {
        vec![("eps", self.eps)]
    }
    fn threat(&self) -> Option<ThreatModel> {
        Some(ThreatModel::linf(self.eps).unwrap())
    }
    fn perturb(
        &self,
        model: &dyn sc_core::Classifier,
        x: &Tensor,
        y: &Tensor,
        rng: &mut dyn rand::RngCore,
    ) -> crate::Result<Tensor> {
        Fgsm::new(self.eps.min(self.full - self.eps).max(0.0))?.perturb(model, x, y, rng)
    }
    fn with_eps(&self, eps: f64) -> crate::Result<Option<Box<dyn Attack>>> {
        Ok(Some(Box::new(Inverted {
            eps,
            full: self.full,
        })))
    }
}

#[test]
fn an_attack_that_weakens_with_eps_is_flagged() {
    let model = Linear::random(3, SHAPE, 99);
    let x = images(60, SHAPE, 0.4, 0.6, 100);
    let y = predict(&model, &x);
    let attack = Inverted {
        eps: 0.01,
        full: 0.01,
    };
    let r = evaluate(&model, &x, &y, &attack, Seed(7)).unwrap();
    let check = r.check("monotone-in-eps").unwrap();
    assert!(!check.passed, "{}", summary(&r));
    assert!(check.detail.contains("rises"));
}

/// A model with randomness inside `logits` (like dropout left on).
struct Noisy {
    inner: Linear,
    rng: Mutex<rand_chacha::ChaCha8Rng>,
}

impl sc_core::Classifier for Noisy {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        use rand::Rng;
        let l = self.inner.logits(x)?;
        let noise: Vec<f32> = {
            let mut r = self.rng.lock().unwrap();
            (0..l.elem_count())
                .map(|_| r.random_range(-10.0..10.0))
                .collect()
        };
        let noise = Tensor::from_vec(noise, l.dims(), l.device())?.to_dtype(l.dtype())?;
        l + noise
    }
    fn num_classes(&self) -> usize {
        3
    }
    fn input_shape(&self) -> [usize; 3] {
        SHAPE
    }
    fn name(&self) -> &str {
        "noisy"
    }
}

#[test]
fn the_eps_zero_check_flags_a_nondeterministic_model() {
    let inner = Linear::random(3, SHAPE, 101);
    let x = images(60, SHAPE, 0.4, 0.6, 102);
    let y = predict(&inner, &x);
    let model = Noisy {
        inner,
        rng: Mutex::new(rng(0)),
    };
    let r = evaluate(&model, &x, &y, &Pgd::paper_cifar(), Seed(8)).unwrap();
    let check = r.check("eps-zero").unwrap();
    assert!(!check.passed, "{}", summary(&r));
    assert!(check.detail.contains("deterministic"));
}
