//! The trust store: publisher keys an administrator trusts, one file per
//! key at `<data>/trust/keys/<name>.pub`, each holding the key's text form.
//!
//! The directory is plain files so that configuration management can
//! provision it; `tessera trust add|list|remove` edits it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fs::{read_limited, write_atomically};
use super::keys::{KeyError, PublicKey};

/// The file name suffix of a trusted key.
const SUFFIX: &str = ".pub";
/// The largest key file read.
const MAX_KEY_FILE: u64 = 1 << 10;

/// Why the trust store could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file in the store is not a public key.
    #[error("trusted key file {path} is corrupt: {source}; fix it or delete it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyError,
    },
    /// The name is not usable as a key name.
    #[error(
        "`{name}` is not a key name; use 1 to 64 lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit, e.g. \"acme\""
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The name is already taken.
    #[error(
        "a different key is already trusted as `{name}`; remove it first with `tessera trust remove {name}`"
    )]
    NameTaken {
        /// The name.
        name: String,
    },
    /// The key is already trusted under another name.
    #[error("this key is already trusted as `{existing}`")]
    AlreadyTrusted {
        /// The name it is trusted as.
        existing: String,
    },
    /// No key has that name.
    #[error("no key is trusted as `{name}`; `tessera trust list` shows the trusted keys")]
    NotFound {
        /// The name.
        name: String,
    },
}

/// The publisher keys the kernel trusts.
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
    keys: BTreeMap<String, PublicKey>,
}

impl TrustStore {
    /// Open the trust store of the data directory `data`. A store that does
    /// not exist yet is empty; it is created by the first [`add`](Self::add).
    pub fn open(data: &Path) -> Result<Self, TrustError> {
        let dir = data.join("trust").join("keys");
        let mut keys = BTreeMap::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self { dir, keys });
            }
            Err(source) => {
                return Err(TrustError::Io {
                    action: "read",
                    path: dir,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| TrustError::Io {
                action: "read",
                path: dir.clone(),
                source,
            })?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file_name.strip_suffix(SUFFIX) else {
                continue;
            };
            if !is_name(name) {
                continue;
            }
            let path = entry.path();
            let bytes = read_limited(&path, MAX_KEY_FILE).map_err(|source| TrustError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
            let text = String::from_utf8_lossy(&bytes);
            let key = PublicKey::from_text(&text, &path.display().to_string())
                .map_err(|source| TrustError::Corrupt { path, source })?;
            keys.insert(name.to_owned(), key);
        }
        Ok(Self { dir, keys })
    }

    /// The directory holding the key files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Trust `key` under `name`. Adding the same key under the same name
    /// again does nothing.
    pub fn add(&mut self, name: &str, key: PublicKey) -> Result<(), TrustError> {
        if !is_name(name) {
            return Err(TrustError::InvalidName {
                name: name.to_owned(),
            });
        }
        match self.keys.get(name) {
            Some(existing) if *existing == key => return Ok(()),
            Some(_) => {
                return Err(TrustError::NameTaken {
                    name: name.to_owned(),
                });
            }
            None => {}
        }
        if let Some(existing) = self.name_of(&key) {
            return Err(TrustError::AlreadyTrusted {
                existing: existing.to_owned(),
            });
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| TrustError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })?;
        let path = self.path_of(name);
        write_atomically(&path, format!("{}\n", key.to_text()).as_bytes()).map_err(|source| {
            TrustError::Io {
                action: "write",
                path,
                source,
            }
        })?;
        self.keys.insert(name.to_owned(), key);
        Ok(())
    }

    /// Stop trusting the key called `name`; returns it.
    pub fn remove(&mut self, name: &str) -> Result<PublicKey, TrustError> {
        let Some(key) = self.keys.get(name).copied() else {
            return Err(TrustError::NotFound {
                name: name.to_owned(),
            });
        };
        let path = self.path_of(name);
        std::fs::remove_file(&path).map_err(|source| TrustError::Io {
            action: "remove",
            path,
            source,
        })?;
        self.keys.remove(name);
        Ok(key)
    }

    /// The trusted keys with their names, sorted by name.
    pub fn list(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.keys.iter().map(|(name, key)| (name.as_str(), key))
    }

    /// Whether `key` is trusted.
    pub fn is_trusted(&self, key: &PublicKey) -> bool {
        self.name_of(key).is_some()
    }

    /// The name `key` is trusted as.
    pub fn name_of(&self, key: &PublicKey) -> Option<&str> {
        self.keys
            .iter()
            .find(|(_, trusted)| *trusted == key)
            .map(|(name, _)| name.as_str())
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{SUFFIX}"))
    }
}

/// Whether `name` can name a trusted key (and so a file).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_' || c == '-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::keys::SigningKey;

    fn key() -> PublicKey {
        SigningKey::generate().unwrap().public_key()
    }

    #[test]
    fn added_keys_persist_and_removed_keys_do_not() {
        let data = tempfile::tempdir().unwrap();
        let (acme, globex) = (key(), key());
        let mut store = TrustStore::open(data.path()).unwrap();
        assert!(!store.is_trusted(&acme));
        store.add("acme", acme).unwrap();
        store.add("globex", globex).unwrap();
        store.add("acme", acme).unwrap();
        assert!(data.path().join("trust/keys/acme.pub").is_file());

        let mut reopened = TrustStore::open(data.path()).unwrap();
        let names: Vec<&str> = reopened.list().map(|(name, _)| name).collect();
        assert_eq!(names, ["acme", "globex"]);
        assert_eq!(reopened.name_of(&globex), Some("globex"));
        assert_eq!(reopened.remove("acme").unwrap(), acme);
        assert!(matches!(
            reopened.remove("acme"),
            Err(TrustError::NotFound { .. })
        ));
        let reopened = TrustStore::open(data.path()).unwrap();
        assert!(!reopened.is_trusted(&acme));
        assert!(reopened.is_trusted(&globex));
    }

    #[test]
    fn names_are_checked_and_never_reused_silently() {
        let data = tempfile::tempdir().unwrap();
        let mut store = TrustStore::open(data.path()).unwrap();
        let acme = key();
        for bad in ["", "../evil", "Acme", "a/b", ".hidden"] {
            assert!(matches!(
                store.add(bad, acme),
                Err(TrustError::InvalidName { .. })
            ));
        }
        store.add("acme", acme).unwrap();
        assert!(matches!(
            store.add("acme", key()),
            Err(TrustError::NameTaken { .. })
        ));
        assert!(matches!(
            store.add("acme2", acme),
            Err(TrustError::AlreadyTrusted { existing }) if existing == "acme"
        ));
    }

    #[test]
    fn a_corrupt_key_file_is_reported_not_ignored() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("trust/keys");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("acme.pub"), "not a key\n").unwrap();
        std::fs::write(dir.join("README"), "ignored\n").unwrap();
        let error = TrustStore::open(data.path()).unwrap_err().to_string();
        assert!(error.contains("acme.pub is corrupt"), "{error}");
    }
}
