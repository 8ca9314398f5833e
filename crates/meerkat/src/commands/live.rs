//! `meerkat live`: the node in the foreground.

use super::Failure;
use meerkat_config::Config;
use std::path::Path;
use tracing_subscriber::EnvFilter;

/// Sets up logging, raises the file-descriptor limit, and runs the node on a multi-thread
/// runtime until it stops.
/// `config_path` only names the file in a bad-`loglevel` message.
pub fn run(config: Config, config_path: Option<&Path>) -> Result<(), Failure> {
    init_tracing(&config.general.loglevel, config_path)?;
    if let Err(e) = crate::os_limits::raise_nofile() {
        tracing::warn!(what = "nofile_unknown", error = %e, "cannot read the file descriptor limit");
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.general.worker_threads > 0 {
        builder.worker_threads(config.general.worker_threads);
    }
    let runtime = builder
        .enable_all()
        .thread_name("meerkat")
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    // The error goes to stderr (and so into meerkat.log under `start`) once, from main.
    runtime.block_on(meerkat_server::run(config)).map_err(|e| Failure::new(format!("{e:#}")))
}

/// Logs to stdout with the filter from `RUST_LOG` when set, else from `general.loglevel`.
/// `general.loglevel` is checked here rather than in meerkat-config, which does not depend on
/// tracing-subscriber, so its error is worded like a config error.
fn init_tracing(loglevel: &str, config_path: Option<&Path>) -> Result<(), Failure> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .map_err(|e| Failure::new(format!("environment variable RUST_LOG: {e}")))?,
        _ => EnvFilter::try_new(loglevel).map_err(|e| {
            let file =
                config_path.map_or("default configuration".into(), |p| p.display().to_string());
            Failure::new(format!("{file}: key `general.loglevel`: {e}"))
        })?,
    };
    // `try_init` fails only if a subscriber is already installed, which nothing else does here.
    // Colours only on a terminal: `meerkat start` sends this output to meerkat.log.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).try_init();
    Ok(())
}
