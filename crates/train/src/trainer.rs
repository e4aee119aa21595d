//! The training loop: batches in an order drawn from (seed, epoch), the
//! step's augmentation and PGD starts from (seed, global step), the regime's
//! loss, the optimiser step, metrics and checkpoints.
//!
//! A final batch of a single image (training-set size % batch size == 1) is
//! dropped: a train-mode forward pass needs two images (BatchNorm's batch
//! statistics of one image are degenerate wherever a feature map is 1x1;
//! `Model::forward_train` refuses, as PyTorch does). The order is reshuffled
//! every epoch, so the image left out differs from epoch to epoch.

use crate::augment::CropFlip;
use crate::checkpoint::{restore, save, Progress};
use crate::config::{Regime, TrainConfig};
use crate::init::initial_model;
use crate::loss::{regime_loss, StepLoss};
use crate::metrics::{
    write_metrics, EpochMetrics, InitInfo, Observer, StepInfo, Sums, TrainReport,
};
use crate::optim::{Hyper, Optimizer};
use crate::resume::check_resume;
use crate::run::{write_atomic, RunDir};
use crate::schedule::Position;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor, D};
use sc_attack::{Attack, Norm, Pgd, PgdConfig, ThreatModel};
use sc_core::{Classifier, Level, Seed};
use sc_data::{DataSpec, ImageSet, Order};
use sc_loss::ContinuityLoss;
use sc_models::Model;
use sc_perturb::Perturbation;
use std::path::Path;
use std::time::Instant;

/// How a training set is cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Batching {
    /// Images per batch.
    pub size: usize,
    /// Whether the last, partial batch is dropped (exactly when it would
    /// hold a single image).
    pub drop_last: bool,
    /// Batches per epoch.
    pub steps_per_epoch: u64,
}

impl Batching {
    /// The batches of `len` images at `size` per batch.
    pub fn new(len: usize, size: usize) -> Result<Self> {
        let drop_last = len % size == 1;
        let steps = if drop_last {
            len / size
        } else {
            len.div_ceil(size)
        };
        if size < 2 || steps == 0 {
            return Err(Error::Config(format!(
                "a training set of {len} image(s) in batches of {size}: a training batch needs at least 2 images (BatchNorm)"
            )));
        }
        Ok(Batching {
            size,
            drop_last,
            steps_per_epoch: steps as u64,
        })
    }
}

/// The variables the optimiser updates: every trainable one, or with
/// `freeze_backbone` only the final layer's (`fc.*`, the layer
/// [`Model::with_new_head`] replaces).
fn trained_vars(model: &Model, config: &TrainConfig) -> Vec<(String, candle_core::Var)> {
    model
        .trainable_vars()
        .into_iter()
        .filter(|(name, _)| !config.freeze_backbone || name.starts_with("fc."))
        .collect()
}

