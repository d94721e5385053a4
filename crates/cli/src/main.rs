//! The `bpops` binary: `bpops serve` runs the service; the other subcommands are a client
//! for it.
#![forbid(unsafe_code)]

mod app;
mod audit;
mod commands;
mod config;
mod deliveries;
mod history;
mod output;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{ClientCommand, Exit};

// N.B. the request path makes many small, short-lived allocations across threads, where
// glibc's allocator spent a fifth of the server's time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Measure a server: throughput, latency and reads, as `docs/benchmarks.md` reports.
    Bench(bpops_bench::BenchArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve(args) => match serve::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bpops: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Bench(args) => {
            client_exit(bpops_bench::run(args, serve::open_store_at).map(|()| Exit::Done))
        }
        Command::Client(command) => client_exit(commands::run(command)),
    }
}

/// Exit statuses of the client commands: 0 done (SUCCESS when waiting), 1 FAILURE (or an
/// application step that failed), 2 usage or transport error or a refusal (clap uses 2 for
/// usage errors too), 3 unknown or expired operation (or unknown application or template), 4
/// a `--timeout` that ran out.
fn client_exit(result: anyhow::Result<Exit>) -> ExitCode {
    match result {
        Ok(Exit::Done) => ExitCode::SUCCESS,
        Ok(Exit::OperationFailed) => ExitCode::from(1),
        Ok(Exit::Unknown) => ExitCode::from(3),
        Ok(Exit::TimedOut) => ExitCode::from(4),
        Err(e) => {
            eprintln!("bpops: {e:#}");
            ExitCode::from(2)
        }
    }
}
