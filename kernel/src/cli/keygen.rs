//! `tessera keygen`: a publisher key pair for signing packages.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tessera_kernel::package::SigningKey;

/// Options of `tessera keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (mode 0600); the public key goes to
    /// the same path with `.pub` appended. Existing files are never
    /// overwritten.
    #[arg(long, value_name = "FILE", default_value = "tessera-signing.key")]
    out: PathBuf,
}

/// Run `tessera keygen`: write the key files, print the public key.
pub fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    let public_path = public_path(&args.out);
    for path in [&args.out, &public_path] {
        if path.exists() {
            anyhow::bail!(
                "{} already exists; keygen never overwrites a key: choose another --out",
                path.display()
            );
        }
    }
    let key = SigningKey::generate()?;
    key.write_file(&args.out)?;
    let public = key.public_key();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&public_path)
        .and_then(|mut file| file.write_all(format!("{public}\n").as_bytes()))
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    eprintln!(
        "Secret key: {} (keep it private and backed up; it signs packages as you)",
        args.out.display()
    );
    eprintln!(
        "Public key: {} (fingerprint {})",
        public_path.display(),
        public.fingerprint()
    );
    eprintln!(
        "Administrators trust it with: tessera trust add <name> {}",
        public_path.display()
    );
    println!("{public}");
    Ok(())
}

fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}
