//! `tessera trust add|list|remove`: the publisher keys this kernel trusts.

use std::path::Path;

use clap::Subcommand;
use serde_json::json;
use tessera_kernel::package::{PUBLIC_PREFIX, PublicKey, SECRET_PREFIX, TrustStore};

use super::{DataDir, output};

/// The `tessera trust` subcommands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a publisher's public key under a name.
    Add {
        /// A short name for the publisher, e.g. `acme`.
        name: String,
        /// The public key (`tessera-ed25519-public:...`) or a file holding it.
        #[arg(value_name = "PUBLIC_KEY_OR_FILE")]
        key: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the trusted keys.
    List {
        #[command(flatten)]
        data: DataDir,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Stop trusting a key.
    Remove {
        /// The name the key was added under.
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Run a `tessera trust` subcommand.
pub fn run(command: TrustCommand) -> anyhow::Result<()> {
    match command {
        TrustCommand::Add { name, key, data } => {
            let key = parse_key(&key)?;
            let mut store = TrustStore::open(&data.data)?;
            store.add(&name, key)?;
            println!(
                "Trusted key {} as `{name}` ({})",
                key.fingerprint(),
                store.dir().display()
            );
        }
        TrustCommand::List { data, json } => {
            let store = TrustStore::open(&data.data)?;
            if json {
                let keys: Vec<_> = store
                    .list()
                    .map(|(name, key)| {
                        json!({
                            "name": name,
                            "fingerprint": key.fingerprint(),
                            "public_key": key.to_text(),
                        })
                    })
                    .collect();
                output::println(&serde_json::to_string_pretty(&keys)?)?;
            } else if store.list().next().is_none() {
                eprintln!("No trusted keys in {}", store.dir().display());
            } else {
                let lines: String = store
                    .list()
                    .map(|(name, key)| format!("{name}  {}  {key}\n", key.fingerprint()))
                    .collect();
                output::print(&lines)?;
            }
        }
        TrustCommand::Remove { name, data } => {
            let mut store = TrustStore::open(&data.data)?;
            let key = store.remove(&name)?;
            println!("No longer trusting `{name}` (key {})", key.fingerprint());
        }
    }
    Ok(())
}

/// A key given as text, or the path of a file holding it.
fn parse_key(argument: &str) -> anyhow::Result<PublicKey> {
    let trimmed = argument.trim();
    if trimmed.starts_with(PUBLIC_PREFIX) || trimmed.starts_with(SECRET_PREFIX) {
        return Ok(PublicKey::from_text(trimmed, "the key argument")?);
    }
    let path = Path::new(argument);
    if !path.exists() {
        anyhow::bail!(
            "`{argument}` is neither a public key (`{PUBLIC_PREFIX}...`) nor an existing file"
        );
    }
    Ok(PublicKey::read_file(path)?)
}
