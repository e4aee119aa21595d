//! PGD and APGD step by step, against an independent scalar re-implementation
//! on a model whose loss has its maximum inside the ball.

use super::*;
use crate::attack::Restarts;
use crate::{ApgdCe, ApgdConfig, Attack, Pgd, PgdConfig, ThreatModel, APGD_ALPHA, APGD_RHO};

const SHAPE: [usize; 3] = [1, 2, 3];

/// `logits = [0, -s ||x - c_i||^2]` per image `i`: the cross-entropy of class
/// 0 is highest at `x = c_i`, and class 0 always wins (a tie at `c_i` goes
/// to the first class), so iterates are ranked by loss alone.
struct Bowl {
    c: Tensor,
    s: f64,
}

impl Classifier for Bowl {
    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let n = x.dim(0)?;
        let d2 = (x.flatten_from(1)? - self.c.to_dtype(x.dtype())?)?
            .sqr()?
            .sum_keepdim(1)?;
        Tensor::cat(&[&d2.zeros_like()?, &d2.affine(-self.s, 0.0)?], 1)?.reshape((n, 2))
    }
    fn num_classes(&self) -> usize {
        2
    }
    fn input_shape(&self) -> [usize; 3] {
        SHAPE
    }
    fn name(&self) -> &str {
        "bowl"
    }
}

struct Setup {
    model: Bowl,
    x: Tensor,
    y: Tensor,
    xs: Vec<Vec<f64>>,
    cs: Vec<Vec<f64>>,
    eps: f64,
}

/// Images in the middle of the cube and bowl centres inside their eps-balls.
fn setup(n: usize, eps: f64, seed: u64) -> Setup {
    let x = images(n, SHAPE, 0.3, 0.7, seed)
        .to_dtype(DType::F64)
        .unwrap();
    let xs = rows(&x);
    let mut r = rng(seed + 1);
    let cs: Vec<Vec<f64>> = xs
        .iter()
        .map(|row| {
            row.iter()
                .map(|v| v + eps * r.random_range(-0.8..0.8))
                .collect()
        })
        .collect();
    let c = Tensor::from_vec(
        cs.iter().flatten().copied().collect::<Vec<_>>(),
        (n, 6),
        &Device::Cpu,
    )
    .unwrap();
    let y = labels(&vec![0; n]);
    Setup {
        model: Bowl { c, s: 10.0 },
        x,
        y,
        xs,
        cs,
        eps,
    }
}

fn dist2(a: &[f64], c: &[f64]) -> f64 {
    a.iter().zip(c).map(|(a, c)| (a - c).powi(2)).sum()
}

fn project(p: &[f64], x: &[f64], eps: f64) -> Vec<f64> {
    p.iter()
        .zip(x)
        .map(|(p, x)| p.clamp(x - eps, x + eps).clamp(0.0, 1.0))
        .collect()
}

