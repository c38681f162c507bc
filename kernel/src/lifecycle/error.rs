//! Why a lifecycle operation was refused. Every refusal leaves the kernel
//! exactly as it was, and says what to do next.

use http::StatusCode;

use super::state::Grant;
use crate::kernel_config::KernelConfigError;
use crate::native::NativeError;
use crate::package::PackageError;
use crate::quota::QuotaFileError;
use crate::runtime::LoadError;
use crate::storage::StorageError;

/// A refused or failed lifecycle operation.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No plugin with this id is installed.
    #[error("plugin `{0}` is not installed; `tessera admin list` shows what is")]
    NotInstalled(String),
    /// Install of a plugin that is already installed.
    #[error(
        "plugin `{id}` is already installed at version {version}; use `tessera admin upgrade` to install another version"
    )]
    AlreadyInstalled {
        /// Plugin id.
        id: String,
        /// Its active version.
        version: String,
    },
    /// An upgrade to a version that is not newer.
    #[error(
        "plugin `{id}` {active} is installed; {offered} is not newer (use `tessera admin rollback` to return to the previous version)"
    )]
    NotAnUpgrade {
        /// Plugin id.
        id: String,
        /// Active version.
        active: String,
        /// The offered version.
        offered: String,
    },
    /// The package could not be read, or was tampered with.
    #[error("{0}")]
    Package(#[from] PackageError),
    /// The package carries no signature.
    #[error(
        "package {id} {version} is not signed; sign it with `tessera plugin sign`, or install it with the development flag (--allow-untrusted)"
    )]
    Unsigned {
        /// Plugin id.
        id: String,
        /// Its version.
        version: String,
    },
    /// The package is signed by a key this kernel does not trust.
    #[error(
        "package {id} {version} is signed by key {fingerprint}, which this kernel does not trust; trust it with `tessera trust add`, or install with the development flag (--allow-untrusted)"
    )]
    Untrusted {
        /// Plugin id.
        id: String,
        /// Its version.
        version: String,
        /// Fingerprint of the signer's key.
        fingerprint: String,
    },
    /// The package holds something this kernel cannot run.
    #[error("{0}")]
    Unsupported(String),
    /// A native package, while the administrator has not enabled native
    /// plugins in `<data>/kernel.toml`.
    #[error(
        "package {id} {version} holds a native library, and native plugins are disabled in this kernel; an administrator enables them with `native-plugins = true` in <data>/kernel.toml and a restart"
    )]
    NativeDisabled {
        /// Plugin id.
        id: String,
        /// Its version.
        version: String,
    },
    /// A native package that is not signed by a trusted key. The
    /// development flag does not apply to native code.
    #[error(
        "package {id} {version} holds a native library, which runs inside the kernel process with all of its rights, and it is {signer}; native packages install only when signed by a key this kernel trusts (`tessera trust add`), never with --allow-untrusted"
    )]
    NativeUntrusted {
        /// Plugin id.
        id: String,
        /// Its version.
        version: String,
        /// `not signed`, or which untrusted key signed it.
        signer: String,
    },
    /// A native package built for another target.
    #[error(
        "package {id} {version} holds a native library for {target}, but this kernel runs on {host}; ask the publisher for a package built for {host}"
    )]
    NativeWrongTarget {
        /// Plugin id.
        id: String,
        /// Its version.
        version: String,
        /// The package's target triple.
        target: String,
        /// This kernel's target triple.
        host: String,
    },
    /// The native library could not be loaded (wrong ABI version, not a
    /// Tessera plugin, refused by the dynamic loader).
    #[error(transparent)]
    Native(#[from] NativeError),
    /// `<data>/kernel.toml` is invalid.
    #[error(transparent)]
    Config(#[from] KernelConfigError),
    /// `<data>/quotas.toml` could not be read or written.
    #[error(transparent)]
    Quotas(#[from] QuotaFileError),
    /// The plugin was built against a contract this kernel does not serve.
    #[error(
        "plugin `{id}` needs contract tessera:plugin {wanted}, this kernel serves {served}; rebuild it against a matching tessera-sdk"
    )]
    IncompatibleApi {
        /// Plugin id.
        id: String,
        /// The manifest's `api` range.
        wanted: String,
        /// The kernel's contract version.
        served: String,
    },
    /// A dependency is not installed, not enabled, or at a version outside
    /// the range.
    #[error(
        "plugin `{needed_by}` needs `{dependency}` {range}, but {found}; install or enable it first"
    )]
    MissingDependency {
        /// Who needs it.
        needed_by: String,
        /// The dependency's id.
        dependency: String,
        /// The range required.
        range: String,
        /// What is there instead.
        found: String,
    },
    /// The change would break a plugin that depends on this one.
    #[error(
        "`{dependent}` needs `{id}` {range}; {action} would leave it without a matching version"
    )]
    DependencyConflict {
        /// The plugin being changed.
        id: String,
        /// The enabled plugin that depends on it.
        dependent: String,
        /// The range it needs.
        range: String,
        /// What was attempted, e.g. `upgrading to 2.0.0`.
        action: String,
    },
    /// The administrator has not consented to the capabilities asked for.
    #[error(
        "plugin `{id}` {version} asks for capabilities that need your consent: {}; review them and repeat with consent (--yes)",
        .capabilities.describe().join("; ")
    )]
    ConsentRequired {
        /// Plugin id.
        id: String,
        /// Version asking.
        version: String,
        /// The capabilities needing consent.
        capabilities: Box<Grant>,
    },
    /// Enabled plugins depend on this one.
    #[error("plugin `{id}` is needed by {}; disable or uninstall them first", .dependents.join(", "))]
    HasDependents {
        /// Plugin id.
        id: String,
        /// Enabled plugins that depend on it.
        dependents: Vec<String>,
    },
    /// Rollback without a previous version.
    #[error("plugin `{0}` has no previous version to roll back to")]
    NoPreviousVersion(String),
    /// Enable of an enabled plugin, or disable of a disabled one.
    #[error("plugin `{id}` is already {state}")]
    AlreadyInState {
        /// Plugin id.
        id: String,
        /// `enabled` or `disabled`.
        state: &'static str,
    },
    /// The plugin could not be compiled, linked, migrated or activated.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The kernel's storage failed.
    #[error("storage failed: {0}")]
    Storage(#[from] StorageError),
    /// A file in the data directory could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl LifecycleError {
    /// The machine-readable code of the JSON error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotInstalled(_) => "not_installed",
            Self::AlreadyInstalled { .. } => "already_installed",
            Self::NotAnUpgrade { .. } => "not_an_upgrade",
            Self::Package(error) if error.is_tampering() => "package_tampered",
            Self::Package(_) => "bad_package",
            Self::Unsigned { .. } => "package_unsigned",
            Self::Untrusted { .. } => "package_untrusted",
            Self::Unsupported(_) => "unsupported_package",
            Self::NativeDisabled { .. } | Self::Native(NativeError::Disabled { .. }) => {
                "native_plugins_disabled"
            }
            Self::NativeUntrusted { .. } | Self::Native(NativeError::Untrusted { .. }) => {
                "native_untrusted"
            }
            Self::NativeWrongTarget { .. } => "native_wrong_target",
            Self::Native(NativeError::AbiMismatch { .. }) => "native_abi_mismatch",
            Self::Native(NativeError::MissingSymbol { .. }) => "native_not_a_plugin",
            Self::Native(NativeError::Scratch { .. }) => "internal",
            Self::Native(_) => "native_load_failed",
            Self::Config(_) => "kernel_config_invalid",
            Self::Quotas(_) => "quotas_file_error",
            Self::IncompatibleApi { .. } => "incompatible_api",
            Self::MissingDependency { .. } => "dependency_missing",
            Self::DependencyConflict { .. } => "dependency_conflict",
            Self::ConsentRequired { .. } => "consent_required",
            Self::HasDependents { .. } => "has_dependents",
            Self::NoPreviousVersion(_) => "no_previous_version",
            Self::AlreadyInState { .. } => "already_in_state",
            Self::Load(LoadError::Migrate { .. }) => "migration_failed",
            Self::Load(LoadError::MountTaken { .. }) => "mount_taken",
            Self::Load(
                LoadError::IncompatibleContract { .. } | LoadError::UnsupportedContract { .. },
            ) => "incompatible_api",
            Self::Load(_) => "load_failed",
            Self::Storage(_) | Self::Io { .. } => "internal",
        }
    }

    /// The HTTP status of the JSON error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotInstalled(_) => StatusCode::NOT_FOUND,
            Self::Package(_) | Self::Unsupported(_) => StatusCode::BAD_REQUEST,
            Self::Unsigned { .. }
            | Self::Untrusted { .. }
            | Self::NativeDisabled { .. }
            | Self::NativeUntrusted { .. }
            | Self::Native(NativeError::Disabled { .. } | NativeError::Untrusted { .. }) => {
                StatusCode::FORBIDDEN
            }
            Self::Native(NativeError::Scratch { .. }) | Self::Config(_) | Self::Quotas(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::NativeWrongTarget { .. } | Self::Native(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IncompatibleApi { .. } | Self::MissingDependency { .. } | Self::Load(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::AlreadyInstalled { .. }
            | Self::NotAnUpgrade { .. }
            | Self::DependencyConflict { .. }
            | Self::ConsentRequired { .. }
            | Self::HasDependents { .. }
            | Self::NoPreviousVersion(_)
            | Self::AlreadyInState { .. } => StatusCode::CONFLICT,
            Self::Storage(_) | Self::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
