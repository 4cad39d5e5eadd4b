//! Logging with `tracing`: JSON lines in production (for log collectors), readable text in
//! development. LOG_LEVEL sets the level; RUST_LOG, when set, overrides it with full directives.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, Environment};

pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(config.log_filter()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: a second initialisation (tests) keeps the first subscriber instead of panicking.
    let _ = match config.environment {
        Environment::Production => builder.json().flatten_event(true).with_current_span(true).try_init(),
        Environment::Development => builder.try_init(),
    };
}
