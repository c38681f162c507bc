//! The `tessera` command. The command line lives in [`cli`]; this file only
//! hands over to it.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::run()
}
