//! The training configuration: every option can come from a TOML file and
//! be overridden on the command line; the resolved configuration is written
//! to `runs/<name>/config.toml`.

use crate::optim::OptimizerKind;
use crate::schedule::Schedule;
use crate::{Error, Result};
use sc_core::Fraction;
use sc_loss::ContinuityTerm;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The four training regimes of the paper (Sec. 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    /// Cross-entropy on clean images.
    Base,
    /// `CE(F(x)) + alpha * DS(x, P(x))`, P the random photometric augmentation.
    C,
    /// PGD adversarial training: CE on the adversarial images (Madry et al. 2018).
    Adv,
    /// `CE(F(x)) + alpha * DS(x, x_adv)`: Adversarial Logit Pairing.
    AdvC,
}

impl Regime {
    /// All regimes in the paper's order.
    pub const ALL: [Regime; 4] = [Regime::Base, Regime::C, Regime::Adv, Regime::AdvC];

    /// `base`, `c`, `adv` or `adv-c`.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Base => "base",
            Regime::C => "c",
            Regime::Adv => "adv",
            Regime::AdvC => "adv-c",
        }
    }

    /// Whether the regime needs adversarial examples.
    pub fn is_adversarial(self) -> bool {
        matches!(self, Regime::Adv | Regime::AdvC)
    }
}

impl FromStr for Regime {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Regime::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| Error::Config(format!("regime {s:?}: expected base, c, adv or adv-c")))
    }
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the model's first layer normalises pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormalizeChoice {
    /// Per-channel mean and std of the training split.
    Data,
    /// No normalisation.
    None,
    /// The CIFAR-10 training set's mean and std.
    Cifar10,
    /// The CIFAR-100 training set's mean and std.
    Cifar100,
    /// ImageNet's mean and std (torchvision's pretrained models).
    Imagenet,
    /// MNIST's mean and std.
    Mnist,
}

/// The photometric augmentation `P(x)` of regime C (and of the held-out DS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentChoice {
    /// The paper's: one of brightness, contrast, saturation, hue per image,
    /// at a random strength up to `augment_level` ([`sc_perturb::RandomPhotometric`]).
    OneOf,
    /// All four at once, ColorJitter-style ([`sc_perturb::photometric::PhotometricJitter`]).
    Jitter,
}

impl AugmentChoice {
    /// The augmentation at `level`.
    pub fn at_level(self, level: sc_core::Level) -> Box<dyn sc_perturb::Perturbation> {
        match self {
            AugmentChoice::OneOf => Box::new(sc_perturb::RandomPhotometric::new(level)),
            AugmentChoice::Jitter => {
                Box::new(sc_perturb::photometric::PhotometricJitter::new(level))
            }
        }
    }
}

