//! The `ayanami` command: parse the command line, run it, and turn a
//! failure into a message and an exit code.

mod commands;
mod listen;
mod logging;
mod runtime;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    logging::init(cli.log.as_deref(), cli.log_format);
    if cli.command.starts_functions() {
        // SAFETY: no thread has started yet; each command starts its own
        // async runtime.
        if let Err(error) = unsafe { ayanami_function::guard::start() } {
            tracing::warn!(%error, "no guard process: function calls will outlive Ayanami if it is killed outright");
        }
    }
    match cli.command.run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
