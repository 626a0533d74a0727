//! Logging: a tracing subscriber set up once by `main` (the one process-wide piece of state).

use tracing_subscriber::EnvFilter;

use crate::config::settings::LogSettings;

/// `OPSLINE_LOG` overrides `log.level`; `log.format` picks pretty or JSON lines.
pub fn init(settings: &LogSettings, override_filter: Option<String>) {
    let filter = override_filter.unwrap_or_else(|| settings.level.clone());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if settings.format == "json" { builder.json().try_init() } else { builder.try_init() };
}
