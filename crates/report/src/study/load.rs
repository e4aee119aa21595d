//! A study directory: `study.json` (the manifest: which stage file of which
//! run) and the stage files it names, read into typed records. Adding a
//! stage to studies means one more field of [`RunFiles`] and of [`Run`].

use super::stages::{
    AlphaSweepResult, AttributionResult, DiscontinuityResult, EvalResult, FairnessResult,
    MarginResult, SweepResult, TrainResult, TransferResult,
};
use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name inside a study directory.
pub const MANIFEST: &str = "study.json";

/// `study.json`: what a study is and where its stage files are (paths
/// relative to the study directory). Unknown fields are an error, so a
/// misspelt stage is never silently left out of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The report's title.
    pub title: String,
    /// The command that produced the study.
    pub command: String,
    /// `git rev-parse HEAD` of the code that ran (with `-dirty` for
    /// uncommitted changes), when known.
    #[serde(default)]
    pub git_revision: Option<String>,
    /// What the study reduced or changed to fit its budget, in words
    /// (shown in "where this study departs from the paper").
    #[serde(default)]
    pub notes: Vec<String>,
    /// Every (regime, seed) run and its stage files.
    pub runs: Vec<RunFiles>,
    /// The alpha sweeps (Fig. 4), one per seed that ran one.
    #[serde(default)]
    pub alpha_sweeps: Vec<AlphaSweepFile>,
    /// Wall seconds of each stage file, as the driver measured them (the
    /// invocation that finished the stage; absent in older manifests).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timings: BTreeMap<String, f64>,
}

/// One seed's alpha sweep (`sc-bench alpha-sweep --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlphaSweepFile {
    /// The training seed of every model of the sweep.
    pub seed: u64,
    /// The stage file.
    pub file: PathBuf,
}

/// The stage files of one (regime, seed) run; a stage not run is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFiles {
    /// `base`, `c`, `adv` or `adv-c`.
    pub regime: String,
    /// The training seed (and the seed of its evaluations).
    pub seed: u64,
    /// `sc-bench train --json`.
    #[serde(default)]
    pub train: Option<PathBuf>,
    /// `sc-bench eval --json`.
    #[serde(default)]
    pub eval: Option<PathBuf>,
    /// `sc-bench sweep --json`.
    #[serde(default)]
    pub sweep: Option<PathBuf>,
    /// `sc-bench attribute --json` per method.
    #[serde(default)]
    pub attribution: BTreeMap<String, PathBuf>,
    /// Images (PNG grids) shown with the attribution section, per method.
    #[serde(default)]
    pub attribution_images: BTreeMap<String, PathBuf>,
    /// `sc-bench probe discontinuity --json` (Figs. 1-2).
    #[serde(default)]
    pub discontinuity: Option<PathBuf>,
    /// The Fig. 2 scatter PNGs per embedding method (`pca`, `tsne`, `umap`).
    #[serde(default)]
    pub embedding_images: BTreeMap<String, PathBuf>,
    /// `sc-bench probe margin --json` (the companion paper's margins per DCT band).
    #[serde(default)]
    pub margin: Option<PathBuf>,
    /// `sc-bench fairness --json` of the regime trained on a Colorful set
    /// with this seed (Table 4).
    #[serde(default)]
    pub fairness: Option<PathBuf>,
    /// `sc-bench transfer --json` of this run fine-tuned on the target (Table 3).
    #[serde(default)]
    pub transfer: Option<PathBuf>,
}

/// One run's results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Run {
    /// Its regime.
    pub regime: String,
    /// Its seed.
    pub seed: u64,
    /// Training.
    pub train: Option<TrainResult>,
    /// Robustness.
    pub eval: Option<EvalResult>,
    /// DS and accuracy per perturbation.
    pub sweep: Option<SweepResult>,
    /// Attribution summaries per method.
    pub attribution: BTreeMap<String, AttributionResult>,
    /// Attribution pictures per method (paths relative to the study directory).
    pub attribution_images: BTreeMap<String, PathBuf>,
    /// The evidence of discontinuity (Figs. 1-2).
    pub discontinuity: Option<DiscontinuityResult>,
    /// Fig. 2 pictures per embedding method (paths relative to the study directory).
    pub embedding_images: BTreeMap<String, PathBuf>,
    /// Margins per DCT band (the companion paper).
    pub margin: Option<MarginResult>,
    /// Fairness under a colour bias (Table 4).
    pub fairness: Option<FairnessResult>,
    /// Transfer by fine-tuning (Table 3).
    pub transfer: Option<TransferResult>,
}