/// Trains as `config` says, in `run_dir`; with `resume`, continues from the
/// run's last complete checkpoint. A resumed run must ask for the stored
/// configuration, except `epochs` (see [`TrainConfig::resolve_resumed`] and
/// the crate docs on what a schedule allows).
pub fn train(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
) -> Result<TrainReport> {
    config.validate()?;
    let run = RunDir::new(run_dir);
    let (train_set, eval_set) = load_data(config)?;
    let batching = Batching::new(train_set.len(), config.batch_size)?;
    let [_, h, w] = train_set.image_shape();
    if config.crop_padding >= h.min(w) {
        return Err(Error::Config(format!(
            "crop_padding = {}: expected less than the image side ({h}x{w})",
            config.crop_padding
        )));
    }

    let (model, mut progress, optimizer_state, init) = match (run.latest()?, resume) {
        (Some(stem), true) => {
            let restored = restore(&run, &stem, device)?;
            let p = &restored.progress;
            let begun = p.epoch + u64::from(p.step_in_epoch > 0);
            check_resume(&p.config, config, p.global_step, begun)?;
            (
                restored.model,
                restored.progress,
                Some(restored.optimizer_state),
                None,
            )
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
            let (model, init) = initial_model(config, &train_set, device)?;
            (model, Progress::start(config), None, init)
        }
    };
    progress.config = config.clone();
    write_atomic(&run.config(), config.to_toml()?.as_bytes())?;
    if let Some(init) = &init {
        observer.init(init);
    }

    let hyper = Hyper {
        momentum: config.momentum,
        nesterov: config.nesterov,
        weight_decay: config.weight_decay,
        ..Hyper::default()
    };
    let mut optimizer = Optimizer::new(config.optimizer, trained_vars(&model, config), hyper);
    if let Some(state) = &optimizer_state {
        optimizer.load_state(state, progress.optimizer_steps)?;
    }

    let loop_ = Loop {
        config,
        model: &model,
        loss_fn: ContinuityLoss::new(config.alpha, config.continuity)?,
        augment: config.augment.at_level(Level::new(config.augment_level)?),
        crop_flip: CropFlip {
            padding: config.crop_padding,
            hflip: config.hflip,
        },
        pgd: Pgd::new(PgdConfig::new(
            ThreatModel::new(Norm::Linf, config.pgd_eps.0)?,
            config.pgd_step.0,
            config.pgd_steps,
        ))?,
        seed: Seed(config.seed),
        batching,
        total_steps: batching.steps_per_epoch * config.epochs,
    };
    observer.start(config, batching.steps_per_epoch, progress.global_step);
    let started = Instant::now();
    let elapsed_before = progress.elapsed_seconds;
    let elapsed = || elapsed_before + started.elapsed().as_secs_f64();

    while progress.epoch < config.epochs {
        let epoch = progress.epoch;
        let order = Order::Shuffled {
            seed: loop_.seed.derive("data-order"),
            epoch,
        };
        let mut sums = Sums::default();
        let batches = train_set.batches(batching.size, order, batching.drop_last, device)?;
        for batch in batches.skip(progress.step_in_epoch as usize) {
            let batch = batch?;
            let step_started = Instant::now();
            let lr = loop_.rate(progress.global_step);
            let n = loop_.step(
                &batch.images,
                &batch.labels,
                &progress,
                lr,
                &mut optimizer,
                &mut sums,
            )?;
            progress.step_in_epoch += 1;
            progress.global_step += 1;
            progress.optimizer_steps = optimizer.steps();
            observer.step(&StepInfo {
                epoch,
                step: progress.step_in_epoch,
                steps_per_epoch: batching.steps_per_epoch,
                global_step: progress.global_step,
                loss: sums.loss / sums.batches as f64,
                ce: sums.ce / sums.batches as f64,
                continuity: sums.continuity / sums.batches as f64,
                accuracy: sums.accuracy(),
                adv_accuracy: sums.adv_accuracy(),
                images_per_second: n as f64 / step_started.elapsed().as_secs_f64().max(1e-9),
                lr,
            });
            if config.log_every > 0 && progress.global_step % config.log_every == 0 {
                let line = sums.line("step", epoch, progress.global_step, lr, elapsed());
                progress.metrics.push(line);
                write_metrics(&run, &progress.metrics)?;
            }
            if config.checkpoint_every > 0
                && progress.global_step % config.checkpoint_every == 0
                && progress.step_in_epoch < batching.steps_per_epoch
            {
                progress.elapsed_seconds = elapsed();
                save(&run, &model, &optimizer, &progress, &train_set)?;
            }
        }
        let (test_accuracy, heldout_ds) = match &eval_set {
            Some(set) => {
                let (acc, ds) = evaluate(
                    &model,
                    set,
                    loop_.augment.as_ref(),
                    loop_.seed,
                    batching.size,
                    device,
                )?;
                (Some(acc), Some(ds))
            }
            None => (None, None),
        };
        progress.epoch += 1;
        progress.step_in_epoch = 0;
        let lr_now = loop_.rate(progress.global_step.saturating_sub(1));
        let m = EpochMetrics {
            test_accuracy,
            heldout_ds,
            ..sums.line("epoch", epoch, progress.global_step, lr_now, elapsed())
        };
        progress.metrics.push(m.clone());
        progress.elapsed_seconds = elapsed();
        save(&run, &model, &optimizer, &progress, &train_set)?;
        write_metrics(&run, &progress.metrics)?;
        observer.epoch(&m);
    }
    Ok(report(run_dir, &progress, init))
}

