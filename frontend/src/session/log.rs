//! The frontend's own log: `tracing` events written to stderr, which BuildKit passes to the
//! daemon's log (dockerd's or buildkitd's), not to the user's terminal: what the user must
//! see goes through `Warn` and the `Return` error instead. Quiet by default: warnings and
//! errors only; `--build-arg AISHELL_LOG=info` adds a line per phase of the build,
//! `AISHELL_LOG=debug` a line per gateway call.

use crate::graph::options::{LogLevel, Options};
use tracing::Level;

/// Starts the log at the level `env`'s options ask for (`warn` when they cannot be read:
/// the build then reports why in its `Return`). Only the first call in a process counts.
pub fn init(env: &[(String, String)]) {
    let level = Options::from_env(env.iter().cloned())
        .map(|o| o.log)
        .unwrap_or_default();
    // A second init (tests run many builds in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing_level(level))
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}

/// The `tracing` level of a log level.
pub fn tracing_level(level: LogLevel) -> Level {
    match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_maps_to_its_tracing_level() {
        assert_eq!(tracing_level(LogLevel::Error), Level::ERROR);
        assert_eq!(tracing_level(LogLevel::Warn), Level::WARN);
        assert_eq!(tracing_level(LogLevel::Info), Level::INFO);
        assert_eq!(tracing_level(LogLevel::Debug), Level::DEBUG);
    }
}
