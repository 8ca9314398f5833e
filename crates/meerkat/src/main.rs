//! `meerkat`: the Meerkat XMPP server and its admin commands in one binary.
//!
//! # Layout
//! - [`cli`]: the clap definition of the command line.
//! - [`commands`]: one file per command or family of commands, plus the shared plumbing
//!   (loading the configuration, reaching the admin API, exit codes).
//! - [`daemon`]: starting the node detached (`meerkat start`) and its pid file.
//! - [`os_limits`]: raising the file-descriptor limit before the node starts.
//!
//! Exit codes follow `mongooseimctl`: 0 success, 1 failure, 2 bad usage (from clap), 3 the node
//! is not running.

mod cli;
mod commands;
mod daemon;
mod os_limits;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
