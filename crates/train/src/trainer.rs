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
use crate::parallel::{reduce_gradients, reduce_values, shard, Collective};
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
    #[cfg(test)]
    pub fn new(len: usize, size: usize) -> Result<Self> {
        Batching::for_world(len, size, 1)
    }

    /// The global batches of `len` images at `size` per batch, split among
    /// `world` processes: every process needs at least 2 images of every
    /// batch, so a final partial batch too small for that is dropped (with
    /// one process: exactly a final batch of one image).
    pub fn for_world(len: usize, size: usize, world: usize) -> Result<Self> {
        let least = 2 * world.max(1);
        if world > 1 && size < least {
            return Err(Error::Config(format!(
                "batch_size = {size} for {world} processes: each needs at least 2 images of every batch (BatchNorm); expected at least {least}"
            )));
        }
        let drop_last = len % size != 0 && len % size < least;
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
    train_with(config, run_dir, resume, device, observer, None)
}

/// [`train`] as one process of a data-parallel run ([`crate::parallel`]):
/// every process of `collective` calls it with the same arguments (each
/// with its own device); each computes its shard of every batch, the
/// gradients are summed across processes before each step, and only rank
/// 0 writes `run_dir` (config, checkpoints, metrics) and evaluates. The
/// report of the other ranks has no test accuracy.
pub fn train_data_parallel(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
    collective: &dyn Collective,
) -> Result<TrainReport> {
    if collective.world() == 0 || collective.rank() >= collective.world() {
        return Err(Error::Config(format!(
            "data-parallel rank {} of a world of {}: expected a rank below the world size",
            collective.rank(),
            collective.world()
        )));
    }
    train_with(config, run_dir, resume, device, observer, Some(collective))
}

