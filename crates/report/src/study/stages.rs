//! The JSON each stage of a study writes (`sc-bench ... --json`), as typed
//! records: only the fields the report reads; the files hold more.
//! Reading a stage file through these types is what makes
//! `sc-bench report` work from the JSON alone.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a stage's numbers come from (`meta` of every `sc-bench` JSON):
/// enough to tell two runs apart and to find the exact weights again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The seed of the stage's own randomness (training, attack starts,
    /// perturbations).
    pub seed: Option<u64>,
    /// The device it ran on (`cpu`, `cuda:0`).
    pub device: String,
    /// `sc-bench --version`.
    pub semcon_version: String,
    /// SHA-256 of the run's `config.toml` (training runs).
    pub config_sha256: Option<String>,
    /// The checkpoint used (its stem).
    pub checkpoint: Option<String>,
    /// SHA-256 of the checkpoint's weights file.
    pub checkpoint_sha256: Option<String>,
}

/// The settings of a training run that the "departs from the paper"
/// section compares (`config` of `sc-bench train --json`; the run's
/// `config.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The data set (`--data` syntax).
    pub data: String,
    /// The architecture.
    pub model: String,
    /// Weight of the continuity term (the paper: 1.0).
    pub alpha: f64,
    /// `ds` (the paper) or `kl`.
    pub continuity: String,
    /// Strength of regime C's photometric augmentation (1-4).
    pub augment_level: i64,
    /// `one-of` (the paper's P(x)) or `jitter`.
    pub augment: String,
    /// Random-crop padding (0 = off).
    pub crop_padding: usize,
    /// Random horizontal flips.
    pub hflip: bool,
    /// Starting weights, when fine-tuned.
    #[serde(default)]
    pub init: Option<String>,
    /// Epochs.
    pub epochs: u64,
    /// Images per step.
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f64,
    /// `adam` or `sgd`.
    pub optimizer: String,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: String,
    /// Training PGD radius (L-inf).
    pub pgd_eps: f64,
    /// Training PGD step size.
    pub pgd_step: f64,
    /// Training PGD iterations.
    pub pgd_steps: usize,
    /// Training images used (0 = all).
    pub train_limit: usize,
}

/// `sc-bench train --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// The regime (`base`, `c`, `adv`, `adv-c`).
    pub regime: String,
    /// The architecture.
    pub model: String,
    /// Test accuracy after the last epoch.
    pub test_accuracy: Option<f64>,
    /// Accuracy on the training batches of the last epoch (absent in files
    /// of older versions): beside the test accuracy, it tells whether a
    /// run overfits.
    #[serde(default)]
    pub train_accuracy: Option<f64>,
    /// Held-out DS after the last epoch.
    pub heldout_ds: Option<f64>,
    /// Epochs done.
    pub epochs: u64,
    /// Optimisation steps done.
    pub global_steps: u64,
    /// Training time, across resumes.
    pub seconds: f64,
    /// The run's configuration (absent in files of older versions).
    #[serde(default)]
    pub config: Option<TrainSettings>,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// One attack of an evaluation (`attacks[i]` of `sc-bench eval --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackStage {
    /// `pgd`, `apgd-ce`, `apgd-t`, ...
    pub name: String,
    /// Accuracy after this attack and every one before it (per-image worst case).
    pub accuracy: f64,
    /// Images it attacked (those still standing).
    pub attacked: usize,
    /// Images it broke.
    pub broken: usize,
    /// Its time.
    pub seconds: f64,
    /// Its parameters (eps, step, steps, restarts, ...).
    pub params: BTreeMap<String, f64>,
}

/// One sanity check of Carlini et al. 2019 (`sanity[i]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SanityCheck {
    /// Its name.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What it checks, in words.
    pub detail: String,
}

/// `sc-bench eval --json` (paper Table 2, with the per-image worst case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Clean accuracy.
    pub clean_accuracy: f64,
    /// Per-image worst case over every attack run.
    pub robust_accuracy: f64,
    /// True when only one attack ran (its number is an upper bound).
    pub upper_bound: bool,
    /// Images evaluated.
    pub n: usize,
    /// The attacks in order.
    pub attacks: Vec<AttackStage>,
    /// Images the sanity checks ran on.
    pub sanity_samples: usize,
    /// The sanity checks.
    pub sanity: Vec<SanityCheck>,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// One (kind, level) of a sweep (`entries[i]` of `sc-bench sweep --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepEntry {
    /// The perturbation kind.
    pub kind: String,
    /// Its level, 1-4.
    pub level: u8,
    /// Mean `DS(x, P(x))` over the images.
    pub mean_ds: f64,
    /// Accuracy on `P(x)`.
    pub accuracy: f64,
}

