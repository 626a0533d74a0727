//! Configuration (README: Configuration): loading, validation and the compiled runtime view.
//! Problems are reported all at once with their keys; secrets never appear in `Debug` output.

pub mod checks;
pub mod content;
pub mod escalation;
mod load;
mod rules;
pub mod secret;
pub mod settings;
mod validate;

use std::collections::BTreeMap;
use std::fmt;

pub use content::Versioned;
pub use load::ConfigSource;
pub use settings::Settings;
pub use validate::{compile_calendar, compile_policy, parse_duration, valid_name};

use crate::domain::calendar::Calendar;
use crate::domain::classify::Classifier;
use crate::domain::sla::{SlaPolicy, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One thing wrong with the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), severity: Severity::Error }
    }

    pub fn warning(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), severity: Severity::Warning }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = if self.is_error() { "error" } else { "warning" };
        if self.key.is_empty() {
            write!(f, "{label}: {}", self.message)
        } else {
            write!(f, "{label}: {}: {}", self.key, self.message)
        }
    }
}

/// The problems found so far. Whether a part of the configuration is usable is asked with
/// [`Problems::mark`] and [`Problems::errors_since`]: only errors make a part unusable, so a
/// warning can never drop what it warns about.
#[derive(Debug, Default, Clone)]
pub struct Problems(Vec<Problem>);

/// How many errors had been found at some point.
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

impl Problems {
    pub fn push(&mut self, p: Problem) {
        self.0.push(p);
    }

    fn errors(&self) -> usize {
        self.0.iter().filter(|p| p.is_error()).count()
    }

    pub fn mark(&self) -> Mark {
        Mark(self.errors())
    }

    /// Whether an error was found since `m` (warnings do not count).
    pub fn errors_since(&self, m: Mark) -> bool {
        self.errors() > m.0
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

/// Every problem found; returned when any is an error.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has problems:")?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// The contract a customer gets by tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub calendar: String,
    pub sla_policy: String,
}

#[derive(Debug, Clone)]
pub struct TicketRules {
    pub max_backdate_secs: i64,
    pub reopen_window_secs: i64,
    pub max_wait: Target,
    pub auto_close_after_secs: i64,
    /// `integrations.reopen_window`.
    pub alert_reopen_window_secs: i64,
    pub require_signed_visit: bool,
    /// `visits.max_offline`.
    pub visit_max_offline_secs: i64,
    /// `ratings.expire_after`.
    pub rating_expire_secs: i64,
    /// `reports.ack_within`.
    pub report_ack_within: Target,
}

/// The configuration compiled into what the service runs on.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub calendars: BTreeMap<String, Versioned<Calendar>>,
    pub policies: BTreeMap<String, Versioned<SlaPolicy>>,
    pub classifier: Classifier,
    pub vip: Contract,
    pub standard: Contract,
    pub tickets: TicketRules,
    pub escalation: escalation::Escalation,
    pub checks: checks::ChecksRuntime,
    /// Hash over every versioned object: instances with the same hash agree.
    pub hash: String,
}

/// A loaded, valid configuration and the warnings it raised.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub runtime: Runtime,
    pub environment: String,
    pub warnings: Vec<Problem>,
}

impl Config {
    pub fn load(source: &ConfigSource) -> Result<Config, ConfigError> {
        let mut problems = Problems::default();
        let settings = load::merged_table(source, &mut problems).and_then(|t| load::typed(t, &mut problems));
        let runtime =
            settings.as_ref().and_then(|s| validate::compile(s, &source.dir, &source.environment, &mut problems));
        match (settings, runtime) {
            (Some(settings), Some(runtime)) if !problems.has_errors() => {
                let warnings = problems.into_vec();
                Ok(Config { settings, runtime, environment: source.environment.clone(), warnings })
            }
            _ => Err(ConfigError { problems: problems.into_vec() }),
        }
    }

    /// The zone times are shown in by default: the named calendar's, else the business
    /// calendar's, else UTC.
    pub fn zone_for(&self, calendar: Option<&str>) -> String {
        let cals = &self.settings.calendars;
        calendar
            .and_then(|c| cals.get(c))
            .or_else(|| cals.get("business"))
            .or_else(|| cals.values().next())
            .map_or_else(|| "UTC".to_string(), |c| c.timezone.clone())
    }

    pub fn contract_for_tier(&self, tier: crate::domain::customer::Tier) -> &Contract {
        match tier {
            crate::domain::customer::Tier::Vip => &self.runtime.vip,
            crate::domain::customer::Tier::Standard => &self.runtime.standard,
        }
    }
}
