//! Opening a package: read, check every digest and the signature, then
//! parse the manifest. Nothing of a package is trusted before its digests
//! matched.

use std::path::Path;

use tessera_host_api::Manifest;

use super::archive::{self, RawEntry};
use super::digests::{Digests, Sha256Digest};
use super::entry::{self, EntryKind};
use super::error::PackageError;
use super::fs::read_limited;
use super::keys::PublicKey;
use super::limits;
use super::metadata::{self, PackageKind};
use super::payload;
use super::signature::PackageSignature;
use super::trust::TrustStore;
use super::verification::Verification;

/// An entry covered by the digests, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Its path inside the package.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, as listed in `digests` and checked.
    pub sha256: Sha256Digest,
}

/// An intact package: its digests matched and its signature, if any, is
/// valid. Whether the signer is trusted is asked with
/// [`verification`](Self::verification).
#[derive(Debug, Clone)]
pub struct Package {
    kind: PackageKind,
    manifest: Manifest,
    manifest_text: String,
    payload_entry: String,
    payload: Vec<u8>,
    payload_sha256: Sha256Digest,
    entries: Vec<EntryInfo>,
    digests_text: String,
    signature: Option<PackageSignature>,
}

impl Package {
    /// Read and check the package file at `path`.
    pub fn open(path: &Path) -> Result<Self, PackageError> {
        let bytes = read_limited(path, limits::MAX_FILE).map_err(|error| {
            if error.kind() == std::io::ErrorKind::FileTooLarge {
                PackageError::TooLarge {
                    entry: "the package file".into(),
                    limit: limits::MAX_FILE,
                }
            } else {
                PackageError::io("read", path, error)
            }
        })?;
        Self::from_bytes(&bytes)
    }

    /// Check a package held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackageError> {
        let raw = archive::read(bytes)?;
        let digests_entry = find(&raw, |kind| *kind == EntryKind::Digests).ok_or_else(|| {
            PackageError::MissingEntry {
                entry: entry::DIGESTS.into(),
                hint: "it was not made by `tessera plugin pack`; repack the plugin".into(),
            }
        })?;
        let digests_text = text(digests_entry)?.to_owned();
        let digests = Digests::parse(&digests_text)?;
        let entries = check_digests(&raw, &digests)?;
        let signature = match find(&raw, |kind| *kind == EntryKind::Signature) {
            Some(entry) => Some(check_signature(text(entry)?, &digests_text)?),
            None => None,
        };

        let required = |wanted: EntryKind, name: &str| {
            find(&raw, |kind| *kind == wanted).ok_or_else(|| PackageError::MissingEntry {
                entry: name.to_owned(),
                hint: "it was not made by `tessera plugin pack`; repack the plugin".into(),
            })
        };
        let kind = metadata::parse(text(required(EntryKind::Metadata, entry::METADATA)?)?)?;
        let payload = single_payload(&raw, &kind)?;
        payload::check(&kind, &payload.name, &payload.data)?;
        let manifest_text = text(required(EntryKind::Manifest, entry::MANIFEST)?)?.to_owned();
        let manifest = Manifest::parse(&manifest_text).map_err(PackageError::Manifest)?;
        let payload_entry = payload.name.clone();
        // Move the payload out instead of copying up to 64 MiB.
        let payload = raw
            .into_iter()
            .find(|entry| entry.name == payload_entry)
            .map(|entry| entry.data)
            .unwrap_or_default();
        let payload_sha256 = Sha256Digest::of(&payload);
        Ok(Self {
            kind,
            manifest,
            manifest_text,
            payload_entry,
            payload,
            payload_sha256,
            entries,
            digests_text,
            signature,
        })
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest exactly as the publisher wrote it.
    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// `wasm` (a component) or `native` (a library for one target).
    pub fn kind(&self) -> &PackageKind {
        &self.kind
    }

    /// The component (kind `wasm`) or native library (kind `native`).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The component's bytes, for a `wasm` package.
    pub fn component(&self) -> Option<&[u8]> {
        (self.kind == PackageKind::Wasm).then_some(self.payload.as_slice())
    }

    /// The payload's entry path: `plugin.wasm` or `native/<target>/<lib>`.
    pub fn payload_entry(&self) -> &str {
        &self.payload_entry
    }

    /// The SHA-256 of the payload (the component, for a `wasm` package):
    /// the same digest the compile cache is keyed by.
    pub fn payload_sha256(&self) -> Sha256Digest {
        self.payload_sha256
    }

    /// Every digested entry with its size and SHA-256, sorted by name.
    pub fn entries(&self) -> &[EntryInfo] {
        &self.entries
    }

