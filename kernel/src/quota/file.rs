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
