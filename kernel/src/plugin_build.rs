//! Building plugin crates (a `plugin.toml` beside a `Cargo.toml`) into
//! WebAssembly components with cargo, for `tessera plugin build` and for
//! `tessera serve` loading plugins from source directories.
//!
//! Components go to `<workspace>/target/plugins/wasm32-wasip2/release/`, a
//! target directory of their own inside the workspace's, so that a build
//! started while another cargo holds the workspace target dir (a test run)
//! neither waits for it nor disturbs it. The `wasm32-wasip2` target is added
//! with rustup when missing, as cargo-component does: the project never
//! relies on rustup installing it by itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_host_api::{Manifest, ManifestError};

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Why a plugin could not be found or built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is invalid.
    #[error("{path}: {source}")]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// What is wrong.
        source: ManifestError,
    },
    /// The crate's `Cargo.toml` has no usable package name.
    #[error("{path}: {message}")]
    CargoToml {
        /// The Cargo.toml path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tool could not be run or failed.
    #[error("`{command}` failed: {message}")]
    Command {
        /// The command line.
        command: String,
        /// What happened.
        message: String,
    },
    /// The component was expected but is not there.
    #[error(
        "plugin `{id}` has not been built: {path} is missing; run `tessera plugin build {dir}`"
    )]
    NotBuilt {
        /// Plugin id.
        id: String,
        /// Expected component path.
        path: PathBuf,
        /// The plugin's directory.
        dir: PathBuf,
    },
}

/// A plugin source directory.
#[derive(Debug, Clone)]
pub struct PluginCrate {
    /// The directory holding `plugin.toml` and `Cargo.toml`.
    pub dir: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The cargo package name.
    pub package: String,
    /// The cargo workspace root the crate belongs to.
    pub workspace_root: PathBuf,
}

impl PluginCrate {
    /// Read `dir/plugin.toml` and `dir/Cargo.toml`.
    pub fn open(dir: &Path) -> Result<Self, BuildError> {
        let manifest_path = dir.join("plugin.toml");
        let text = read(&manifest_path)?;
        let manifest = Manifest::parse(&text).map_err(|source| BuildError::Manifest {
            path: manifest_path,
            source,
        })?;
        let cargo_path = dir.join("Cargo.toml");
        let cargo: toml::Table = read(&cargo_path)?
            .parse()
            .map_err(|error: toml::de::Error| BuildError::CargoToml {
                path: cargo_path.clone(),
                message: error.to_string(),
            })?;
        let package = cargo
            .get("package")
            .and_then(|package| package.get("name"))
            .and_then(|name| name.as_str())
            .ok_or_else(|| BuildError::CargoToml {
                path: cargo_path.clone(),
                message: "no [package] name".into(),
            })?
            .to_owned();
        let workspace_root = workspace_root(&cargo_path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            package,
            workspace_root,
        })
    }

    /// Where cargo puts this plugin's component.
    pub fn component_path(&self) -> PathBuf {
        target_dir(&self.workspace_root)
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", self.package.replace('-', "_")))
    }

    /// The component path, or [`BuildError::NotBuilt`].
    pub fn built_component(&self) -> Result<PathBuf, BuildError> {
        let path = self.component_path();
        if path.is_file() {
            Ok(path)
        } else {
            Err(BuildError::NotBuilt {
                id: self.manifest.plugin.id.clone(),
                path,
                dir: self.dir.clone(),
            })
        }
    }
}

/// The plugin directories under `roots`: a root that holds a `plugin.toml`
/// is itself a plugin; otherwise each sub-directory holding one is. A root
/// that does not exist is reported on stderr and skipped.
pub fn discover(roots: &[PathBuf]) -> Result<Vec<PathBuf>, BuildError> {
    let mut found = Vec::new();
    for root in roots {
        if !root.exists() {
            eprintln!("No plugin directory at {}; skipping it", root.display());
            continue;
        }
        if root.join("plugin.toml").is_file() {
            found.push(root.clone());
            continue;
        }
        let entries = std::fs::read_dir(root).map_err(|source| BuildError::Io {
            path: root.clone(),
            source,
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.join("plugin.toml").is_file())
            .collect();
        dirs.sort();
        found.extend(dirs);
    }
    Ok(found)
}

/// Build every plugin with one cargo invocation per workspace. cargo's own
/// progress goes to stderr.
pub fn build(plugins: &[PluginCrate]) -> Result<(), BuildError> {
    let mut roots: Vec<&Path> = plugins
        .iter()
        .map(|plugin| plugin.workspace_root.as_path())
        .collect();
    roots.sort();
    roots.dedup();
    for root in roots {
        ensure_wasm_target(root)?;
        let mut command = Command::new(cargo());
        command
            .current_dir(root)
            .args(["build", "--release", "--target", WASM_TARGET])
            // Components carry their name section for backtraces, not DWARF:
            // line tables would make them ten times larger.
            .args(["--config", "profile.release.debug=false"])
            .arg("--target-dir")
            .arg(target_dir(root));
        for plugin in plugins
            .iter()
            .filter(|plugin| plugin.workspace_root == root)
        {
            command.args(["-p", &plugin.package]);
        }
        run(&mut command)?;
    }
    Ok(())
}

/// Add the `wasm32-wasip2` target with rustup when the active toolchain
/// lacks it. Without rustup, cargo's own error will say what is missing.
pub fn ensure_wasm_target(root: &Path) -> Result<(), BuildError> {
    let installed = Command::new("rustup")
        .current_dir(root)
        .args(["target", "list", "--installed"])
        .output();
    let Ok(installed) = installed else {
        return Ok(());
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("Installing the {WASM_TARGET} target with rustup");
    run(Command::new("rustup")
        .current_dir(root)
        .args(["target", "add", WASM_TARGET]))
}

fn target_dir(root: &Path) -> PathBuf {
    root.join("target").join("plugins")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn workspace_root(cargo_toml: &Path) -> Result<PathBuf, BuildError> {
    let output = Command::new(cargo())
        .args([
            "locate-project",
            "--workspace",
            "--message-format",
            "plain",
            "--manifest-path",
        ])
        .arg(cargo_toml)
        .output()
        .map_err(|error| BuildError::Command {
            command: "cargo locate-project".into(),
            message: error.to_string(),
        })?;
    if !output.status.success() {
        return Err(BuildError::Command {
            command: format!(
                "cargo locate-project --manifest-path {}",
                cargo_toml.display()
            ),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let root_manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(root_manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default())
}

fn run(command: &mut Command) -> Result<(), BuildError> {
    let line = format!("{command:?}");
    let status = command.status().map_err(|error| BuildError::Command {
        command: line.clone(),
        message: error.to_string(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Command {
            command: line,
            message: format!("exited with {status}"),
        })
    }
}

fn read(path: &Path) -> Result<String, BuildError> {
    std::fs::read_to_string(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}
