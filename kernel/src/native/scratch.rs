//! Writing a library held in memory (a package's payload) to a file, since
//! the dynamic loader only opens paths.
//!
//! The file is `<scratch>/<sha256 of the bytes>/<file name>`: the library
//! keeps its own name (which shows in backtraces and `/proc/<pid>/maps`),
//! and a file is never rewritten in place, which would corrupt a copy that
//! is already mapped. New bytes go to a temporary file renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::package::Sha256Digest;
use crate::package::entry::is_library;

use super::NativeError;

/// Write `bytes` as `file_name` under `scratch_dir` and return the path.
pub(super) fn materialise(
    bytes: &[u8],
    file_name: &str,
    scratch_dir: &Path,
) -> Result<PathBuf, NativeError> {
    if !is_library(file_name) {
        return Err(NativeError::FileName {
            name: file_name.to_owned(),
        });
    }
    let dir = scratch_dir.join(Sha256Digest::of(bytes).to_hex());
    let path = dir.join(file_name);
    if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
        return Ok(path);
    }
    let scratch_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NativeError::Scratch { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(scratch_error(&dir))?;
    let temporary = dir.join(format!(".{file_name}.{}.tmp", unique()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(scratch_error(&path)(source));
    }
    Ok(path)
}

/// A suffix no other writer in this or another process uses at the same
/// time.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_written_once_under_their_digest_with_their_name() {
        let scratch = tempfile::tempdir().unwrap();
        let path = materialise(b"library bytes", "libdemo.so", scratch.path()).unwrap();
        assert_eq!(path.file_name().unwrap(), "libdemo.so");
        assert_eq!(
            path.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
            Sha256Digest::of(b"library bytes").to_hex()
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"library bytes");
        let again = materialise(b"library bytes", "libdemo.so", scratch.path()).unwrap();
        assert_eq!(again, path);
        let other = materialise(b"other bytes", "libdemo.so", scratch.path()).unwrap();
        assert_ne!(other, path);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["libdemo.so"]);
    }

    #[test]
    fn names_that_are_not_plain_library_names_are_refused() {
        let scratch = tempfile::tempdir().unwrap();
        for name in ["../libx.so", "libx.so/..", "x.txt", "", "lib.so"] {
            let error = materialise(b"x", name, scratch.path()).unwrap_err();
            assert!(
                matches!(error, NativeError::FileName { .. }),
                "{name}: {error}"
            );
        }
    }
}
