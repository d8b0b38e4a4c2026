//! `cerebro-vmm`: boots the Cerebro enclave and runs models in it.
//!
//! One module per subcommand; `main` only parses arguments, sets up logging and maps a
//! subcommand's error to a one-line message and a non-zero exit code.

mod backend;
mod bench;
mod boot;
mod conformance;
mod enclave;
mod error;
mod inspect;
mod model;
mod report;
mod run;
mod tensor;

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

/// Command-line arguments of `cerebro-vmm`.
#[derive(Parser)]
#[command(name = "cerebro-vmm", version, about = "Cerebro inference enclave")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    /// Log VMM and guest-console activity to stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Option<Command>,
    /// The main job: run a model (`cerebro-vmm --model PATH --input FILE.npy ...`).
    #[command(flatten)]
    run: run::RunArgs,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Boot the enclave, print the guest's banner and the boot time, and shut it down.
    Boot(boot::BootArgs),
    /// Describe a model: format, inputs, outputs, ops, parameters; refuse what cannot run.
    Inspect(inspect::InspectArgs),
    /// Measure a model's latency in the enclave (and with --native, in-process).
    Bench(bench::BenchArgs),
    /// Run StableHLO self-checking test files: PASS|FAIL|UNSUPPORTED per test function.
    Conformance(conformance::ConformanceArgs),
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CEREBRO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .init();
}

fn main() -> ExitCode {
    // Boot time is measured from here (the closest the process can see to its own start).
    let process_start = Instant::now();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match (cli.command, cli.run) {
        (Some(Command::Boot(args)), _) => boot::run(&args, process_start, cli.verbose),
        (Some(Command::Inspect(args)), _) => return inspect::main(args),
        (Some(Command::Bench(args)), _) => return bench::main(args),
        (Some(Command::Conformance(args)), _) => return conformance::main(args),
        (None, args) if args.model.is_some() => return run::main(args),
        (None, _) if std::env::args_os().len() > 1 => {
            eprintln!("error: --model PATH is required (or a subcommand: boot, inspect, bench; see --help)");
            return ExitCode::from(2);
        }
        (None, _) => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error.message);
            ExitCode::from(error.exit_code)
        }
    }
}

/// A subcommand's failure: one line for the user and the process exit code.
pub struct Failure {
    /// One-line cause.
    pub message: String,
    /// Process exit code (non-zero).
    pub exit_code: u8,
}

impl Failure {
    /// Exit code for enclave failures (the VM did not boot, crashed or timed out).
    pub const ENCLAVE: u8 = 5;
    /// Exit code for bad usage.
    pub const USAGE: u8 = 2;

    /// A failure with `exit_code`, its message folded into one line.
    pub fn new(exit_code: u8, message: impl std::fmt::Display) -> Self {
        let message = message
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Self { message, exit_code }
    }
}
