//! Atomic file writes: a kill never leaves a torn file (DESIGN: runs on disk).

use crate::{Error, Result};
use std::path::Path;

/// [`sc_core::write_atomic_with`] (temporary name, sync, rename) for a
/// writer that returns a value and this crate's errors.
pub(crate) fn write_atomic<T>(path: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if path.file_name().is_none() {
        return Err(Error::format(path, "not a file name"));
    }
    let mut inner = None;
    let mut value = None;
    let written = sc_core::write_atomic_with(path, |tmp| match write(tmp) {
        Ok(v) => {
            value = Some(v);
            Ok(())
        }
        Err(e) => {
            inner = Some(e);
            Err(std::io::Error::other("the writer failed"))
        }
    });
    match (written, inner, value) {
        (_, Some(e), _) => Err(e),
        (Err(e), None, _) => Err(Error::io(path, e)),
        (Ok(()), None, Some(v)) => Ok(v),
        (Ok(()), None, None) => Err(Error::format(path, "internal: no value written")),
    }
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
