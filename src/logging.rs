//! Log lines to stderr that can never fail the server.
//!
//! `simple_logger` decides which records pass (the `--log-level` flag, or
//! `RUST_LOG` with its per-module filters); this module writes them. Each
//! line is formatted first and written with one `write_all` to a locked
//! stderr, so lines from many threads never interleave, and a write error
//! (stderr closed: a log pipe whose reader went away, a log shipper that
//! restarted) is dropped. Panicking or exiting on it would take the whole
//! server down for want of a log line.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};
use simple_logger::SimpleLogger;

/// Decides with `simple_logger`'s filter, writes on its own.
struct StderrLogger {
    filter: SimpleLogger,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = if record.target().is_empty() {
            record.module_path().unwrap_or_default()
        } else {
            record.target()
        };
        let line = format!("{:<5} [{target}] {}\n", record.level(), record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().lock().flush();
    }
}

/// Logs to stderr at `level`, or as `RUST_LOG` says when no level is given
/// (`info` when it says nothing). Returns an error only if a logger was
/// already installed.
pub fn init(level: Option<LevelFilter>) -> Result<(), log::SetLoggerError> {
    let filter = match level {
        Some(level) => SimpleLogger::new().with_level(level),
        None => SimpleLogger::new().with_level(LevelFilter::Info).env(),
    };
    log::set_max_level(filter.max_level());
    log::set_boxed_logger(Box::new(StderrLogger { filter }))
}
