//! `<data>/quotas.toml`: limits per plugin, one table per plugin id.
//!
//! ```toml
//! ["tessera.hello"]
//! storage-bytes = 1048576
//! storage-ops-per-second = 500
//!
//! ["acme.crm"]
//! outbound-per-minute = 60
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use super::{QuotaFileError, QuotaLimits};

/// The limits in `path`; an empty map when the file does not exist.
pub(super) fn read(path: &Path) -> Result<BTreeMap<String, QuotaLimits>, QuotaFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BTreeMap::new());
        }
        Err(source) => {
            return Err(QuotaFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(&text).map_err(|message| QuotaFileError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// The comment at the top of a quotas file the kernel wrote.
const HEADER: &str = "# Per-plugin quotas (docs/quotas.md). Read at startup; rewritten by the\n\
                      # admin API (PUT /admin/plugins/{id}/quota, `tessera admin quota`),\n\
                      # which keeps every table but not comments.\n\n";

/// Replace the limits of `plugin` in the quotas file at `path` (created if
/// missing), keeping every other table, and write it atomically: a reader
/// sees the old file or the new one. Limits that limit nothing remove the
/// plugin's table. The caller serializes writers.
pub(super) fn write_one(
    path: &Path,
    plugin: &str,
    limits: QuotaLimits,
) -> Result<(), QuotaFileError> {
    let mut all = read(path)?;
    if limits == QuotaLimits::default() {
        all.remove(plugin);
    } else {
        all.insert(plugin.to_owned(), limits);
    }
    let write_error = |source| QuotaFileError::Write {
        path: path.to_owned(),
        source,
    };
    let text = toml::to_string(&all)
        .map_err(|error| write_error(std::io::Error::other(error.to_string())))?;
    crate::package::fs::write_atomically(path, format!("{HEADER}{text}").as_bytes())
        .map_err(write_error)
}

/// Parse the text of a quotas file.
fn parse(text: &str) -> Result<BTreeMap<String, QuotaLimits>, String> {
    let limits: BTreeMap<String, QuotaLimits> =
        toml::from_str(text).map_err(|error| error.to_string().trim_end().to_owned())?;
    if limits.contains_key("") {
        return Err("a table has an empty plugin id".into());
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_plugin() {
        let limits = parse(
            "[\"tessera.hello\"]\nstorage-bytes = 64\n\n\
             [\"acme.crm\"]\noutbound-per-minute = 60\nevents-per-second = 0\n",
        )
        .unwrap();
        assert_eq!(limits.len(), 2);
        assert_eq!(limits["tessera.hello"].storage_bytes, Some(64));
        assert_eq!(limits["acme.crm"].outbound_per_minute, Some(60));
        assert_eq!(limits["acme.crm"].events_per_second, Some(0));
        assert_eq!(limits["acme.crm"].storage_bytes, None);
    }

    #[test]
    fn write_one_replaces_one_table_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quotas.toml");
        std::fs::write(&path, "[\"other\"]\nevents-per-second = 3\n").unwrap();
        let limits = QuotaLimits {
            storage_bytes: Some(64),
            outbound_per_minute: Some(0),
            ..QuotaLimits::default()
        };
        write_one(&path, "tessera.hello", limits).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Per-plugin quotas"), "{text}");
        let all = read(&path).unwrap();
        assert_eq!(all["tessera.hello"], limits);
        assert_eq!(all["other"].events_per_second, Some(3));
        write_one(&path, "tessera.hello", QuotaLimits::default()).unwrap();
        let all = read(&path).unwrap();
        assert!(!all.contains_key("tessera.hello"));
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn write_one_refuses_to_overwrite_a_file_it_cannot_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quotas.toml");
        std::fs::write(&path, "[\"p\"]\nstorage-byte = 1\n").unwrap();
        let error = write_one(&path, "p", QuotaLimits::default()).unwrap_err();
        assert!(error.to_string().contains("storage-byte"), "{error}");
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("storage-byte")
        );
    }

    #[test]
    fn a_missing_file_limits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("quotas.toml")).unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_file_the_key_and_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quotas.toml");
        for (text, expected) in [
            ("[\"p\"]\nstorage-bytes = -1\n", "storage-bytes"),
            ("[\"p\"]\nstorage-byte = 1\n", "storage-byte"),
            (
                "[\"p\"]\nevents-per-second = 5000000000\n",
                "events-per-second",
            ),
            ("storage-bytes = 1\n", "storage-bytes"),
            ("[\"\"]\nstorage-bytes = 1\n", "empty plugin id"),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = read(&path).unwrap_err().to_string();
            assert!(error.contains("quotas.toml"), "{error}");
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(error.contains("[\"tessera.hello\"]"), "{error}");
        }
    }
}