    /// The `digests` listing, exactly as signed.
    pub fn digests_text(&self) -> &str {
        &self.digests_text
    }

    /// The key that signed the package, if it is signed.
    pub fn signer(&self) -> Option<&PublicKey> {
        self.signature.as_ref().map(|signature| &signature.signer)
    }

    /// Who signed the package and whether `trust` trusts them.
    pub fn verification(&self, trust: &TrustStore) -> Verification {
        match self.signer() {
            Some(signer) => Verification::Signed {
                signer: *signer,
                trusted: trust.is_trusted(signer),
            },
            None => Verification::Unsigned,
        }
    }

    /// The conventional file name, `<id>-<version>.tpkg`.
    pub fn file_name(&self) -> String {
        file_name(&self.manifest)
    }
}

/// The conventional file name of a manifest's package, `<id>-<version>.tpkg`.
pub fn file_name(manifest: &Manifest) -> String {
    format!("{}-{}.tpkg", manifest.plugin.id, manifest.plugin.version)
}

fn find(raw: &[RawEntry], wanted: impl Fn(&EntryKind) -> bool) -> Option<&RawEntry> {
    raw.iter().find(|entry| wanted(&entry.kind))
}

fn text(entry: &RawEntry) -> Result<&str, PackageError> {
    std::str::from_utf8(&entry.data).map_err(|_| PackageError::NotUtf8 {
        entry: entry.name.clone(),
    })
}

/// Every digested entry must be listed with its digest, and every listed
/// entry must be present.
fn check_digests(raw: &[RawEntry], digests: &Digests) -> Result<Vec<EntryInfo>, PackageError> {
    let mut entries = Vec::new();
    for entry in raw.iter().filter(|entry| entry.kind.is_digested()) {
        let actual = Sha256Digest::of(&entry.data);
        match digests.get(&entry.name) {
            None => {
                return Err(PackageError::Tampered {
                    entry: entry.name.clone(),
                    reason: "it is not listed in `digests`, so it was added after packing".into(),
                });
            }
            Some(listed) if *listed != actual => {
                return Err(PackageError::Tampered {
                    entry: entry.name.clone(),
                    reason: format!("its SHA-256 is {actual}, but `digests` lists {listed}"),
                });
            }
            Some(_) => entries.push(EntryInfo {
                name: entry.name.clone(),
                size: u64::try_from(entry.data.len()).unwrap_or(u64::MAX),
                sha256: actual,
            }),
        }
    }
    if let Some((missing, _)) = digests
        .iter()
        .find(|(name, _)| !raw.iter().any(|entry| entry.name == *name))
    {
        return Err(PackageError::Tampered {
            entry: missing.to_owned(),
            reason: "it is listed in `digests` but missing from the package".into(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn check_signature(text: &str, digests_text: &str) -> Result<PackageSignature, PackageError> {
    let signature = PackageSignature::parse(text)?;
    if signature.verifies(digests_text) {
        Ok(signature)
    } else {
        Err(PackageError::Tampered {
            entry: entry::SIGNATURE.into(),
            reason: format!(
                "the signature by key {} does not match `digests`",
                signature.signer.fingerprint()
            ),
        })
    }
}

/// The single payload entry, which must agree with the metadata's kind.
fn single_payload<'a>(
    raw: &'a [RawEntry],
    kind: &PackageKind,
) -> Result<&'a RawEntry, PackageError> {
    let mut payloads = raw
        .iter()
        .filter(|entry| matches!(entry.kind, EntryKind::Component | EntryKind::Native { .. }));
    let first = payloads.next();
    if let Some(extra) = payloads.next() {
        return Err(PackageError::Payload {
            entry: extra.name.clone(),
            reason: "a package holds one component or native library, and this is a second one"
                .into(),
        });
    }
    match (kind, first) {
        (PackageKind::Wasm, Some(entry)) if entry.kind == EntryKind::Component => Ok(entry),
        (PackageKind::Native { target }, Some(entry)) if matches!(&entry.kind, EntryKind::Native { target: found, .. } if found == target) => {
            Ok(entry)
        }
        (PackageKind::Wasm, _) => Err(PackageError::MissingEntry {
            entry: entry::COMPONENT.into(),
            hint: "package.toml says kind = \"wasm\"; repack the plugin with `tessera plugin pack`"
                .into(),
        }),
        (PackageKind::Native { target }, _) => Err(PackageError::MissingEntry {
            entry: format!("{}/{target}/<library>", entry::NATIVE_DIR),
            hint: format!(
                "package.toml says kind = \"native\" for target {target}; repack the plugin"
            ),
        }),
    }
}
