//! The run directory: `config.toml`, `checkpoints/`, `metrics.jsonl`.
//!
//! A checkpoint is `step-NNNNNNNNNN.{safetensors,optim.safetensors,json}`;
//! its JSON is written last, so a checkpoint without its JSON is incomplete
//! and ignored (a kill can interrupt a save at any point). Every file is
//! written to a temporary name and renamed.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Paths of a run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run at `root` (not created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The run directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// The file stem of the checkpoint after `global_step` optimisation steps.
    pub fn stem(global_step: u64) -> String {
        format!("step-{global_step:010}")
    }

    /// Complete checkpoints (those with their JSON), oldest first.
    pub fn complete_checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let dir = self.checkpoints();
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let name = entry
                .map_err(|e| io(&dir, e))?
                .file_name()
                .to_string_lossy()
                .into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let Some(step) = stem
                .strip_prefix("step-")
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if dir.join(format!("{stem}.safetensors")).is_file() {
                out.push((step, stem.to_string()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The newest complete checkpoint's stem.
    pub fn latest(&self) -> Result<Option<String>> {
        Ok(self.complete_checkpoints()?.pop().map(|(_, s)| s))
    }

    /// Deletes all but the newest `keep` complete checkpoints, and any file
    /// of an incomplete one older than the newest complete one. The JSON goes
    /// first, so a half-deleted checkpoint is never taken for complete.
    pub fn prune(&self, keep: usize) -> Result<()> {
        let all = self.complete_checkpoints()?;
        let dir = self.checkpoints();
        let drop_count = all.len().saturating_sub(keep.max(1));
        for (_, stem) in &all[..drop_count] {
            for suffix in [".json", ".safetensors", ".optim.safetensors"] {
                let p = dir.join(format!("{stem}{suffix}"));
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Writes `bytes` to `path` atomically (see [`sc_core::write_atomic`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    sc_core::write_atomic(path, bytes).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_checkpoints_with_their_json_count_and_pruning_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert_eq!(run.latest().unwrap(), None);
        let ck = run.checkpoints();
        std::fs::create_dir_all(&ck).unwrap();
        for step in [10u64, 20, 30, 40] {
            let stem = RunDir::stem(step);
            std::fs::write(ck.join(format!("{stem}.safetensors")), b"w").unwrap();
            std::fs::write(ck.join(format!("{stem}.optim.safetensors")), b"o").unwrap();
            if step != 40 {
                std::fs::write(ck.join(format!("{stem}.json")), b"{}").unwrap();
            }
        }
        assert_eq!(run.latest().unwrap(), Some(RunDir::stem(30)));
        run.prune(2).unwrap();
        let left: Vec<u64> = run
            .complete_checkpoints()
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(left, vec![20, 30]);
        assert!(!ck
            .join(format!("{}.safetensors", RunDir::stem(10)))
            .exists());
    }
}