/// `sc-bench sweep --json` (paper Fig. 3 and Sec. 4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Images swept.
    pub images: usize,
    /// Accuracy on the unperturbed images.
    pub clean_accuracy: f64,
    /// How DS is reduced over classes and images.
    pub reduction: String,
    /// Mean DS between two different images of the same class (the Fig. 1
    /// reference): the unit of the scale-free DS. Absent in older files.
    #[serde(default)]
    pub same_class_ds: Option<f64>,
    /// The measured (kind, level) pairs.
    pub entries: Vec<SweepEntry>,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

impl SweepResult {
    /// The entry of `kind` at `level`.
    pub fn get(&self, kind: &str, level: u8) -> Option<&SweepEntry> {
        self.entries
            .iter()
            .find(|e| e.kind == kind && e.level == level)
    }
}

/// `metrics` of `sc-bench attribute --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionMetrics {
    /// Mean area under the deletion curve (lower = more faithful).
    pub deletion_auc: f64,
    /// Mean area under the insertion curve (higher = more faithful).
    pub insertion_auc: f64,
}

/// `sc-bench attribute --json` (paper Sec. 4.5, with numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionResult {
    /// The method (`ig`, `gradcam`, ...).
    pub method: String,
    /// Images scored.
    pub images: usize,
    /// Mean total variation over absolute mass (lower = smoother).
    pub mean_total_variation: f64,
    /// Mean share of the absolute mass on the object (sets with masks).
    pub mean_mass_on_object: Option<f64>,
    /// What an evenly spread map would score on `mean_mass_on_object`.
    pub mean_object_area: Option<f64>,
    /// Mean share of the absolute mass in the central box, on every set
    /// (absent in files of older versions).
    #[serde(default)]
    pub mean_mass_in_centre: Option<f64>,
    /// What an evenly spread map would score on `mean_mass_in_centre`.
    #[serde(default)]
    pub centre_area: Option<f64>,
    /// Deletion/insertion AUCs.
    pub metrics: AttributionMetrics,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// One (kind, level) of Fig. 1 (`fig1[i]` of `sc-bench probe discontinuity --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fig1Entry {
    /// The photometric kind.
    pub perturbation: String,
    /// Its level, 1-4.
    pub level: u8,
    /// Share of images `A` with a same-class image `B` closer than `A`'s
    /// perturbed version: `DS(A, B) < DS(A, P(A))` (paper Sec. 2.2).
    pub fraction: f64,
    /// Mean number of such same-class images per image.
    pub mean_rank: f64,
}

/// The trustworthiness (k = 5) of one Fig. 2 embedding: how well its
/// 2-D neighbourhoods keep the logits' neighbourhoods (1 = perfectly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingQuality {
    /// Trustworthiness of the 2-D layout.
    pub trustworthiness: f64,
}

/// `embeddings` of `sc-bench probe discontinuity --json` (paper Fig. 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embeddings {
    /// PCA.
    pub pca: EmbeddingQuality,
    /// t-SNE.
    pub tsne: EmbeddingQuality,
    /// UMAP.
    pub umap: EmbeddingQuality,
}

/// `fig2` of `sc-bench probe discontinuity --json`: what was embedded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fig2Summary {
    /// The embedded class's name.
    pub class_name: String,
    /// The anchor's position in the test split.
    pub anchor: usize,
    /// The level of the anchor's perturbed versions.
    pub level: u8,
    /// Points embedded.
    pub points: usize,
}

/// `sc-bench probe discontinuity --json` (paper Sec. 2.2, Figs. 1-2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscontinuityResult {
    /// Images measured.
    pub images: usize,
    /// The Fig. 1 statistic per applicable (kind, level).
    pub fig1: Vec<Fig1Entry>,
    /// The Fig. 2 embeddings' quality.
    pub embeddings: Embeddings,
    /// What Fig. 2 embedded.
    pub fig2: Fig2Summary,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

