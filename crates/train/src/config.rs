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
    /// A standard preset.
    Cifar10,
    Cifar100,
    Imagenet,
    Mnist,
}

/// Every option of a training run. Unknown keys and wrong types are errors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The data set (`--data` syntax, e.g. `shapes` or `cifar100:DIR`).
    pub data: String,
    /// `small-cnn`, `resnet18` or `resnet50`.
    pub model: String,
    pub regime: Regime,
    /// Weight of the continuity term (the paper: 1.0).
    pub alpha: f64,
    /// `ds` (the paper) or `kl` (TRADES-style).
    pub continuity: ContinuityTerm,
    /// Strength of the random photometric augmentation of regime C (1-4).
    pub augment_level: i64,
    pub epochs: u64,
    pub batch_size: usize,
    /// Base learning rate (the paper: Adam, 1e-5, for fine-tuning-scale runs
    /// on ImageNet/CIFAR-100; from scratch on small sets 1e-3 trains faster).
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// For `schedule = "step"`: multiply the rate by `step_gamma` every `step_epochs`.
    pub step_epochs: u64,
    pub step_gamma: f64,
    /// Clip the global gradient norm to this value (0 = off).
    pub grad_clip: f64,
    pub seed: u64,
    pub normalize: NormalizeChoice,
    /// PGD of the adversarial regimes (the paper, CIFAR: 8/255, 2/255, 10 steps).
    pub pgd_eps: Fraction,
    pub pgd_step: Fraction,
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
            epochs: 5,
            batch_size: 128,
            lr: 1e-3,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
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
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
                text.parse::<toml::Table>()
                    .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
            }
            None => toml::Table::new(),
        };
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
        if self.batch_size == 0 {
            return bad("batch_size = 0: expected at least 1".into());
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
}
