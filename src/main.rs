//! The `blink-store` binary: parse the command line, start logging, serve.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use blink_store::cli::{self, Action};
use blink_store::server::Server;
use log::LevelFilter;
use simple_logger::SimpleLogger;

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let config = match cli::parse(args) {
        Ok(Action::Serve(config)) => config,
        Ok(Action::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
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
    start_logging(config.log_level);
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

/// Logs to stderr at `level`, or as `RUST_LOG` says when no level was given.
fn start_logging(level: Option<LevelFilter>) {
    let logger = match level {
        Some(level) => SimpleLogger::new().with_level(level),
        None => SimpleLogger::new().with_level(LevelFilter::Info).env(),
    };
    if let Err(e) = logger.init() {
        eprintln!("blink-store: cannot start logging: {e}");
    }
}
