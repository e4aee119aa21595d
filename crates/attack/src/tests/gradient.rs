//! The input gradient every attack steps along matches central finite
//! differences of the same objective.

use super::*;
use crate::objective::Objective;

fn check_gradient(objective: &Objective, model: &TwoLayer, x: &Tensor) {
    let s = objective.score_with_grad(model, x).unwrap();
    let grad = rows(s.grad.as_ref().unwrap());
    let base = rows(x);
    let (n, d) = (base.len(), base[0].len());
    let h = 1e-5;
    let total = |v: &[Vec<f64>]| -> f64 {
        let flat: Vec<f64> = v.iter().flatten().copied().collect();
        let t = Tensor::from_vec(flat, x.dims(), &Device::Cpu).unwrap();
        objective.score(model, &t).unwrap().value.iter().sum()
    };
    let mut num = 0.0;
    let mut den = 0.0;
    for i in 0..n {
        for j in 0..d {
            let mut plus = base.clone();
            plus[i][j] += h;
            let mut minus = base.clone();
            minus[i][j] -= h;
            let fd = (total(&plus) - total(&minus)) / (2.0 * h);
            let g = grad[i][j];
            assert!(
                (g - fd).abs() <= 1e-3 * fd.abs().max(1e-2),
                "sample {i} pixel {j}: autograd {g} vs finite difference {fd}"
            );
            num += (g - fd).powi(2);
            den += fd.powi(2);
        }
    }
    assert!(den > 0.0, "the objective must depend on the input");
    assert!(
        num.sqrt() <= 1e-3 * den.sqrt(),
        "relative error {}",
        (num / den).sqrt()
    );
}

#[test]
fn attack_gradients_match_central_finite_differences_in_f64() {
    let shape = [2, 3, 3];
    let model = TwoLayer::random(4, 8, shape, 3);
    let x = images(3, shape, 0.1, 0.9, 4).to_dtype(DType::F64).unwrap();
    let y = predict(&model, &x);
    check_gradient(&Objective::Untargeted { labels: y.clone() }, &model, &x);
    let targets: Vec<u32> = y
        .to_vec1::<u32>()
        .unwrap()
        .iter()
        .map(|c| (c + 1) % 4)
        .collect();
    let targets = labels(&targets);
    check_gradient(
        &Objective::Targeted {
            targets: targets.clone(),
        },
        &model,
        &x,
    );
    check_gradient(&Objective::Dlr { labels: y.clone() }, &model, &x);
    check_gradient(
        &Objective::DlrTargeted {
            labels: y.clone(),
            targets,
        },
        &model,
        &x,
    );
    let other = images(3, shape, 0.1, 0.9, 5).to_dtype(DType::F64).unwrap();
    let clean_logits = model.logits(&other).unwrap();
    check_gradient(&Objective::DsToClean { clean_logits }, &model, &x);
}

#[test]
fn a_step_function_model_has_a_zero_gradient_not_an_error() {
    let shape = [1, 2, 2];
    let model = Masked(Linear::random(3, shape, 1));
    let x = images(4, shape, 0.2, 0.8, 2);
    let y = predict(&model, &x);
    let s = Objective::Untargeted { labels: y }
        .score_with_grad(&model, &x)
        .unwrap();
    let g = rows(s.grad.as_ref().unwrap());
    assert!(g.iter().flatten().all(|v| *v == 0.0));
}
