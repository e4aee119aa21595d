//! Running the attacks of an evaluation in turn, each on the images still
//! standing.

use super::checks::count;
use crate::attack::Attack;
use crate::error::{invalid_input, Result};
use crate::objective::predictions;
use crate::ops::{gather_rows, to_u32_vec};
use candle_core::{DType, Tensor};
use rand::RngCore;
use sc_core::{Classifier, Seed};
use std::time::Instant;

/// What one attack did.
pub(super) struct StageRun {
    /// Images attacked (those standing before it).
    pub attacked: usize,
    /// Of those, the images it broke.
    pub broken: usize,
    /// Per image of the whole set: standing after it.
    pub standing: Vec<bool>,
    /// Per image: `Some(correct)` for the images it attacked.
    pub verdict: Vec<Option<bool>>,
    /// Largest distance of its images from the clean ones, in its norm.
    pub max_distance: f64,
    /// Smallest and largest pixel of its images (`+inf`, `-inf` when it attacked none).
    pub min_pixel: f64,
    /// See `min_pixel`.
    pub max_pixel: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The stream of attack `s` of an evaluation: `attack` for the first (so a
/// single attack draws what it always drew), `attack-<s>` after it.
fn stream_name(s: usize) -> String {
    if s == 0 {
        "attack".into()
    } else {
        format!("attack-{s}")
    }
}

/// Runs `attacks` in order, each on the images `clean` and every attack
/// before it left standing.
pub(super) fn run_all(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    clean: &[bool],
    attacks: &[&dyn Attack],
    batch_size: usize,
    seed: Seed,
) -> Result<Vec<StageRun>> {
    let mut standing = clean.to_vec();
    let mut out = Vec::with_capacity(attacks.len());
    for (s, attack) in attacks.iter().enumerate() {
        let start = Instant::now();
        let idx: Vec<usize> = (0..standing.len()).filter(|&i| standing[i]).collect();
        let mut rng = seed.stream(&stream_name(s));
        let run = if idx.is_empty() {
            Correctness::empty()
        } else {
            let xs = gather_rows(x, &idx)?;
            let ys = gather_rows(y, &idx)?;
            run_attack(model, &xs, &ys, *attack, batch_size, &mut rng)?
        };
        let mut verdict = vec![None; standing.len()];
        for (p, &i) in idx.iter().enumerate() {
            verdict[i] = Some(run.correct[p]);
            standing[i] &= run.correct[p];
        }
        out.push(StageRun {
            attacked: idx.len(),
            broken: idx.len() - count(&run.correct),
            standing: standing.clone(),
            verdict,
            max_distance: run.max_distance,
            min_pixel: run.min_pixel,
            max_pixel: run.max_pixel,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok(out)
}

/// Per-image correctness under an attack, and how far its images went.
pub(super) struct Correctness {
    pub correct: Vec<bool>,
    pub max_distance: f64,
    pub min_pixel: f64,
    pub max_pixel: f64,
}

impl Correctness {
    fn empty() -> Self {
        Correctness {
            correct: Vec::new(),
            max_distance: 0.0,
            min_pixel: f64::INFINITY,
            max_pixel: f64::NEG_INFINITY,
        }
    }
}

/// Runs `attack` over `x` in batches, drawing from `rng` in batch order.
pub(super) fn run_attack(
    model: &dyn Classifier,
    x: &Tensor,
    y: &Tensor,
    attack: &dyn Attack,
    batch_size: usize,
    rng: &mut dyn RngCore,
) -> Result<Correctness> {
    let n = x.dim(0)?;
    let mut run = Correctness::empty();
    for start in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - start);
        let xb = x.narrow(0, start, len)?;
        let yb = y.narrow(0, start, len)?;
        let adv = attack.perturb(model, &xb, &yb, rng)?;
        if adv.dims() != xb.dims() {
            return Err(invalid_input(
                "adversarial images",
                format!(
                    "attack {} returned shape {:?} for {:?}",
                    attack.name(),
                    adv.dims(),
                    xb.dims()
                ),
            ));
        }
        if let Some(t) = attack.threat() {
            let d = t.distances(&xb, &adv)?;
            run.max_distance = d.iter().copied().fold(run.max_distance, f64::max);
        }
        let lo: f64 = adv.min_all()?.to_dtype(DType::F64)?.to_scalar()?;
        let hi: f64 = adv.max_all()?.to_dtype(DType::F64)?.to_scalar()?;
        run.min_pixel = run.min_pixel.min(lo);
        run.max_pixel = run.max_pixel.max(hi);
        let pred = predictions(model, &adv)?;
        let yv = to_u32_vec(&yb)?;
        run.correct
            .extend(pred.iter().zip(&yv).map(|(p, y)| p == y));
    }
    Ok(run)
}