/// The training split (at most `train_limit` images) and the evaluation
/// split (at most `eval_limit`), if the data has one.
fn load_data(config: &TrainConfig) -> Result<(ImageSet, Option<ImageSet>)> {
    let spec: DataSpec = config.data.parse()?;
    let data = spec.load()?;
    let train_set = data
        .train
        .as_ref()
        .ok_or_else(|| Error::Config(format!("data = {:?} has no training split", config.data)))?;
    let limit = |set: &ImageSet, n: usize| if n > 0 { set.take(n) } else { set.clone() };
    let train_set = limit(train_set, config.train_limit);
    let eval_set = data.test.as_ref().map(|t| limit(t, config.eval_limit));
    Ok((train_set, eval_set))
}

/// What every step of a run shares.
struct Loop<'a> {
    config: &'a TrainConfig,
    model: &'a Model,
    loss_fn: ContinuityLoss,
    augment: Box<dyn Perturbation>,
    crop_flip: CropFlip,
    pgd: Pgd,
    seed: Seed,
    batching: Batching,
    total_steps: u64,
}

impl Loop<'_> {
    /// The learning rate of zero-based global step `step`.
    fn rate(&self, step: u64) -> f64 {
        let c = self.config;
        c.schedule.rate(
            c.lr,
            Position {
                step,
                total: self.total_steps,
                per_epoch: self.batching.steps_per_epoch,
            },
            c.step_epochs,
            c.step_gamma,
        )
    }

    /// One optimisation step on the batch `(images, y)`; adds to `sums` and
    /// returns the batch size.
    fn step(
        &self,
        images: &Tensor,
        y: &Tensor,
        progress: &Progress,
        lr: f64,
        optimizer: &mut Optimizer,
        sums: &mut Sums,
    ) -> Result<usize> {
        let (config, model) = (self.config, self.model);
        let step_seed = self.seed.index(progress.global_step);
        let x = self
            .crop_flip
            .apply(images, &mut step_seed.stream("crop-flip"))?;
        let x = &x;
        let n = x.dim(0)?;
        let x_pert = match config.regime {
            Regime::Base => None,
            Regime::C => Some(self.augment.apply(x, &mut step_seed.stream("augment"))?),
            Regime::Adv | Regime::AdvC => {
                Some(
                    self.pgd
                        .perturb(model, x, y, &mut step_seed.stream("pgd"))?,
                )
            }
        };
        // ADV's forward pass sees only PGD images: its clean accuracy comes
        // from an eval-mode pass with the weights PGD attacked.
        let eval_clean = match config.regime {
            Regime::Adv => Some(model.logits(x)?),
            _ => None,
        };
        let StepLoss {
            total,
            ce,
            continuity,
            clean_logits,
            perturbed_logits,
        } = regime_loss(model, config.regime, &self.loss_fn, x, y, x_pert.as_ref())?;
        let loss_value: f64 = total.to_dtype(DType::F64)?.to_scalar()?;
        if !loss_value.is_finite() {
            return Err(Error::NonFinite {
                value: loss_value,
                epoch: progress.epoch,
                step: progress.step_in_epoch,
                global_step: progress.global_step,
            });
        }
        let grads = total.backward()?;
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

        let clean = clean_logits.or(eval_clean).ok_or_else(|| {
            Error::Config("internal: no clean logits for the training accuracy".into())
        })?;
        sums.loss += loss_value;
        sums.ce += ce.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        if let Some(c) = &continuity {
            sums.continuity += c.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
        sums.correct += correct(&clean, y)?;
        sums.seen += n;
        if config.regime.is_adversarial() {
            if let Some(adv) = &perturbed_logits {
                sums.adv_correct += correct(adv, y)?;
                sums.adv_seen += n;
            }
        }
        sums.batches += 1;
        Ok(n)
    }
}

