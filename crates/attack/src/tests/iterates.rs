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

/// Algorithm 1 of Croce & Hein 2020 for Linf, one image at a time, in plain f64.
fn apgd_oracle(x: &[f64], c: &[f64], x0: Vec<f64>, eps: f64, steps: usize) -> Vec<f64> {
    let f = |p: &[f64]| -dist2(p, c);
    let checkpoints = ApgdCe::checkpoints(steps);
    let mut eta = 2.0 * eps;
    let (mut cur, mut prev) = (x0.clone(), x0.clone());
    let (mut best, mut f_best) = (x0.clone(), f(&x0));
    let (mut increases, mut last_checkpoint, mut f_best_at_last, mut halved_at_last) =
        (0, 0, f_best, false);
    for k in 0..steps {
        let g = ascent(&cur, c);
        let z = project(
            &cur.iter()
                .zip(&g)
                .map(|(p, g)| p + eta * g)
                .collect::<Vec<_>>(),
            x,
            eps,
        );
        let next = if k == 0 {
            z
        } else {
            let moved: Vec<f64> = (0..x.len())
                .map(|j| {
                    cur[j] + APGD_ALPHA * (z[j] - cur[j]) + (1.0 - APGD_ALPHA) * (cur[j] - prev[j])
                })
                .collect();
            project(&moved, x, eps)
        };
        if f(&next) > f(&cur) {
            increases += 1;
        }
        if f(&next) > f_best {
            best = next.clone();
            f_best = f(&next);
        }
        prev = cur;
        cur = next;
        let t = k + 1;
        if checkpoints.contains(&t) {
            let halve = (increases as f64) < APGD_RHO * (t - last_checkpoint) as f64
                || (!halved_at_last && f_best <= f_best_at_last);
            if halve {
                eta /= 2.0;
                cur = best.clone();
                prev = best.clone();
            }
            halved_at_last = halve;
            f_best_at_last = f_best;
            increases = 0;
            last_checkpoint = t;
        }
    }
    best
}

#[test]
fn apgd_follows_algorithm_1_step_by_step() {
    let s = setup(10, 0.05, 3);
    for steps in [5, 30] {
        let apgd = ApgdCe::new(ApgdConfig {
            steps,
            ..ApgdConfig::new(ThreatModel::linf(s.eps).unwrap())
        })
        .unwrap();
        let adv = rows(&apgd.perturb(&s.model, &s.x, &s.y, &mut rng(4)).unwrap());
        for (i, x0) in start(&s, 4).into_iter().enumerate() {
            let expected = apgd_oracle(&s.xs[i], &s.cs[i], x0, s.eps, steps);
            for (a, b) in adv[i].iter().zip(&expected) {
                assert!(
                    (a - b).abs() < 1e-9,
                    "{steps} steps, image {i}: {:?} vs {expected:?}",
                    adv[i]
                );
            }
        }
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