/// Every option of a training run. Unknown keys and wrong types are errors.
///
/// The defaults are the quick study's recipe (`cargo xtask reproduce`:
/// batch 64, Adam at 3e-3 with a cosine schedule, 10 epochs), which trains
/// the small CNN on `shapes` from scratch to ~97% test accuracy; the paper's
/// Adam at 1e-5 is a fine-tuning rate (use it with `init`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The data set (`--data` syntax, e.g. `shapes` or `cifar100:DIR`).
    pub data: String,
    /// `small-cnn`, `resnet18` or `resnet50`.
    pub model: String,
    /// The training regime (Sec. 4.1).
    pub regime: Regime,
    /// Weight of the continuity term (the paper: 1.0).
    pub alpha: f64,
    /// `ds` (the paper) or `kl` (TRADES-style).
    pub continuity: ContinuityTerm,
    /// Strength of the random photometric augmentation of regime C (1-4).
    pub augment_level: i64,
    /// Which photometric augmentation regime C uses: `one-of` (the paper) or `jitter`.
    pub augment: AugmentChoice,
    /// Random crop after zero padding by this many pixels on each side
    /// (torchvision's `RandomCrop(size, padding=p)`; CIFAR: 4); 0 = off.
    pub crop_padding: usize,
    /// Random horizontal flip with probability 1/2.
    pub hflip: bool,
    /// Start from these weights instead of a fresh initialisation: a run
    /// directory (its last checkpoint) or a `.safetensors` file. A different
    /// class count replaces the final layer with one drawn from the seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    /// Train only the final layer (`fc`), keeping every other weight as
    /// initialised: the linear-probe variant of transfer (Sec. 4.6
    /// fine-tunes all layers, the default). BatchNorm running statistics
    /// still follow the new data, as in PyTorch when parameters are frozen
    /// with `requires_grad = False` and the model is in train mode.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub freeze_backbone: bool,
    /// Epochs of the run (the only key a resumed run may change).
    pub epochs: u64,
    /// Images per optimisation step (at least 2; a final batch of one image
    /// is dropped).
    pub batch_size: usize,
    /// Base learning rate (the paper: Adam, 1e-5, for fine-tuning-scale runs
    /// on ImageNet/CIFAR-100; from scratch on small sets 1e-3 trains faster).
    pub lr: f64,
    /// `adam` (the paper) or `sgd`.
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD with Nesterov momentum.
    pub nesterov: bool,
    /// L2 weight decay added to the gradient (PyTorch's `weight_decay`).
    pub weight_decay: f64,
    /// Learning-rate schedule over the run: `constant`, `step`, `cosine`
    /// (default) or `one-cycle`.
    pub schedule: Schedule,
    /// For `schedule = "step"`: multiply the rate by `step_gamma` every `step_epochs`.
    pub step_epochs: u64,
    /// For `schedule = "step"`: the factor.
    pub step_gamma: f64,
    /// Clip the global gradient norm to this value (0 = off).
    pub grad_clip: f64,
    /// The seed every random choice of the run derives from.
    pub seed: u64,
    /// The model's first-layer normalisation (ignored with `init`, whose
    /// model keeps its own when it has one).
    pub normalize: NormalizeChoice,
    /// PGD of the adversarial regimes (the paper, CIFAR: 8/255, 2/255, 10 steps).
    pub pgd_eps: Fraction,
    /// PGD step size.
    pub pgd_step: Fraction,
    /// PGD iterations.
    pub pgd_steps: usize,
    /// Also checkpoint every N optimisation steps (0 = only at epoch ends).
    pub checkpoint_every: u64,
    /// Checkpoints kept (the newest; at least 1).
    pub keep_checkpoints: usize,
    /// Also log a metrics line every N steps (0 = only at epoch ends).
    pub log_every: u64,
    /// Test images used for the per-epoch evaluation (0 = all).
    pub eval_limit: usize,
    /// Use only the first N training images (0 = all).
    pub train_limit: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: "shapes".into(),
            model: "small-cnn".into(),
            regime: Regime::Base,
            alpha: 1.0,
            continuity: ContinuityTerm::Ds,
            augment_level: 2,
            augment: AugmentChoice::OneOf,
            crop_padding: 0,
            hflip: false,
            init: None,
            freeze_backbone: false,
            epochs: 10,
            batch_size: 64,
            lr: 3e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            schedule: Schedule::Cosine,
            step_epochs: 1,
            step_gamma: 0.1,
            grad_clip: 0.0,
            seed: 0,
            normalize: NormalizeChoice::Data,
            pgd_eps: Fraction(8.0 / 255.0),
            pgd_step: Fraction(2.0 / 255.0),
            pgd_steps: 10,
            checkpoint_every: 0,
            keep_checkpoints: 3,
            log_every: 0,
            eval_limit: 2000,
            train_limit: 0,
        }
    }
}

impl TrainConfig {
    /// The configuration from an optional TOML file, with `overrides`
    /// (`key`, `value` as written on the command line) applied on top.
    pub fn resolve(file: Option<&Path>, overrides: &[(String, String)]) -> Result<Self> {
        Self::resolve_on(toml::Table::new(), file, overrides)
    }

