//! Bad parameters and bad inputs are clear errors, not panics or wrong numbers.

use super::*;
use crate::robustness::{evaluate_with, EvalOptions, SanityOptions};
use crate::{
    ApgdCe, ApgdConfig, Attack, AttackLoss, DeepFool, DeepFoolConfig, Error, Fgsm, Norm, Pgd,
    PgdConfig, Target, ThreatModel,
};
use sc_core::Seed;

fn param_name(e: Error) -> &'static str {
    match e {
        Error::InvalidParameter { name, .. } => name,
        other => panic!("expected an invalid parameter, got {other}"),
    }
}

fn input_what(e: Error) -> (&'static str, String) {
    match e {
        Error::InvalidInput { what, problem } => (what, problem),
        other => panic!("expected an invalid input, got {other}"),
    }
}

#[test]
fn invalid_parameters_are_rejected_at_construction() {
    for eps in [-0.1, f64::NAN, f64::INFINITY] {
        assert_eq!(param_name(ThreatModel::linf(eps).unwrap_err()), "eps");
        assert_eq!(param_name(Fgsm::new(eps).unwrap_err()), "eps");
    }
    let t = ThreatModel::l2(0.5).unwrap();
    assert_eq!(
        param_name(Pgd::new(PgdConfig::new(t, 0.1, 0)).unwrap_err()),
        "steps"
    );
    for step in [0.0, -1.0, f64::NAN] {
        assert_eq!(
            param_name(Pgd::new(PgdConfig::new(t, step, 10)).unwrap_err()),
            "step_size"
        );
    }
    let e = Pgd::new(PgdConfig {
        restarts: 0,
        ..PgdConfig::new(t, 0.1, 10)
    })
    .unwrap_err();
    assert_eq!(param_name(e), "restarts");
    let e = Pgd::new(PgdConfig {
        loss: AttackLoss::DsToClean,
        target: Some(Target::LeastLikely),
        ..PgdConfig::new(t, 0.1, 10)
    })
    .unwrap_err();
    assert_eq!(param_name(e), "loss");
    let e = ApgdCe::new(ApgdConfig {
        steps: 0,
        ..ApgdConfig::new(t)
    })
    .unwrap_err();
    assert_eq!(param_name(e), "steps");
    let e = DeepFool::new(DeepFoolConfig {
        candidates: Some(1),
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap_err();
    assert_eq!(param_name(e), "candidates");
    let e = DeepFool::new(DeepFoolConfig {
        overshoot: -0.1,
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap_err();
    assert_eq!(param_name(e), "overshoot");
    let basis = Tensor::eye(4, DType::F32, &Device::Cpu).unwrap();
    let e = DeepFool::new(DeepFoolConfig {
        subspace: Some(basis),
        ..DeepFoolConfig::new(Norm::Linf)
    })
    .unwrap_err();
    assert_eq!(param_name(e), "norm");
    let skewed = Tensor::new(&[[1f32, 0.0, 0.0], [1.0, 1.0, 0.0]], &Device::Cpu).unwrap();
    let e = DeepFool::new(DeepFoolConfig {
        subspace: Some(skewed),
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap_err();
    assert!(input_what(e).1.contains("orthonormal"));
    assert!("l3".parse::<Norm>().is_err());
    assert_eq!("Linf".parse::<Norm>().unwrap(), Norm::Linf);
}

#[test]
fn invalid_inputs_name_the_argument() {
    let shape = [1, 2, 2];
    let model = Linear::random(3, shape, 1);
    let x = images(4, shape, 0.2, 0.8, 2);
    let y = predict(&model, &x);
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(Fgsm::new(0.1).unwrap()),
        Box::new(Pgd::paper_cifar()),
        Box::new(ApgdCe::new(ApgdConfig::new(ThreatModel::linf(0.1).unwrap())).unwrap()),
        Box::new(DeepFool::new(DeepFoolConfig::new(Norm::L2)).unwrap()),
    ];
    for a in &attacks {
        let mut r = rng(0);
        let run = |x: &Tensor, y: &Tensor, r: &mut dyn rand::RngCore| {
            a.perturb(&model, x, y, r).unwrap_err()
        };

        let (what, problem) = input_what(run(&x, &y.narrow(0, 0, 3).unwrap(), &mut r));
        assert_eq!(what, "labels", "{}: {problem}", a.name());
        assert!(problem.contains("[4]"), "{problem}");

        let outside = (&x + 0.5).unwrap();
        let (what, problem) = input_what(run(&outside, &y, &mut r));
        assert_eq!(what, "images");
        assert!(problem.contains("[0, 1]"), "{problem}");
        let negative = (&x - 0.9).unwrap();
        assert_eq!(input_what(run(&negative, &y, &mut r)).0, "images");

        let nan = x.affine(0.0, f64::NAN).unwrap();
        assert_eq!(input_what(run(&nan, &y, &mut r)).0, "images");

        let (what, _) = input_what(run(&x.squeeze(1).unwrap(), &y, &mut r));
        assert_eq!(what, "images");
        let wide = images(4, [1, 2, 3], 0.2, 0.8, 3);
        let (what, problem) = input_what(run(&wide, &y, &mut r));
        assert_eq!(what, "images");
        assert!(problem.contains("linear"), "{problem}");

        let too_big = labels(&[0, 1, 2, 3]);
        let (what, problem) = input_what(run(&x, &too_big, &mut r));
        assert_eq!(what, "labels");
        assert!(problem.contains("class 3"), "{problem}");
        let as_i64 = y.to_dtype(DType::I64).unwrap();
        assert_eq!(input_what(run(&x, &as_i64, &mut r)).0, "labels");
    }

    let pgd = Pgd::new(PgdConfig {
        target: Some(Target::Labels(labels(&[0, 1]))),
        ..PgdConfig::new(ThreatModel::linf(0.1).unwrap(), 0.05, 2)
    })
    .unwrap();
    let (what, _) = input_what(pgd.perturb(&model, &x, &y, &mut rng(0)).unwrap_err());
    assert_eq!(what, "target labels");

    let wrong_basis = Tensor::eye(3, DType::F32, &Device::Cpu).unwrap();
    let df = DeepFool::new(DeepFoolConfig {
        subspace: Some(wrong_basis),
        ..DeepFoolConfig::new(Norm::L2)
    })
    .unwrap();
    assert_eq!(
        input_what(df.margins(&model, &x, &y).unwrap_err()).0,
        "subspace"
    );

    let pgd = Pgd::paper_cifar();
    let zero_batch = EvalOptions {
        batch_size: 0,
        ..EvalOptions::default()
    };
    assert_eq!(
        param_name(evaluate_with(&model, &x, &y, &pgd, Seed(0), &zero_batch).unwrap_err()),
        "batch_size"
    );
    let bad_grid = EvalOptions {
        sanity: SanityOptions {
            grid: vec![0.5, -1.0],
            ..SanityOptions::default()
        },
        ..EvalOptions::default()
    };
    assert_eq!(
        param_name(evaluate_with(&model, &x, &y, &pgd, Seed(0), &bad_grid).unwrap_err()),
        "grid"
    );
    let empty_x = x.narrow(0, 0, 0).unwrap();
    let empty_y = y.narrow(0, 0, 0).unwrap();
    assert_eq!(
        input_what(
            crate::robustness::evaluate(&model, &empty_x, &empty_y, &pgd, Seed(0)).unwrap_err()
        )
        .0,
        "images"
    );
    // An empty batch is not an error for a single attack call.
    assert_eq!(
        pgd.perturb(&model, &empty_x, &empty_y, &mut rng(0))
            .unwrap()
            .dims(),
        [0, 1, 2, 2]
    );
}
