use crate::config::{NormalizeChoice, Regime, TrainConfig};
use crate::optim::{Hyper, Optimizer};
use crate::run::{io, write_atomic, RunDir};
use crate::schedule::Position;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, D};
use sc_attack::{Attack, Norm, Pgd, PgdConfig, ThreatModel};
use sc_core::{Classifier, Level, Seed};
use sc_data::{DataSpec, ImageSet, Order};
use sc_loss::ContinuityLoss;
use sc_models::{Arch, CheckpointMeta, Model, Normalize};
use sc_perturb::{Perturbation, RandomPhotometric};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Progress of one optimisation step, for progress bars.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepInfo {
    pub epoch: u64,
    pub step: u64,
    pub steps_per_epoch: u64,
    pub global_step: u64,
    pub loss: f64,
    pub ce: f64,
    pub continuity: f64,
    /// Running training accuracy of the epoch (on clean images).
    pub accuracy: f64,
    pub images_per_second: f64,
    pub lr: f64,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// `epoch` at the end of an epoch, `step` for a line logged mid-epoch.
    pub kind: String,
    pub epoch: u64,
    pub global_step: u64,
    pub loss: f64,
    pub ce: f64,
    /// The continuity term (DS or KL batch mean), before alpha; 0 in base/adv.
    pub continuity: f64,
    pub train_accuracy: f64,
    /// On `eval_limit` test images (end of epoch only).
    pub test_accuracy: Option<f64>,
    /// Mean DS between held-out test images and their random photometric
    /// perturbation at `augment_level` (end of epoch only).
    pub heldout_ds: Option<f64>,
    pub lr: f64,
    pub elapsed_seconds: f64,
}

/// What a finished run reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    pub run: String,
    pub epochs: u64,
    pub global_steps: u64,
    pub test_accuracy: Option<f64>,
    pub heldout_ds: Option<f64>,
    pub seconds: f64,
    pub checkpoint: String,
}

/// Receives progress; the library prints nothing itself.
pub trait Observer {
    fn start(&mut self, _config: &TrainConfig, _steps_per_epoch: u64, _resumed_at: u64) {}
    fn step(&mut self, _info: &StepInfo) {}
    fn epoch(&mut self, _metrics: &EpochMetrics) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// The training loss of one batch, with its parts.
#[derive(Debug, Clone)]
pub struct StepLoss {
    /// What the optimiser minimises.
    pub total: Tensor,
    /// The cross-entropy term (on clean images, or on PGD images in `adv`).
    pub ce: Tensor,
    /// The continuity term before alpha (`c`, `adv-c` only).
    pub continuity: Option<Tensor>,
    /// Train-mode logits of the images the CE term is taken on.
    pub clean_logits: Tensor,
}

/// The loss of `regime` on a batch `(x, y)` in train mode (Sec. 3.2, Eq. 3),
/// given the batch's perturbed images `x_pert` (the photometric
/// augmentation for `c`, PGD examples for `adv` and `adv-c`; `None` for
/// `base`). Clean and perturbed images go through one forward pass, so
/// BatchNorm's batch statistics see both, as in the paper's training.
/// [`train`] calls this every step; it is public so that benchmarks and
/// custom loops time and run exactly the same computation.
pub fn regime_loss(
    model: &Model,
    regime: Regime,
    loss_fn: &ContinuityLoss,
    x: &Tensor,
    y: &Tensor,
    x_pert: Option<&Tensor>,
) -> Result<StepLoss> {
    if let Some(p) = x_pert {
        if p.dims() != x.dims() {
            return Err(Error::Config(format!(
                "perturbed images of shape {:?} for a batch of shape {:?}",
                p.dims(),
                x.dims()
            )));
        }
    }
    Ok(match (regime, x_pert) {
        (Regime::Base, None) => {
            let logits = model.forward_train(x)?;
            let ce = sc_loss::cross_entropy(&logits, y)?;
            StepLoss {
                total: ce.clone(),
                ce,
                continuity: None,
                clean_logits: logits,
            }
        }
        (Regime::Adv, Some(x_adv)) => {
            let logits = model.forward_train(x_adv)?;
            let ce = sc_loss::cross_entropy(&logits, y)?;
            StepLoss {
                total: ce.clone(),
                ce,
                continuity: None,
                clean_logits: logits,
            }
        }
        (Regime::C | Regime::AdvC, Some(x_pert)) => {
            let n = x.dim(0)?;
            let both = model.forward_train(&Tensor::cat(&[x, x_pert], 0)?)?;
            let clean = both.narrow(0, 0, n)?;
            let pert = both.narrow(0, n, n)?;
            let terms = loss_fn.compute(&clean, &pert, y)?;
            StepLoss {
                total: terms.total,
                ce: terms.ce,
                continuity: Some(terms.continuity),
                clean_logits: clean,
            }
        }
        (Regime::Base, Some(_)) => {
            return Err(Error::Config(
                "regime base takes no perturbed images".into(),
            ))
        }
        (regime, None) => {
            return Err(Error::Config(format!(
                "regime {} needs the perturbed images of the batch",
                regime.name()
            )))
        }
    })
}

/// Where a run stands: stored in every checkpoint's JSON.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Position_ {
    /// Epoch being trained (0-based).
    epoch: u64,
    /// Batches of that epoch already done.
    step_in_epoch: u64,
    global_step: u64,
    optimizer_steps: u64,
    elapsed_seconds: f64,
    metrics: Vec<EpochMetrics>,
    config: TrainConfig,
}