    /// The configuration of a run being resumed: the run's stored
    /// `config.toml`, with `file` and `overrides` applied on top. Only
    /// `epochs` may change; any other key that would change is an error
    /// naming the key and both values, so the stored configuration always
    /// describes the run.
    pub fn resolve_resumed(
        stored: &Path,
        file: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        let table = read_table(stored)?;
        let before = Self::resolve_on(table.clone(), None, &[])?;
        let after = Self::resolve_on(table, file, overrides)?;
        before.check_resumable_as(&after, &stored.display().to_string())?;
        Ok(after)
    }

    /// An error if `asked` differs from this (stored) configuration in any
    /// key other than `epochs`; `what` names where this configuration is
    /// stored.
    pub fn check_resumable_as(&self, asked: &TrainConfig, what: &str) -> Result<()> {
        let changed: Vec<String> = self
            .differences(asked)?
            .into_iter()
            .filter(|(key, ..)| key != "epochs")
            .map(|(key, was, now)| format!("`{key}` is {was} in the run but {now} here"))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "cannot resume with a changed configuration ({what}): {}; only `epochs` may change (start a new run, or fine-tune from this one with init)",
            changed.join(", ")
        )))
    }

    /// Every key whose value differs: `(key, value here, value in other)`,
    /// the values as TOML (`(unset)` for an absent optional key).
    pub fn differences(&self, other: &TrainConfig) -> Result<Vec<(String, String, String)>> {
        let table = |c: &TrainConfig| -> Result<toml::Table> {
            toml::Table::try_from(c)
                .map_err(|e| Error::Config(format!("cannot write the configuration: {e}")))
        };
        let (a, b) = (table(self)?, table(other)?);
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        let show = |v: Option<&toml::Value>| v.map_or("(unset)".into(), |v| v.to_string());
        Ok(keys
            .into_iter()
            .filter(|k| a.get(*k) != b.get(*k))
            .map(|k| (k.clone(), show(a.get(k)), show(b.get(k))))
            .collect())
    }

    fn resolve_on(
        base: toml::Table,
        file: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        let mut table = base;
        if let Some(path) = file {
            table.extend(read_table(path)?);
        }
        for (key, value) in overrides {
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(value.clone()));
            table.insert(key.clone(), parsed);
        }
        let source = file
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the command line".into());
        let config: TrainConfig =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    // Name the offending key: the first one that fails on its own.
                    let key = table.iter().find_map(|(k, v)| {
                        let mut one = toml::Table::new();
                        one.insert(k.clone(), v.clone());
                        toml::Value::Table(one)
                            .try_into::<TrainConfig>()
                            .err()
                            .map(|_| k.clone())
                    });
                    match key {
                        Some(k) => Error::Config(format!("{source}: key `{k}`: {}", e.message())),
                        None => Error::Config(format!("{source}: {}", e.message())),
                    }
                })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges that types cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return bad(format!(
                "alpha = {}: expected a finite number >= 0",
                self.alpha
            ));
        }
        if !(1..=4).contains(&self.augment_level) {
            return bad(format!(
                "augment_level = {}: expected 1, 2, 3 or 4",
                self.augment_level
            ));
        }
        if self.epochs == 0 {
            return bad("epochs = 0: expected at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size = {}: expected at least 2 (BatchNorm's batch statistics need two images)",
                self.batch_size
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr = {}: expected a positive number", self.lr));
        }
        for (name, v) in [
            ("momentum", self.momentum),
            ("weight_decay", self.weight_decay),
            ("grad_clip", self.grad_clip),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v}: expected a finite number >= 0"));
            }
        }
        if self.pgd_eps.0 < 0.0 || self.pgd_step.0 <= 0.0 || self.pgd_steps == 0 {
            return bad(format!(
                "pgd_eps = {}, pgd_step = {}, pgd_steps = {}: expected eps >= 0, step > 0, steps >= 1",
                self.pgd_eps, self.pgd_step, self.pgd_steps
            ));
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints = 0: expected at least 1".into());
        }
        if self.step_epochs == 0 {
            return bad("step_epochs = 0: expected at least 1".into());
        }
        Ok(())
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self)
            .map_err(|e| Error::Config(format!("cannot write the configuration: {e}")))
    }
}

