//! Writing command output to stdout.

use std::io::Write;

/// Print `text` to stdout. A closed pipe (`tessera ... | head`) ends the
/// output quietly instead of panicking as `println!` would.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Print `text` and a newline to stdout, like [`print`].
pub fn println(text: &str) -> anyhow::Result<()> {
    print(&format!("{text}\n"))
}
