//! A study directory: `study.json` (the manifest: which stage file of which
//! run) and the stage files it names, read into typed records. Adding a
//! stage to studies means one more field of [`RunFiles`] and of [`Run`].

use super::stages::{AttributionResult, EvalResult, SweepResult, TrainResult};
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
}

/// One run's results.
#[derive(Debug, Clone, PartialEq)]
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
            });
        }
        Ok(Study {
            dir: dir.to_path_buf(),
            manifest,
            runs,
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
