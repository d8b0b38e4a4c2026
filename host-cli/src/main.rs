//! `cerebro-vmm`: boots the Cerebro enclave and runs models in it.

use clap::Parser;

/// Command-line arguments of `cerebro-vmm`.
#[derive(Parser)]
#[command(version, about = "Cerebro inference enclave")]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