fn read_table(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ov(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_then_overrides_then_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "regime = \"adv-c\"\nalpha = 0.5\npgd_eps = \"4/255\"\nepochs = 3\n",
        )
        .unwrap();
        let c = TrainConfig::resolve(
            Some(&f),
            &ov(&[("alpha", "2"), ("optimizer", "sgd"), ("data", "shapes:500")]),
        )
        .unwrap();
        assert_eq!(c.regime, Regime::AdvC);
        assert_eq!(c.alpha, 2.0);
        assert_eq!(c.optimizer, OptimizerKind::Sgd);
        assert_eq!(c.pgd_eps.0, 4.0 / 255.0);
        assert_eq!(c.epochs, 3);
        assert_eq!(c.data, "shapes:500");
        let again = TrainConfig::resolve(None, &[]).unwrap();
        assert_eq!(again, TrainConfig::default());
        let text = c.to_toml().unwrap();
        std::fs::write(&f, &text).unwrap();
        assert_eq!(TrainConfig::resolve(Some(&f), &[]).unwrap(), c);
    }

    #[test]
    fn bad_keys_types_and_ranges_are_named() {
        let e = |o: &[(&str, &str)]| TrainConfig::resolve(None, &ov(o)).unwrap_err().to_string();
        assert!(
            e(&[("learning_rate", "0.1")]).contains("learning_rate"),
            "{}",
            e(&[("learning_rate", "0.1")])
        );
        assert!(
            e(&[("epochs", "\"five\"")]).contains("epochs")
                || e(&[("epochs", "\"five\"")]).contains("integer")
        );
        assert!(e(&[("alpha", "-1")]).contains("alpha"));
        assert!(e(&[("regime", "fancy")]).contains("fancy"));
        assert!(e(&[("augment_level", "7")]).contains("augment_level"));
        assert!(e(&[("pgd_eps", "\"8/0\"")]).contains("division by zero"));
    }

    #[test]
    fn a_resumed_config_is_the_stored_one_and_only_epochs_may_change() {
        let dir = tempfile::tempdir().unwrap();
        let stored = dir.path().join("config.toml");
        let run = TrainConfig::resolve(None, &ov(&[("lr", "0.003"), ("regime", "c")])).unwrap();
        std::fs::write(&stored, run.to_toml().unwrap()).unwrap();
        // Nothing given: the stored configuration, not the defaults.
        let same = TrainConfig::resolve_resumed(&stored, None, &[]).unwrap();
        assert_eq!(same, run);
        let longer = TrainConfig::resolve_resumed(&stored, None, &ov(&[("epochs", "30")])).unwrap();
        assert_eq!(
            longer,
            TrainConfig {
                epochs: 30,
                ..run.clone()
            }
        );
        // Repeating a stored value is fine; changing one is named with both values.
        TrainConfig::resolve_resumed(&stored, None, &ov(&[("regime", "c")])).unwrap();
        let e = TrainConfig::resolve_resumed(&stored, None, &ov(&[("lr", "0.5"), ("seed", "3")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`lr` is 0.003 in the run but 0.5 here"), "{e}");
        assert!(e.contains("`seed` is 0 in the run but 3 here"), "{e}");
        let file = dir.path().join("other.toml");
        std::fs::write(&file, "optimizer = \"sgd\"\n").unwrap();
        let e = TrainConfig::resolve_resumed(&stored, Some(&file), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`optimizer`") && e.contains("adam") && e.contains("sgd"),
            "{e}"
        );
    }
}