struct Sums {
    loss: f64,
    ce: f64,
    continuity: f64,
    correct: usize,
    seen: usize,
    batches: usize,
}

impl Sums {
    fn new() -> Self {
        Sums {
            loss: 0.0,
            ce: 0.0,
            continuity: 0.0,
            correct: 0,
            seen: 0,
            batches: 0,
        }
    }
}

/// Trains as `config` says, in `run_dir`; with `resume`, continues from the
/// run's last complete checkpoint.
pub fn train(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    config.validate()?;
    let run = RunDir::new(run_dir);
    let spec: DataSpec = config.data.parse()?;
    let data = spec.load()?;
    let train_set = data
        .train
        .as_ref()
        .ok_or_else(|| Error::Config(format!("data = {:?} has no training split", config.data)))?;
    let train_set = if config.train_limit > 0 {
        train_set.take(config.train_limit)
    } else {
        train_set.clone()
    };
    let eval_set = data.test.as_ref().map(|t| {
        if config.eval_limit > 0 {
            t.take(config.eval_limit)
        } else {
            t.clone()
        }
    });
    let arch: Arch = config.model.parse()?;

    let latest = run.latest()?;
    let (model, mut pos, optim_state) = match (&latest, resume) {
        (Some(stem), true) => {
            let (model, meta) = sc_models::load_checkpoint(run.checkpoints(), stem, device)?;
            let pos: Position_ = serde_json::from_value(meta.training.clone())
                .map_err(|e| Error::Checkpoint(format!("{stem}.json: {e}")))?;
            check_same_run(&run, &pos.config, config, &model)?;
            let optim_path = run.checkpoints().join(format!("{stem}.optim.safetensors"));
            let state = candle_core::safetensors::load(&optim_path, device)
                .map_err(|e| Error::Checkpoint(format!("{}: {e}", optim_path.display())))?;
            (model, pos, Some(state))
        }
        (Some(stem), false) => {
            return Err(Error::RunDir {
                path: run_dir.to_path_buf(),
                problem: format!(
                    "it already holds a run (checkpoint {stem}); pass --resume to continue it or choose another directory"
                ),
            })
        }
        (None, _) => {
            let normalize = match &config.normalize {
                NormalizeChoice::None => None,
                NormalizeChoice::Data => Some(Normalize::from_data(&train_set.images(&Device::Cpu)?)?),
                NormalizeChoice::Cifar10 => Some(Normalize::cifar10()),
                NormalizeChoice::Cifar100 => Some(Normalize::cifar100()),
                NormalizeChoice::Imagenet => Some(Normalize::imagenet()),
                NormalizeChoice::Mnist => Some(Normalize::mnist()),
            };
            let model = Model::new(
                arch,
                train_set.num_classes(),
                train_set.image_shape(),
                normalize,
                Seed(config.seed).derive("init"),
                DType::F32,
                device,
            )?;
            let pos = Position_ {
                epoch: 0,
                step_in_epoch: 0,
                global_step: 0,
                optimizer_steps: 0,
                elapsed_seconds: 0.0,
                metrics: Vec::new(),
                config: config.clone(),
            };
            (model, pos, None)
        }
    };
    pos.config = config.clone();
    write_atomic(&run.config(), config.to_toml()?.as_bytes())?;

    let hyper = Hyper {
        momentum: config.momentum,
        nesterov: config.nesterov,
        weight_decay: config.weight_decay,
        ..Hyper::default()
    };
    let mut optimizer = Optimizer::new(config.optimizer, model.trainable_vars(), hyper);
    if let Some(state) = &optim_state {
        optimizer.load_state(state, pos.optimizer_steps)?;
    }

    let loss_fn = ContinuityLoss::new(config.alpha, config.continuity)?;
    let level = Level::new(config.augment_level)?;
    let augment = RandomPhotometric::new(level);
    let pgd = Pgd::new(PgdConfig::new(
        ThreatModel::new(Norm::Linf, config.pgd_eps.0)?,
        config.pgd_step.0,
        config.pgd_steps,
    ))?;
    let steps_per_epoch = train_set.len().div_ceil(config.batch_size) as u64;
    let total = steps_per_epoch * config.epochs;
    let seed = Seed(config.seed);
    observer.start(config, steps_per_epoch, pos.global_step);
    let started = Instant::now();
    let elapsed_before = pos.elapsed_seconds;
    let elapsed = |started: &Instant| elapsed_before + started.elapsed().as_secs_f64();

    while pos.epoch < config.epochs {
        let epoch = pos.epoch;
        let order = Order::Shuffled {
            seed: seed.derive("data-order"),
            epoch,
        };
        let mut sums = Sums::new();
        let batches = train_set.batches(config.batch_size, order, false, device)?;
        for batch in batches.skip(pos.step_in_epoch as usize) {
            let batch = batch?;
            let step_started = Instant::now();
            let step_seed = seed.index(pos.global_step);
            let lr = config.schedule.rate(
                config.lr,
                Position {
                    step: pos.global_step,
                    total,
                    per_epoch: steps_per_epoch,
                },
                config.step_epochs,
                config.step_gamma,
            );
            let (x, y) = (&batch.images, &batch.labels);
            let n = x.dim(0)?;
            let x_pert = match config.regime {
                Regime::Base => None,
                Regime::C => Some(augment.apply(x, &mut step_seed.stream("augment"))?),
                Regime::Adv | Regime::AdvC => {
                    Some(pgd.perturb(&model, x, y, &mut step_seed.stream("pgd"))?)
                }
            };
            let StepLoss {
                total: total_loss,
                ce,
                continuity,
                clean_logits,
            } = regime_loss(&model, config.regime, &loss_fn, x, y, x_pert.as_ref())?;
            let loss_value: f64 = total_loss.to_dtype(DType::F64)?.to_scalar()?;
            if !loss_value.is_finite() {
                return Err(Error::NonFinite {
                    value: loss_value,
                    epoch,
                    step: pos.step_in_epoch,
                    global_step: pos.global_step,
                });
            }
            let grads = total_loss.backward()?;
            let scale = if config.grad_clip > 0.0 {
                let norm = optimizer.grad_norm(&grads)?;
                if norm > config.grad_clip {
                    config.grad_clip / norm
                } else {
                    1.0
                }
            } else {
                1.0
            };
            optimizer.step(&grads, lr, scale)?;

            let predictions = clean_logits.argmax(D::Minus1)?;
            let correct: f64 = predictions
                .eq(y)?
                .to_dtype(DType::F64)?
                .sum_all()?
                .to_scalar()?;
            sums.loss += loss_value;
            sums.ce += ce.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if let Some(c) = &continuity {
                sums.continuity += c.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            }
            sums.correct += correct as usize;
            sums.seen += n;
            sums.batches += 1;
            pos.step_in_epoch += 1;
            pos.global_step += 1;
            pos.optimizer_steps = optimizer.steps();
            observer.step(&StepInfo {
                epoch,
                step: pos.step_in_epoch,
                steps_per_epoch,
                global_step: pos.global_step,
                loss: sums.loss / sums.batches as f64,
                ce: sums.ce / sums.batches as f64,
                continuity: sums.continuity / sums.batches as f64,
                accuracy: sums.correct as f64 / sums.seen as f64,
                images_per_second: n as f64 / step_started.elapsed().as_secs_f64().max(1e-9),
                lr,
            });
            if config.log_every > 0 && pos.global_step % config.log_every == 0 {
                pos.metrics
                    .push(line("step", &pos, &sums, None, None, lr, elapsed(&started)));
                write_metrics(&run, &pos.metrics)?;
            }
            if config.checkpoint_every > 0
                && pos.global_step % config.checkpoint_every == 0
                && pos.step_in_epoch < steps_per_epoch
            {
                pos.elapsed_seconds = elapsed(&started);
                save(&run, &model, &optimizer, &pos, &train_set, &config.data)?;
            }
        }
        let (test_accuracy, heldout_ds) = match &eval_set {
            Some(set) => {
                let (acc, ds) = evaluate(&model, set, &augment, seed, config.batch_size, device)?;
                (Some(acc), Some(ds))
            }
            None => (None, None),
        };
        pos.epoch += 1;
        pos.step_in_epoch = 0;
        let lr_now = config.schedule.rate(
            config.lr,
            Position {
                step: pos.global_step.saturating_sub(1),
                total,
                per_epoch: steps_per_epoch,
            },
            config.step_epochs,
            config.step_gamma,
        );
        let mut m = line(
            "epoch",
            &pos,
            &sums,
            test_accuracy,
            heldout_ds,
            lr_now,
            elapsed(&started),
        );
        m.epoch = epoch;
        pos.metrics.push(m.clone());
        pos.elapsed_seconds = elapsed(&started);
        save(&run, &model, &optimizer, &pos, &train_set, &config.data)?;
        write_metrics(&run, &pos.metrics)?;
        observer.epoch(&m);
    }
    let last = pos.metrics.iter().rev().find(|m| m.kind == "epoch");
    Ok(TrainReport {
        run: run_dir.display().to_string(),
        epochs: pos.epoch,
        global_steps: pos.global_step,
        test_accuracy: last.and_then(|m| m.test_accuracy),
        heldout_ds: last.and_then(|m| m.heldout_ds),
        seconds: pos.elapsed_seconds,
        checkpoint: RunDir::stem(pos.global_step),
    })
}