/// How many rows of `logits` predict their label in `y`.
fn correct(logits: &Tensor, y: &Tensor) -> Result<usize> {
    let hits: f64 = logits
        .argmax(D::Minus1)?
        .eq(y)?
        .to_dtype(DType::F64)?
        .sum_all()?
        .to_scalar()?;
    Ok(hits as usize)
}

fn report(run_dir: &Path, progress: &Progress, init: Option<InitInfo>) -> TrainReport {
    let last = progress.metrics.iter().rev().find(|m| m.kind == "epoch");
    TrainReport {
        run: run_dir.display().to_string(),
        epochs: progress.epoch,
        global_steps: progress.global_step,
        test_accuracy: last.and_then(|m| m.test_accuracy),
        heldout_ds: last.and_then(|m| m.heldout_ds),
        train_accuracy: last.map(|m| m.train_accuracy),
        train_adv_accuracy: last.and_then(|m| m.train_adv_accuracy),
        seconds: progress.elapsed_seconds,
        checkpoint: RunDir::stem(progress.global_step),
        init,
    }
}

/// Test accuracy and mean held-out DS under the run's photometric augmentation.
fn evaluate(
    model: &Model,
    set: &ImageSet,
    augment: &dyn Perturbation,
    seed: Seed,
    batch_size: usize,
    device: &Device,
) -> Result<(f64, f64)> {
    let mut hits = 0;
    let mut ds_sum = 0.0;
    let mut rng = seed.stream("heldout-pairs");
    for batch in set.batches(batch_size, Order::Sequential, false, device)? {
        let batch = batch?;
        let logits = model.logits(&batch.images)?;
        let pert = model.logits(&augment.apply(&batch.images, &mut rng)?)?;
        hits += correct(&logits, &batch.labels)?;
        ds_sum += sc_loss::ds(&logits, &pert)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?;
    }
    let n = set.len().max(1) as f64;
    Ok((hits as f64 / n, ds_sum / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_final_batch_of_one_is_dropped() {
        let b = |len, size| Batching::new(len, size).unwrap();
        assert_eq!(b(129, 64).steps_per_epoch, 2);
        assert!(b(129, 64).drop_last);
        assert_eq!(b(130, 64).steps_per_epoch, 3);
        assert!(!b(130, 64).drop_last);
        assert_eq!(b(128, 64).steps_per_epoch, 2);
        assert_eq!(b(65, 2).steps_per_epoch, 32);
        assert!(Batching::new(1, 64)
            .unwrap_err()
            .to_string()
            .contains("1 image"));
        assert!(Batching::new(5, 1)
            .unwrap_err()
            .to_string()
            .contains("at least 2"));
    }

    #[test]
    fn a_frozen_backbone_keeps_every_weight_but_the_final_layers() {
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            data: "shapes:n=16,test=4,size=16,seed=2".into(),
            epochs: 1,
            batch_size: 8,
            freeze_backbone: true,
            ..TrainConfig::default()
        };
        let (train_set, _) = load_data(&config).unwrap();
        let (start, _) = initial_model(&config, &train_set, &dev).unwrap();
        let report = train(&config, dir.path(), false, &dev, &mut crate::NoObserver).unwrap();
        let run = RunDir::new(dir.path());
        let stem = run.latest().unwrap().unwrap();
        let (end, _) = sc_models::load_checkpoint(run.checkpoints(), &stem, &dev).unwrap();
        assert_eq!(report.global_steps, 2);
        let values = |m: &Model| -> Vec<(String, Vec<f32>)> {
            m.trainable_vars()
                .into_iter()
                .map(|(k, v)| (k, v.as_tensor().flatten_all().unwrap().to_vec1().unwrap()))
                .collect()
        };
        let (before, after) = (values(&start), values(&end));
        assert_eq!(before.len(), after.len());
        let mut head = 0;
        for ((name, b), (name2, a)) in before.iter().zip(&after) {
            assert_eq!(name, name2);
            if name.starts_with("fc.") {
                head += 1;
                assert_ne!(a, b, "{name} did not train");
            } else {
                assert_eq!(a, b, "{name} changed with a frozen backbone");
            }
        }
        assert_eq!(head, 2, "fc.weight and fc.bias");
    }
}