fn train_with(
    config: &TrainConfig,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    observer: &mut dyn Observer,
    parallel: Option<&dyn Collective>,
) -> Result<TrainReport> {
    config.validate()?;
    let writer = parallel.is_none_or(|c| c.rank() == 0);
    let run = RunDir::new(run_dir);
    let (train_set, eval_set) = load_data(config)?;
    let world = parallel.map_or(1, |c| c.world());
    let batching = Batching::for_world(train_set.len(), config.batch_size, world)?;
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
    if writer {
        write_atomic(&run.config(), config.to_toml()?.as_bytes())?;
    }
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
        parallel,
        device,
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
            if writer && config.log_every > 0 && progress.global_step % config.log_every == 0 {
                let line = sums.line("step", epoch, progress.global_step, lr, elapsed());
                progress.metrics.push(line);
                write_metrics(&run, &progress.metrics)?;
            }
            if writer
                && config.checkpoint_every > 0
                && progress.global_step % config.checkpoint_every == 0
                && progress.step_in_epoch < batching.steps_per_epoch
            {
                progress.elapsed_seconds = elapsed();
                save(&run, &model, &optimizer, &progress, &train_set)?;
            }
        }
        let (test_accuracy, heldout_ds) = match &eval_set {
            Some(set) if writer => {
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
            _ => (None, None),
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
        if writer {
            save(&run, &model, &optimizer, &progress, &train_set)?;
            write_metrics(&run, &progress.metrics)?;
        }
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
    /// The other processes of a data-parallel run.
    parallel: Option<&'a dyn Collective>,
    device: &'a Device,
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
        // The whole global batch is augmented (the same draws on every
        // process), then each process keeps its shard.
        let x_all = self
            .crop_flip
            .apply(images, &mut step_seed.stream("crop-flip"))?;
        let n_all = x_all.dim(0)?;
        let (rank, world) = self.parallel.map_or((0, 1), |c| (c.rank(), c.world()));
        let (start, n) = shard(n_all, rank, world);
        let x = &x_all.narrow(0, start, n)?;
        let y = &y.narrow(0, start, n)?;
        let x_pert = match config.regime {
            Regime::Base => None,
            Regime::C => Some(
                self.augment
                    .apply(&x_all, &mut step_seed.stream("augment"))?
                    .narrow(0, start, n)?,
            ),
            Regime::Adv | Regime::AdvC => {
                let pgd_seed = if rank == 0 {
                    step_seed
                } else {
                    step_seed.index(rank as u64)
                };
                Some(self.pgd.perturb(model, x, y, &mut pgd_seed.stream("pgd"))?)
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
        let clean = clean_logits.or(eval_clean).ok_or_else(|| {
            Error::Config("internal: no clean logits for the training accuracy".into())
        })?;
        let mut loss_value: f64 = total.to_dtype(DType::F64)?.to_scalar()?;
        let mut ce_value: f64 = ce.to_dtype(DType::F64)?.to_scalar()?;
        let mut continuity_value = match &continuity {
            Some(c) => Some(c.to_dtype(DType::F64)?.to_scalar::<f64>()?),
            None => None,
        };
        let mut hits = correct(&clean, y)?;
        let mut adv_hits = match (config.regime.is_adversarial(), &perturbed_logits) {
            (true, Some(adv)) => Some(correct(adv, y)?),
            _ => None,
        };
        // The share of this process in the global mean (exactly 1 alone).
        let weight = n as f64 / n_all as f64;
        if let Some(c) = self.parallel {
            let local = [
                weight * loss_value,
                weight * ce_value,
                weight * continuity_value.unwrap_or(0.0),
                hits as f64,
                adv_hits.unwrap_or(0) as f64,
            ];
            let global = reduce_values(c, &local, self.device)?;
            loss_value = global[0];
            ce_value = global[1];
            continuity_value = continuity_value.map(|_| global[2]);
            hits = global[3] as usize;
            adv_hits = adv_hits.map(|_| global[4] as usize);
        }
        if !loss_value.is_finite() {
            return Err(Error::NonFinite {
                value: loss_value,
                epoch: progress.epoch,
                step: progress.step_in_epoch,
                global_step: progress.global_step,
            });
        }
        let mut grads = total.backward()?;
        if let Some(c) = self.parallel {
            let vars: Vec<_> = model.trainable_vars().into_iter().map(|(_, v)| v).collect();
            reduce_gradients(c, &mut grads, &vars, weight)?;
        }
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

        sums.loss += loss_value;
        sums.ce += ce_value;
        if let Some(c) = continuity_value {
            sums.continuity += c;
        }
        sums.correct += hits;
        sums.seen += n_all;
        if let Some(a) = adv_hits {
            sums.adv_correct += a;
            sums.adv_seen += n_all;
        }
        sums.batches += 1;
        Ok(n_all)
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

    #[test]
    fn a_final_batch_too_small_to_split_is_dropped() {
        let b = |len, size, world| Batching::for_world(len, size, world).unwrap();
        // 2 processes need 4 images of the last batch: 3 left over are dropped.
        assert!(b(35, 8, 2).drop_last);
        assert_eq!(b(35, 8, 2).steps_per_epoch, 4);
        assert!(!b(36, 8, 2).drop_last);
        assert_eq!(b(36, 8, 2).steps_per_epoch, 5);
        assert_eq!(b(129, 64, 1), Batching::new(129, 64).unwrap());
        assert!(Batching::for_world(64, 7, 4)
            .unwrap_err()
            .to_string()
            .contains("at least 8"));
    }

    fn parallel_config() -> TrainConfig {
        TrainConfig {
            data: "shapes:n=26,test=6,size=16,seed=3".into(),
            regime: Regime::C,
            epochs: 2,
            batch_size: 8,
            eval_limit: 6,
            ..TrainConfig::default()
        }
    }

    /// Every trained tensor of the run's last checkpoint, by name.
    fn final_weights(dir: &Path) -> Vec<(String, Vec<f64>)> {
        let run = RunDir::new(dir);
        let stem = run.latest().unwrap().expect("a checkpoint");
        let restored = restore(&run, &stem, &Device::Cpu).unwrap();
        restored
            .model
            .named_vars()
            .into_iter()
            .map(|(k, v)| {
                let values = v.flatten_all().unwrap().to_dtype(DType::F64).unwrap();
                (k, values.to_vec1().unwrap())
            })
            .collect()
    }

    /// A data-parallel world of one takes exactly plain training's steps:
    /// its shard is the batch and its gradient weight exactly 1.
    #[test]
    fn one_process_data_parallel_equals_plain_training() {
        let config = parallel_config();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("plain"), dir.path().join("dp1"));
        let plain = train(&config, &a, false, &Device::Cpu, &mut crate::NoObserver).unwrap();
        let one = crate::parallel::tests::Threads::world(1).remove(0);
        let dp = train_data_parallel(
            &config,
            &b,
            false,
            &Device::Cpu,
            &mut crate::NoObserver,
            &one,
        )
        .unwrap();
        assert_eq!(plain.global_steps, 8);
        assert_eq!(plain.global_steps, dp.global_steps);
        assert_eq!(plain.test_accuracy, dp.test_accuracy);
        assert_eq!(plain.train_accuracy, dp.train_accuracy);
        assert_eq!(final_weights(&a), final_weights(&b));
    }

    /// Two processes (threads): both see the same global losses and
    /// accuracies at every step (the sums are all-reduced), count every
    /// image of the global batch, and only rank 0 writes the run.
    #[test]
    fn two_processes_share_their_steps_and_rank_0_writes() {
        #[derive(Default)]
        struct Steps(Vec<(f64, f64)>);
        impl Observer for Steps {
            fn step(&mut self, info: &StepInfo) {
                self.0.push((info.loss, info.accuracy));
            }
        }
        let config = parallel_config();
        let dir = tempfile::tempdir().unwrap();
        let runs = [dir.path().join("rank0"), dir.path().join("rank1")];
        let results: Vec<(TrainReport, Vec<(f64, f64)>)> = std::thread::scope(|s| {
            let handles: Vec<_> = crate::parallel::tests::Threads::world(2)
                .into_iter()
                .zip(&runs)
                .map(|(c, run)| {
                    let config = &config;
                    s.spawn(move || {
                        let mut steps = Steps::default();
                        let r =
                            train_data_parallel(config, run, false, &Device::Cpu, &mut steps, &c)
                                .unwrap();
                        (r, steps.0)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let (r0, s0) = &results[0];
        let (r1, s1) = &results[1];
        assert_eq!(s0.len(), 6);
        assert_eq!(s0, s1);
        assert!(s0
            .iter()
            .all(|(l, a)| l.is_finite() && (0.0..=1.0).contains(a)));
        // 26 images in batches of 8: 3 steps of 8 (2 left over, fewer than
        // the 4 two processes need), accuracy over 24 images per epoch.
        let acc = r0.train_accuracy.unwrap();
        assert!((acc * 24.0 - (acc * 24.0).round()).abs() < 1e-9, "{acc}");
        assert_eq!(r0.train_accuracy, r1.train_accuracy);
        assert!(r0.test_accuracy.is_some());
        assert!(r1.test_accuracy.is_none());
        assert!(RunDir::new(&runs[0]).latest().unwrap().is_some());
        assert!(!runs[1].join("config.toml").exists());
        assert!(RunDir::new(&runs[1]).latest().unwrap().is_none());
    }
}
