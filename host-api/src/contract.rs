//! Which versions of the WIT contract (`tessera:plugin`) this kernel serves,
//! and how a plugin's version is matched against them.
//!
//! The kernel keeps every released version of the WIT (`wit/released/`) and
//! serves each through an adapter to the latest one, so a plugin built
//! against an earlier minor keeps working. The rule, with Cargo's semver
//! semantics throughout (see `docs/contract-versions.md`):
//!
//! - a **component** built against version `C` (the version in its
//!   `tessera:plugin/...@C` import and export names) is served when a served
//!   version satisfies `^C`: for 0.x that is the same minor, at the same or a
//!   later patch; from 1.0 on, the same major at the same or a later minor;
//! - a **manifest** `api` range is accepted when a served version satisfies
//!   it.
//!
//! ```
//! use tessera_host_api::contract::{self, Contract};
//!
//! let built: semver::Version = "0.1.0".parse()?;
//! assert_eq!(Contract::serving(&built), Some(Contract::V0_1));
//! let future: semver::Version = "1.0.0".parse()?;
//! assert_eq!(Contract::serving(&future), None);
//! assert_eq!(contract::served_list(), "0.1.0, 0.2.0");
//! # Ok::<(), semver::Error>(())
//! ```

use semver::{Comparator, Op, Version, VersionReq};

/// The WIT package every contract version belongs to.
pub const PACKAGE: &str = "tessera:plugin";

/// A contract version this kernel serves, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contract {
    /// `tessera:plugin@0.1.0`, frozen in `wit/released/0.1.0/`; served
    /// through an adapter to the latest.
    V0_1,
    /// `tessera:plugin@0.2.0`, the current contract in `wit/` (storage
    /// errors gained `quota-exceeded`).
    V0_2,
}

impl Contract {
    /// Every served version, oldest first.
    pub const ALL: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

    /// The current contract: what `wit/` and the SDK define.
    pub const LATEST: Contract = Contract::V0_2;

    /// The version of the WIT package.
    pub fn version(self) -> Version {
        match self {
            Contract::V0_1 => Version::new(0, 1, 0),
            Contract::V0_2 => Version::new(0, 2, 0),
        }
    }

    /// The served version that serves a component built against `built`:
    /// the newest one satisfying `^built`, or none.
    pub fn serving(built: &Version) -> Option<Contract> {
        let wanted = VersionReq {
            comparators: vec![Comparator {
                op: Op::Caret,
                major: built.major,
                minor: Some(built.minor),
                patch: Some(built.patch),
                pre: built.pre.clone(),
            }],
        };
        Self::satisfying(&wanted)
    }

    /// The newest served version satisfying a manifest's `api` range, or
    /// none.
    pub fn satisfying(range: &VersionReq) -> Option<Contract> {
        Self::ALL
            .into_iter()
            .rev()
            .find(|contract| range.matches(&contract.version()))
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PACKAGE}@{}", self.version())
    }
}

/// The served versions for messages: `0.1.0, 0.2.0`.
pub fn served_list() -> String {
    Contract::ALL
        .iter()
        .map(|contract| contract.version().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The contract version named by a component import or export such as
/// `tessera:plugin/storage@0.1.0`; none for other names (WASI, ...). A
/// `tessera:plugin` name without a parsable version gives `Err` with the
/// name.
pub fn version_in_name(name: &str) -> Option<Result<Version, String>> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    Some(
        rest.split_once('@')
            .and_then(|(_, version)| Version::parse(version).ok())
            .ok_or_else(|| name.to_owned()),
    )
}

/// Why a component's names do not say which contract it was built against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// It names `tessera:plugin` without a version.
    #[error("`{0}` names tessera:plugin without a version")]
    Unversioned(String),
    /// It names two different versions.
    #[error("it names two versions of tessera:plugin, {0} and {1}")]
    Mixed(Version, Version),
}

/// The one contract version named by a component's import and export
/// `names`; `Ok(None)` when it names no `tessera:plugin` interface at all.
pub fn version_of<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Version>, NameError> {
    let mut found: Option<Version> = None;
    for name in names {
        let Some(version) = version_in_name(name) else {
            continue;
        };
        let version = version.map_err(NameError::Unversioned)?;
        match &found {
            Some(seen) if *seen != version => {
                return Err(NameError::Mixed(seen.clone(), version));
            }
            Some(_) => {}
            None => found = Some(version),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn components_are_served_by_the_compatible_version() {
        assert_eq!(Contract::serving(&v("0.1.0")), Some(Contract::V0_1));
        assert_eq!(Contract::serving(&v("0.2.0")), Some(Contract::V0_2));
        // Built against a newer patch or minor than the kernel knows.
        assert_eq!(Contract::serving(&v("0.2.1")), None);
        assert_eq!(Contract::serving(&v("0.3.0")), None);
        // Another major.
        assert_eq!(Contract::serving(&v("1.0.0")), None);
        assert_eq!(Contract::serving(&v("0.0.1")), None);
    }

    #[test]
    fn manifest_ranges_need_one_served_version() {
        let req = |text: &str| VersionReq::parse(text).unwrap();
        assert_eq!(Contract::satisfying(&req("^0.1")), Some(Contract::V0_1));
        assert_eq!(Contract::satisfying(&req("^0.2")), Some(Contract::V0_2));
        assert_eq!(
            Contract::satisfying(&req(">=0.1, <0.3")),
            Some(Contract::V0_2)
        );
        assert_eq!(Contract::satisfying(&req("^1.0")), None);
        assert_eq!(Contract::satisfying(&req("^0.3")), None);
    }

    #[test]
    fn the_version_comes_from_the_names() {
        let names = [
            "wasi:io/streams@0.2.6",
            "tessera:plugin/storage@0.1.0",
            "tessera:plugin/handler@0.1.0",
        ];
        assert_eq!(version_of(names).unwrap(), Some(v("0.1.0")));
        assert_eq!(version_of(["wasi:cli/stdin@0.2.6"]).unwrap(), None);
        assert!(matches!(
            version_of(["tessera:plugin/storage@0.1.0", "tessera:plugin/log@0.2.0"]),
            Err(NameError::Mixed(..))
        ));
        assert!(matches!(
            version_of(["tessera:plugin/storage"]),
            Err(NameError::Unversioned(_))
        ));
        assert_eq!(version_in_name("tessera:pluginx/storage@0.1.0"), None);
    }

    #[test]
    fn display_names_the_package() {
        assert_eq!(Contract::V0_1.to_string(), "tessera:plugin@0.1.0");
        assert_eq!(served_list(), "0.1.0, 0.2.0");
    }
}