fn line(
    kind: &str,
    pos: &Position_,
    sums: &Sums,
    test_accuracy: Option<f64>,
    heldout_ds: Option<f64>,
    lr: f64,
    elapsed_seconds: f64,
) -> EpochMetrics {
    let b = sums.batches.max(1) as f64;
    EpochMetrics {
        kind: kind.into(),
        epoch: pos.epoch,
        global_step: pos.global_step,
        loss: sums.loss / b,
        ce: sums.ce / b,
        continuity: sums.continuity / b,
        train_accuracy: sums.correct as f64 / sums.seen.max(1) as f64,
        test_accuracy,
        heldout_ds,
        lr,
        elapsed_seconds,
    }
}

/// Test accuracy and mean held-out DS under the random photometric augmentation.
fn evaluate(
    model: &Model,
    set: &ImageSet,
    augment: &RandomPhotometric,
    seed: Seed,
    batch_size: usize,
    device: &Device,
) -> Result<(f64, f64)> {
    let mut correct = 0.0;
    let mut ds_sum = 0.0;
    let mut rng = seed.stream("heldout-pairs");
    for batch in set.batches(batch_size, Order::Sequential, false, device)? {
        let batch = batch?;
        let logits = model.logits(&batch.images)?;
        let pert = model.logits(&augment.apply(&batch.images, &mut rng)?)?;
        correct += logits
            .argmax(D::Minus1)?
            .eq(&batch.labels)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?;
        ds_sum += sc_loss::ds(&logits, &pert)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?;
    }
    let n = set.len().max(1) as f64;
    Ok((correct / n, ds_sum / n))
}

