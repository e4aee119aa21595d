//! Atomic file writes: a kill never leaves a torn file (DESIGN: runs on disk).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Writes `path` by calling `write` on a temporary name in the same
/// directory, syncing it, and renaming it over `path`. Returns what `write`
/// returns.
pub(crate) fn write_atomic<T>(path: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::format(path, "not a file name"))?;
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = write(&tmp).and_then(|value| {
        let sync = std::fs::File::open(&tmp).and_then(|f| f.sync_all());
        sync.and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| Error::io(path, e))?;
        Ok(value)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// 64-bit FNV-1a: ties a checkpoint's JSON to its weights file, so weights
/// replaced without their JSON (a kill between the two renames) are detected.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_reference_function() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn failed_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        std::fs::write(&path, b"old").unwrap();
        let r: Result<()> = write_atomic(&path, |tmp| {
            std::fs::write(tmp, b"new").unwrap();
            Err(Error::invalid("test", "fails"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&path, |tmp| {
            std::fs::write(tmp, b"new").map_err(|e| Error::io(tmp, e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
