//! The `blink-store` binary: parse the command line, then serve (with
//! logging) or run one of the client tools; map errors to an exit code.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use blink_store::aof;
use blink_store::args::{self, Action};
use blink_store::logging;
use blink_store::server::Server;
use blink_store::tools::{bench, cli, ToolError};

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let config = match args::parse(args) {
        Ok(Action::Serve(config)) => config,
        Ok(Action::Cli(options)) => {
            return tool_exit("cli", cli::run(&options).map(|o| o.exit_status()));
        }
        Ok(Action::Bench(options)) => return tool_exit("bench", bench::run(&options).map(|()| 0)),
        Ok(Action::AofCheck { path, fix }) => return aof_check(&path, fix),
        Ok(Action::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(Action::Usage(text)) => {
            eprint!("{text}");
            return ExitCode::from(2);
        }
        Ok(Action::Version) => {
            println!("blink-store {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("blink-store: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = logging::init(config.log_level) {
        eprintln!("blink-store: cannot start logging: {e}");
    }
    let server = match Server::bind(&config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("blink-store: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "blink-store {} {}",
        env!("CARGO_PKG_VERSION"),
        server.describe()
    );
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blink-store: cannot start serving: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `aof-check`: 0 when the log is sound (perhaps after `--fix`), 1
/// when it is not, 2 when it cannot be read.
fn aof_check(path: &std::path::Path, fix: bool) -> ExitCode {
    match aof::check(path, fix) {
        Ok(checked) => {
            let (report, sound) = checked.report(path);
            println!("{report}");
            ExitCode::from(if sound { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("blink-store aof-check: {e}");
            ExitCode::from(2)
        }
    }
}

/// The exit code of a tool: its own status, or 2 after printing its error.
fn tool_exit(tool: &str, result: Result<u8, ToolError>) -> ExitCode {
    match result {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("blink-store {tool}: {e}");
            ExitCode::from(2)
        }
    }
}