/// `sign(grad CE)` at `p`: towards the centre.
fn ascent(p: &[f64], c: &[f64]) -> Vec<f64> {
    p.iter()
        .zip(c)
        .map(|(p, c)| {
            if c > p {
                1.0
            } else if c < p {
                -1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// The random start of restart 0 for a generator seeded with `seed`.
fn start(s: &Setup, seed: u64) -> Vec<Vec<f64>> {
    let restarts = Restarts::new(&mut rng(seed));
    rows(
        &ThreatModel::linf(s.eps)
            .unwrap()
            .random_point(&s.x, &mut restarts.stream(0))
            .unwrap(),
    )
}

#[test]
fn pgd_returns_the_best_iterate_not_the_last() {
    let s = setup(12, 0.05, 1);
    let (step, steps) = (0.02, 12);
    let pgd = Pgd::new(PgdConfig::new(
        ThreatModel::linf(s.eps).unwrap(),
        step,
        steps,
    ))
    .unwrap();
    let adv = rows(&pgd.perturb(&s.model, &s.x, &s.y, &mut rng(2)).unwrap());
    let mut last_was_worse = 0;
    for (i, mut p) in start(&s, 2).into_iter().enumerate() {
        let (x, c) = (&s.xs[i], &s.cs[i]);
        let mut best = p.clone();
        for _ in 0..steps {
            let g = ascent(&p, c);
            p = project(
                &p.iter()
                    .zip(&g)
                    .map(|(p, g)| p + step * g)
                    .collect::<Vec<_>>(),
                x,
                s.eps,
            );
            if dist2(&p, c) < dist2(&best, c) {
                best = p.clone();
            }
        }
        for (a, b) in adv[i].iter().zip(&best) {
            assert!(
                (a - b).abs() < 1e-12,
                "image {i}: {:?} vs best iterate {best:?}",
                adv[i]
            );
        }
        if dist2(&p, c) > dist2(&best, c) {
            last_was_worse += 1;
        }
    }
    assert!(
        last_was_worse > 0,
        "no image where the last iterate is worse: a test with no teeth"
    );
}

/// The reference's checkpoint loop (`attack_single_run`), verbatim: the
/// 1-based steps after which it checks the step size.
fn reference_checkpoints(n_iter: usize) -> Vec<usize> {
    let n_iter_2 = ((0.22 * n_iter as f64) as usize).max(1);
    let n_iter_min = ((0.06 * n_iter as f64) as usize).max(1);
    let size_decr = ((0.03 * n_iter as f64) as usize).max(1);
    let (mut k, mut counter3, mut out) = (n_iter_2, 0, Vec::new());
    for i in 0..n_iter {
        counter3 += 1;
        if counter3 == k {
            out.push(i + 1);
            k = (k as i64 - size_decr as i64).max(n_iter_min as i64) as usize;
            counter3 = 0;
        }
    }
    out
}

#[test]
fn apgd_checkpoints_are_the_reference_integer_schedule() {
    assert_eq!(
        ApgdCe::checkpoints(100),
        vec![22, 41, 57, 70, 80, 87, 93, 99]
    );
    for n in [1, 2, 3, 5, 10, 17, 20, 33, 50, 64, 99, 100, 101, 250, 1000] {
        assert_eq!(ApgdCe::checkpoints(n), reference_checkpoints(n), "N = {n}");
    }
    // Not the paper's ceil(p_j N) of real fractions: for 10 steps those give
    // 3, 5, 6, ...; the reference's integers give 2, 3, 4, ...
    assert_eq!(ApgdCe::checkpoints(10), vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
}

/// Departures from the reference that earlier versions made, to show that
/// the step-by-step test tells them apart.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Variant {
    /// Apply condition 2 at the first checkpoint too.
    cond2_at_first: bool,
    /// Zero the momentum after a restart from the best point.
    reset_momentum: bool,
    /// Condition 1 as `increases < rho k` instead of `<=`.
    strict_oscillation: bool,
}

const REFERENCE: Variant = Variant {
    cond2_at_first: false,
    reset_momentum: false,
    strict_oscillation: false,
};

/// `attack_single_run` of the reference for Linf and one image, in plain
/// f64, on the bowl's cross-entropy `ln(1 + exp(-s ||p - c||^2))`.
fn apgd_oracle(x: &[f64], c: &[f64], x0: Vec<f64>, eps: f64, steps: usize, v: Variant) -> Vec<f64> {
    let f = |p: &[f64]| (1.0 + (-10.0 * dist2(p, c)).exp()).ln();
    let n_iter_2 = ((0.22 * steps as f64) as usize).max(1);
    let n_iter_min = ((0.06 * steps as f64) as usize).max(1);
    let size_decr = ((0.03 * steps as f64) as usize).max(1);
    let mut step_size = 2.0 * eps;
    let (mut x_adv, mut x_adv_old) = (x0.clone(), x0.clone());
    let (mut x_best, mut loss_best) = (x0.clone(), f(&x0));
    let mut returned = (x0.clone(), f(&x0));
    let mut loss_steps = vec![0.0; steps];
    let mut loss_best_last_check = loss_best;
    let mut reduced_last_check = !v.cond2_at_first;
    let (mut k, mut counter3) = (n_iter_2, 0);
    for i in 0..steps {
        let grad2: Vec<f64> = x_adv.iter().zip(&x_adv_old).map(|(a, b)| a - b).collect();
        x_adv_old = x_adv.clone();
        let a = if i > 0 { APGD_ALPHA } else { 1.0 };
        let g = ascent(&x_adv, c);
        let z = project(
            &x_adv
                .iter()
                .zip(&g)
                .map(|(p, g)| p + step_size * g)
                .collect::<Vec<_>>(),
            x,
            eps,
        );
        let moved: Vec<f64> = (0..x.len())
            .map(|j| x_adv[j] + (z[j] - x_adv[j]) * a + grad2[j] * (1.0 - a))
            .collect();
        x_adv = project(&moved, x, eps);
        let y1 = f(&x_adv);
        loss_steps[i] = y1;
        if y1 > returned.1 {
            returned = (x_adv.clone(), y1);
        }
        if y1 > loss_best {
            x_best = x_adv.clone();
            loss_best = y1;
        }
        counter3 += 1;
        if counter3 == k {
            // check_oscillation, with Python's negative index at the first checkpoint.
            let at = |m: i64| loss_steps[m.rem_euclid(steps as i64) as usize];
            let t = (0..k as i64)
                .filter(|&c5| at(i as i64 - c5) > at(i as i64 - c5 - 1))
                .count() as f64;
            let osc = if v.strict_oscillation {
                t < k as f64 * APGD_RHO
            } else {
                t <= k as f64 * APGD_RHO
            };
            let no_impr = !reduced_last_check && loss_best_last_check >= loss_best;
            let reduce = osc || no_impr;
            reduced_last_check = reduce;
            loss_best_last_check = loss_best;
            if reduce {
                step_size /= 2.0;
                x_adv = x_best.clone();
                if v.reset_momentum {
                    x_adv_old = x_best.clone();
                }
            }
            k = (k as i64 - size_decr as i64).max(n_iter_min as i64) as usize;
            counter3 = 0;
        }
    }
    returned.0
}

#[test]
fn apgd_follows_the_reference_implementation_step_by_step() {
    let s = setup(24, 0.05, 3);
    let variants = [
        Variant {
            cond2_at_first: true,
            ..REFERENCE
        },
        Variant {
            reset_momentum: true,
            ..REFERENCE
        },
        Variant {
            strict_oscillation: true,
            ..REFERENCE
        },
    ];
    let mut told_apart = [false; 3];
    for steps in [1, 5, 10, 30, 100] {
        let apgd = ApgdCe::new(ApgdConfig {
            steps,
            ..ApgdConfig::new(ThreatModel::linf(s.eps).unwrap())
        })
        .unwrap();
        let adv = rows(&apgd.perturb(&s.model, &s.x, &s.y, &mut rng(4)).unwrap());
        for (i, x0) in start(&s, 4).into_iter().enumerate() {
            let expected = apgd_oracle(&s.xs[i], &s.cs[i], x0.clone(), s.eps, steps, REFERENCE);
            for (a, b) in adv[i].iter().zip(&expected) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{steps} steps, image {i}: {:?} vs {expected:?}",
                    adv[i]
                );
            }
            for (v, told) in variants.iter().zip(told_apart.iter_mut()) {
                let other = apgd_oracle(&s.xs[i], &s.cs[i], x0.clone(), s.eps, steps, *v);
                *told |= other
                    .iter()
                    .zip(&expected)
                    .any(|(a, b)| (a - b).abs() > 1e-9);
            }
        }
    }
    for (v, told) in variants.iter().zip(told_apart) {
        assert!(
            told,
            "{v:?} gives the same iterates: the test cannot tell it apart"
        );
    }
}

/// A fixed step size can only circle an interior maximum; APGD's halving
/// step size closes in on it.
#[test]
fn apgd_converges_to_an_interior_maximum_where_fixed_step_pgd_circles_it() {
    let s = setup(16, 0.05, 5);
    let threat = ThreatModel::linf(s.eps).unwrap();
    let err = |adv: &Tensor| -> f64 {
        rows(adv)
            .iter()
            .zip(&s.cs)
            .map(|(a, c)| {
                a.iter()
                    .zip(c)
                    .map(|(a, c)| (a - c).abs())
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max)
    };
    let apgd = ApgdCe::new(ApgdConfig::new(threat)).unwrap();
    let apgd_err = err(&apgd.perturb(&s.model, &s.x, &s.y, &mut rng(6)).unwrap());
    let pgd = Pgd::new(PgdConfig::new(threat, s.eps / 4.0, 100)).unwrap();
    let pgd_err = err(&pgd.perturb(&s.model, &s.x, &s.y, &mut rng(6)).unwrap());
    assert!(
        apgd_err < 0.05 * s.eps,
        "APGD ends {apgd_err} from the maximum"
    );
    assert!(pgd_err > 2.0 * apgd_err, "PGD {pgd_err} vs APGD {apgd_err}");
}