/// A study: its manifest and every run's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// `study.json`.
    pub manifest: Manifest,
    /// The runs in manifest order.
    pub runs: Vec<Run>,
    /// The alpha sweeps `(seed, result)` in manifest order.
    pub alpha_sweeps: Vec<(u64, AlphaSweepResult)>,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

impl Study {
    /// Reads `dir/study.json` and every stage file it names. A missing or
    /// malformed file is an error naming it; so is a (regime, seed) listed
    /// twice.
    pub fn load(dir: &Path) -> Result<Study> {
        let manifest: Manifest = read_json(&dir.join(MANIFEST))?;
        let mut runs = Vec::with_capacity(manifest.runs.len());
        for (i, files) in manifest.runs.iter().enumerate() {
            if manifest.runs[..i]
                .iter()
                .any(|r| r.regime == files.regime && r.seed == files.seed)
            {
                return Err(Error::Study {
                    path: dir.join(MANIFEST),
                    problem: format!(
                        "runs: regime {} seed {} is listed twice",
                        files.regime, files.seed
                    ),
                });
            }
            let opt = |p: &Option<PathBuf>| p.as_ref().map(|p| dir.join(p));
            let mut attribution = BTreeMap::new();
            for (method, p) in &files.attribution {
                attribution.insert(method.clone(), read_json(&dir.join(p))?);
            }
            runs.push(Run {
                regime: files.regime.clone(),
                seed: files.seed,
                train: opt(&files.train).map(|p| read_json(&p)).transpose()?,
                eval: opt(&files.eval).map(|p| read_json(&p)).transpose()?,
                sweep: opt(&files.sweep).map(|p| read_json(&p)).transpose()?,
                attribution,
                attribution_images: files.attribution_images.clone(),
                discontinuity: opt(&files.discontinuity)
                    .map(|p| read_json(&p))
                    .transpose()?,
                embedding_images: files.embedding_images.clone(),
                margin: opt(&files.margin).map(|p| read_json(&p)).transpose()?,
                fairness: opt(&files.fairness).map(|p| read_json(&p)).transpose()?,
                transfer: opt(&files.transfer).map(|p| read_json(&p)).transpose()?,
            });
        }
        let mut alpha_sweeps = Vec::with_capacity(manifest.alpha_sweeps.len());
        for a in &manifest.alpha_sweeps {
            alpha_sweeps.push((a.seed, read_json(&dir.join(&a.file))?));
        }
        Ok(Study {
            dir: dir.to_path_buf(),
            manifest,
            runs,
            alpha_sweeps,
        })
    }

    /// The regimes in the paper's order (base, c, adv, adv-c), then any
    /// other in the order of the manifest.
    pub fn regimes(&self) -> Vec<String> {
        let mut out: Vec<String> = ["base", "c", "adv", "adv-c"]
            .iter()
            .filter(|r| self.runs.iter().any(|x| x.regime == **r))
            .map(|r| r.to_string())
            .collect();
        for r in &self.runs {
            if !out.contains(&r.regime) {
                out.push(r.regime.clone());
            }
        }
        out
    }

    /// `(seed, value)` of every run of `regime` for which `f` gives a value.
    pub fn per_seed(&self, regime: &str, f: impl Fn(&Run) -> Option<f64>) -> Vec<(u64, f64)> {
        self.runs
            .iter()
            .filter(|r| r.regime == regime)
            .filter_map(|r| f(r).map(|v| (r.seed, v)))
            .collect()
    }
}
