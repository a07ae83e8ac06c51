//! The `firedrill` command: parses arguments and hands them to the library.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    firedrill::cli::run(firedrill::cli::Cli::parse())
}
