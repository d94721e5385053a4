//! The `bpops` binary: `bpops serve` runs the service.
#![forbid(unsafe_code)]

mod config;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// bpops: asynchronous operations against resources, tracked by operation id.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bpops: {e:#}");
            ExitCode::FAILURE
        }
    }
}
