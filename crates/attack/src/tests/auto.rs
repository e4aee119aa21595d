//! The ensemble's robust accuracy is the per-image worst case, and it
//! breaks a model that defeats cross-entropy attacks (the must-show of
//! issue 10): logits scaled so that the f32 softmax saturates.

use super::*;
use crate::objective::Objective;
use crate::robustness::{evaluate_ensemble, evaluate_with, Ensemble, EvalOptions};
use crate::{Apgd, ApgdConfig, Attack, Pgd, PgdConfig, RobustnessReport, ThreatModel};
use sc_core::Seed;

const SHAPE: [usize; 3] = [3, 4, 4];
/// About half the images have a Linf margin below it (the median is 0.003).
const EPS: f64 = 0.004;

struct Case {
    model: Saturated,
    x: Tensor,
    y: Tensor,
    /// Per image: its Linf margin (closed form, the box ignored) is below eps.
    breakable: Vec<bool>,
}

fn case() -> Case {
    let inner = Linear::random(10, SHAPE, 201);
    let x = images(48, SHAPE, 0.4, 0.6, 202);
    let y = predict(&inner, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    // Images in [0.4, 0.6] and a small eps: the pixel box never binds, so the
    // Linf margin decides exactly which images an optimal attack breaks.
    let breakable = rows(&x)
        .iter()
        .zip(&yv)
        .map(|(r, &c)| inner.margin(r, c as usize, 1, None) < EPS)
        .collect();
    Case {
        model: Saturated { inner, scale: 1e5 },
        x,
        y,
        breakable,
    }
}

fn count(v: &[bool]) -> usize {
    v.iter().filter(|&&b| b).count()
}

fn pgd() -> Pgd {
    Pgd::new(PgdConfig::new(
        ThreatModel::linf(EPS).unwrap(),
        EPS / 4.0,
        10,
    ))
    .unwrap()
}

fn options() -> EvalOptions {
    EvalOptions {
        batch_size: 16,
        ..EvalOptions::default()
    }
}

#[test]
fn the_saturated_model_has_a_zero_cross_entropy_gradient() {
    let c = case();
    // Every raw top-two gap exceeds 104 / scale, where exp underflows in f32.
    for r in rows(&c.x) {
        let mut f = c.model.inner.host_logits(&r);
        f.sort_by(|a, b| b.total_cmp(a));
        assert!((f[0] - f[1]) * c.model.scale > 104.0, "{f:?}");
    }
    let s = Objective::Untargeted {
        labels: c.y.clone(),
    }
    .score_with_grad(&c.model, &c.x)
    .unwrap();
    assert!(rows(s.grad.as_ref().unwrap())
        .iter()
        .flatten()
        .all(|g| *g == 0.0));
    let s = Objective::Dlr {
        labels: c.y.clone(),
    }
    .score_with_grad(&c.model, &c.x)
    .unwrap();
    let g = rows(s.grad.as_ref().unwrap());
    assert!(
        g.iter().all(|row| row.iter().any(|v| *v != 0.0)),
        "DLR has a gradient everywhere"
    );
}

/// Per-image worst case recomputed from the stages: clean-correct and
/// standing after every attack.
fn worst_case(r: &RobustnessReport, clean: &[bool]) -> Vec<bool> {
    (0..r.n)
        .map(|i| clean[i] && r.stages.iter().all(|s| s.standing[i]))
        .collect()
}

#[test]
fn the_ensemble_breaks_what_pgd_cannot_and_reports_the_worst_case() {
    let c = case();
    let n = c.x.dim(0).unwrap();
    let breakable = count(&c.breakable);
    assert!(
        breakable >= n / 3 && breakable < n,
        "{breakable} of {n} images within eps of the boundary: pick another eps"
    );

    let pgd_only = evaluate_with(&c.model, &c.x, &c.y, &pgd(), Seed(11), &options()).unwrap();
    let auto = Ensemble::auto_default(pgd()).unwrap();
    let r = evaluate_ensemble(&c.model, &c.x, &c.y, &auto, Seed(11), &options()).unwrap();

    assert_eq!(r.clean_accuracy, 1.0);
    assert!(pgd_only.upper_bound && !r.upper_bound);
    // PGD is blind here: it keeps most breakable images standing.
    let pgd_robust = pgd_only.robust_correct;
    assert!(
        pgd_robust >= n - breakable / 3,
        "PGD breaks {} of the {breakable} breakable images: the model does not mask CE",
        n - pgd_robust
    );
    // The ensemble breaks exactly the images whose margin is below eps.
    assert_eq!(r.robust, c.breakable.iter().map(|b| !b).collect::<Vec<_>>());
    assert_eq!(r.robust_correct, n - breakable);
    assert_eq!(r.robust_accuracy, (n - breakable) as f64 / n as f64);

    // The worst case is the per-image AND over every attack.
    let clean = vec![true; n];
    assert_eq!(r.robust, worst_case(&r, &clean));
    let names: Vec<&str> = r.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["pgd", "apgd-ce", "apgd-t"]);
    // Its PGD stage is the PGD-only evaluation (same stream, same images).
    assert_eq!(r.stages[0].standing, pgd_only.robust);
    assert_eq!(r.stages[0].accuracy, pgd_only.robust_accuracy);
    // Each attack ran on the images the ones before it left standing.
    let mut before = n;
    for s in &r.stages {
        assert_eq!(s.attacked, before, "{}", s.name);
        before = count(&s.standing);
        assert_eq!(s.attacked - s.broken, before, "{}", s.name);
    }
    // APGD-CE is as blind as PGD; APGD-T's scale-free loss does the work.
    assert_eq!(r.stages[1].broken, 0, "APGD-CE has no gradient to follow");
    assert!(r.stages[2].broken > 0);

    // Under PGD alone, apgd-no-weaker fails: PGD overstates robustness.
    let check = pgd_only.check("apgd-no-weaker").unwrap();
    assert!(!check.passed, "{check:?}");
    let v = |name: &str| check.values.iter().find(|(k, _)| k == name).unwrap().1;
    assert_eq!(v("broken_by_apgd-ce"), 0.0);
    assert_eq!(v("broken_by_apgd-t") as usize, pgd_robust - (n - breakable));
    // With the ensemble, APGD's results are reused and already counted.
    let check = r.check("apgd-no-weaker").unwrap();
    assert!(check.passed, "{check:?}");
    assert_eq!(
        check
            .values
            .iter()
            .find(|(k, _)| k == "apgd_accuracy")
            .unwrap()
            .1,
        r.robust_accuracy
    );
}