fn save(
    run: &RunDir,
    model: &Model,
    optimizer: &Optimizer,
    pos: &Position_,
    train_set: &ImageSet,
    dataset: &str,
) -> Result<()> {
    let dir = run.checkpoints();
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let stem = RunDir::stem(pos.global_step);
    let (state, _) = optimizer.state();
    let optim_path = dir.join(format!("{stem}.optim.safetensors"));
    let cpu: HashMap<String, Tensor> = state
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    sc_core::write_atomic_with(&optim_path, |tmp| {
        candle_core::safetensors::save(&cpu, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| io(&optim_path, e))?;
    let meta = CheckpointMeta {
        classes: train_set.classes().to_vec(),
        dataset: dataset.to_string(),
        training: serde_json::to_value(pos).map_err(|e| Error::Checkpoint(e.to_string()))?,
    };
    sc_models::save_checkpoint(&dir, &stem, model, &meta)?;
    run.prune(pos.config.keep_checkpoints)?;
    Ok(())
}

fn write_metrics(run: &RunDir, metrics: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in metrics {
        text.push_str(&serde_json::to_string(m).map_err(|e| Error::Checkpoint(e.to_string()))?);
        text.push('\n');
    }
    write_atomic(&run.metrics(), text.as_bytes())
}

/// A resumed run must be the same model on the same data.
fn check_same_run(
    run: &RunDir,
    stored: &TrainConfig,
    asked: &TrainConfig,
    model: &Model,
) -> Result<()> {
    let mismatch = |what: &str, was: String, now: String| Error::RunDir {
        path: run.root().to_path_buf(),
        problem: format!("it holds a checkpoint of {what} {was}, but this run asks for {now}"),
    };
    let arch = model.config().name().to_string();
    if arch != asked.model {
        return Err(mismatch("model", arch, asked.model.clone()));
    }
    for (what, a, b) in [
        ("data", &stored.data, &asked.data),
        (
            "regime",
            &stored.regime.to_string(),
            &asked.regime.to_string(),
        ),
    ] {
        if a != b {
            return Err(mismatch(what, a.clone(), b.clone()));
        }
    }
    if stored.seed != asked.seed || stored.batch_size != asked.batch_size {
        return Err(mismatch(
            "seed/batch size",
            format!("{}/{}", stored.seed, stored.batch_size),
            format!("{}/{}", asked.seed, asked.batch_size),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_loss::ContinuityTerm;

    #[test]
    fn regime_loss_is_ce_plus_alpha_ds_on_one_forward_and_checks_its_inputs() {
        let dev = Device::Cpu;
        let model = Model::new(
            Arch::SmallCnn,
            3,
            [3, 16, 16],
            None,
            Seed(1),
            DType::F64,
            &dev,
        )
        .unwrap();
        let x = Tensor::rand(0f64, 1f64, (4, 3, 16, 16), &dev).unwrap();
        let xp = Tensor::rand(0f64, 1f64, (4, 3, 16, 16), &dev).unwrap();
        let y = Tensor::new(&[0u32, 1, 2, 1], &dev).unwrap();
        let loss_fn = ContinuityLoss::new(0.5, ContinuityTerm::Ds).unwrap();
        let c = regime_loss(&model, Regime::C, &loss_fn, &x, &y, Some(&xp)).unwrap();
        // Independently: the same train-mode forward of [x; x'], CE on the
        // first half, mean squared logit distance between the halves.
        let both = model
            .forward_train(&Tensor::cat(&[&x, &xp], 0).unwrap())
            .unwrap();
        let (l, lp) = (both.narrow(0, 0, 4).unwrap(), both.narrow(0, 4, 4).unwrap());
        let lsm = candle_nn::ops::log_softmax(&l, D::Minus1)
            .unwrap()
            .to_vec2::<f64>()
            .unwrap();
        let ce: f64 = [0usize, 1, 2, 1]
            .iter()
            .enumerate()
            .map(|(i, &t)| -lsm[i][t])
            .sum::<f64>()
            / 4.0;
        let ds: f64 = (lp - &l)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            / 4.0;
        let total = c.total.to_scalar::<f64>().unwrap();
        assert!(
            (total - (ce + 0.5 * ds)).abs() < 1e-9 * (1.0 + total.abs()),
            "{total} vs {}",
            ce + 0.5 * ds
        );
        assert_eq!(c.clean_logits.dims(), &[4, 3]);

        let adv = regime_loss(&model, Regime::Adv, &loss_fn, &x, &y, Some(&xp)).unwrap();
        assert!(adv.continuity.is_none());
        let base = regime_loss(&model, Regime::Base, &loss_fn, &x, &y, None).unwrap();
        assert!(base.continuity.is_none());

        let err = |r, p: Option<&Tensor>| {
            regime_loss(&model, r, &loss_fn, &x, &y, p)
                .unwrap_err()
                .to_string()
        };
        assert!(err(Regime::Base, Some(&xp)).contains("base takes no perturbed"));
        assert!(err(Regime::AdvC, None).contains("adv-c needs the perturbed"));
        let small = xp.narrow(0, 0, 2).unwrap();
        assert!(err(Regime::C, Some(&small)).contains("shape"));
    }
}