impl DiscontinuityResult {
    /// The Fig. 1 entry of `kind` at `level`.
    pub fn get(&self, kind: &str, level: u8) -> Option<&Fig1Entry> {
        self.fig1
            .iter()
            .find(|e| e.perturbation == kind && e.level == level)
    }
}

/// One DCT band of `sc-bench probe margin --json` (`bands[i]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandMargin {
    /// The band's position, 0 = lowest frequencies.
    pub band: usize,
    /// Its first frequency on each axis.
    pub start: usize,
    /// The dimension of its subspace.
    pub dim: usize,
    /// The median over all images of the margin, an image whose decision
    /// did not flip counting as infinite; `None` when at most half flipped
    /// (the median is then beyond what DeepFool reached).
    pub median_margin: Option<f64>,
    /// The share of images whose decision flipped.
    pub flipped_fraction: f64,
}

/// `sc-bench probe margin --json` on one run (the companion paper,
/// Ortiz-Jimenez et al. 2020: the L2 distance to the decision boundary
/// within blocks of the 2-D DCT basis, by subspace-constrained DeepFool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginResult {
    /// Images probed.
    pub images: usize,
    /// Side of each band's square block of DCT frequencies.
    pub band_size: usize,
    /// DeepFool's steps before an image counts as not flipped.
    pub max_iter: usize,
    /// Accuracy on the probed images.
    pub accuracy: f64,
    /// Per band, low to high frequencies.
    pub bands: Vec<BandMargin>,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// `sc-bench fairness --json` (paper Sec. 4.7, Table 4): a model trained on
/// a Colorful set whose background colour is biased (share `p` of one
/// colour in training, the other in test), measured on its test split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessResult {
    /// Test accuracy (the paper's Table 4 number).
    pub accuracy: f64,
    /// Accuracy per background colour (`None` for an empty group).
    pub group_accuracy: BTreeMap<String, Option<f64>>,
    /// Best minus worst group accuracy (`None` with fewer than two groups).
    pub gap: Option<f64>,
    /// Share of images whose prediction changes when only the background
    /// colour is swapped.
    pub flip_rate: f64,
    /// Accuracy on the background-swapped images.
    pub counterfactual_accuracy: f64,
    /// The training set's colour bias.
    pub p: f64,
    /// Run metadata (absent in files of older versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// `baseline_from_scratch` of `sc-bench transfer --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferBaseline {
    /// Test accuracy of the same network trained on the target from scratch.
    pub test_accuracy: Option<f64>,
}

/// `sc-bench transfer --json` (paper Sec. 4.6, Table 3): a trained run
/// fine-tuned on a target data set with a new final layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferResult {
    /// Test accuracy on the target after fine-tuning.
    pub test_accuracy: Option<f64>,
    /// The target data set (as converted to the source's input).
    pub data: String,
    /// Whether only the final layer was trained.
    pub freeze_backbone: bool,
    /// The same budget from scratch, when asked.
    #[serde(default)]
    pub baseline_from_scratch: Option<TransferBaseline>,
    /// Run metadata of the fine-tuned run (absent in files of older
    /// versions).
    #[serde(default)]
    pub meta: Option<Meta>,
}

/// One alpha of `sc-bench alpha-sweep --json` (`points[i]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlphaPoint {
    /// The weight of the continuity term.
    pub alpha: f64,
    /// Clean test accuracy of the regime-C model trained with it.
    pub accuracy: f64,
    /// The paper's continuity score: the sum over the four photometric
    /// kinds of the mean DS at level 1 (Fig. 4).
    pub continuity_score: f64,
}

/// `sc-bench alpha-sweep --json` (paper Fig. 4): one regime-C model per alpha.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlphaSweepResult {
    /// One point per alpha, in the order trained.
    pub points: Vec<AlphaPoint>,
    /// Test images evaluated.
    pub images: Option<usize>,
}

impl AlphaSweepResult {
    /// The points sorted by alpha.
    pub fn sorted(&self) -> Vec<AlphaPoint> {
        let mut p = self.points.clone();
        p.sort_by(|a, b| a.alpha.total_cmp(&b.alpha));
        p
    }
}