#[test]
fn apgd_t_on_its_own_breaks_every_image_within_the_margin() {
    // Independent of the ensemble: APGD-T alone, another seed.
    let c = case();
    let apgd_t = Apgd::new(ApgdConfig::targeted(ThreatModel::linf(EPS).unwrap())).unwrap();
    let adv = apgd_t.perturb(&c.model, &c.x, &c.y, &mut rng(3)).unwrap();
    let yv: Vec<u32> = c.y.to_vec1().unwrap();
    let broken: Vec<bool> = preds(&c.model, &adv)
        .iter()
        .zip(&yv)
        .map(|(p, y)| p != y)
        .collect();
    assert_eq!(broken, c.breakable);
    let d = ThreatModel::linf(EPS)
        .unwrap()
        .distances(&c.x, &adv)
        .unwrap();
    assert!(d.iter().all(|d| *d <= EPS + 1e-6));
}

#[test]
fn apgd_t_needs_four_classes_and_targets_at_most_classes_minus_one() {
    let three = Linear::random(3, SHAPE, 204);
    let x = images(4, SHAPE, 0.4, 0.6, 205);
    let y = predict(&three, &x);
    let apgd_t = Apgd::new(ApgdConfig::targeted(ThreatModel::linf(EPS).unwrap())).unwrap();
    let e = apgd_t.perturb(&three, &x, &y, &mut rng(1)).unwrap_err();
    assert!(e.to_string().contains("at least 4"), "{e}");
    // 9 targets on a 4-class model: 3 runs, one per other class; it still
    // breaks every image within the margin.
    let inner = Linear::random(4, SHAPE, 206);
    let model = Saturated {
        inner: inner.clone(),
        scale: 1e5,
    };
    let x = images(24, SHAPE, 0.4, 0.6, 207);
    let y = predict(&inner, &x);
    let yv: Vec<u32> = y.to_vec1().unwrap();
    let adv = apgd_t.perturb(&model, &x, &y, &mut rng(2)).unwrap();
    for (i, r) in rows(&x).iter().enumerate() {
        let broken = preds(&model, &adv)[i] != yv[i];
        assert_eq!(
            broken,
            inner.margin(r, yv[i] as usize, 1, None) < EPS,
            "image {i}"
        );
    }
}
