//! A check as written in `[checks.NAME]` or sent to `POST /api/v1/checks`, and its compiled form.
//! Compiling checks every field at once and names each problem's field, so that a bad condition
//! is a config error or a 422 pointing at it — never a failure at run time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::check::conditions::{self, Condition};
use crate::domain::check::maintenance::{Window, WindowSpec};
use crate::domain::level::Level;
use crate::domain::sla::parse_hms;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Http,
    /// A Prometheus exporter's `/metrics` (node_exporter, windows_exporter…): conditions on its
    /// series.
    Exporter,
    /// A PromQL instant query against a customer's Prometheus: conditions on the answer.
    Prometheus,
    Tcp,
    Tls,
    Dns,
    Postgres,
    Host,
    Heartbeat,
}

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Http => "http",
            CheckKind::Exporter => "exporter",
            CheckKind::Prometheus => "prometheus",
            CheckKind::Tcp => "tcp",
            CheckKind::Tls => "tls",
            CheckKind::Dns => "dns",
            CheckKind::Postgres => "postgres",
            CheckKind::Host => "host",
            CheckKind::Heartbeat => "heartbeat",
        }
    }
}

fn default_failure_threshold() -> u32 {
    3
}

fn default_success_threshold() -> u32 {
    2
}

/// The keys of a check. In config the name is the table's key and the customer is named by its
/// `customer` key; through the API, `name` and `customer_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `[a-z0-9][a-z0-9_-]*`, unique (API only: in config the table key is the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kind: CheckKind,
    /// http, exporter: the URL (its user and password, for basic auth, are secrets). postgres: a
    /// connection URL — a secret, never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: GET (default), HEAD, POST, PUT …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// prometheus: the PromQL instant query (`url` is the Prometheus, as `http://prom:9090`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// tcp, tls, dns (a name to resolve is `query_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// tcp: sent after connecting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// tcp: the answer must contain this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// dns: the name asked for, the record type (A, AAAA, CNAME, MX, NS, TXT; default A) and the
    /// server `host:port` asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// How often: `30s`, `5m` (heartbeat: the longest silence). Or `cron` (six fields, seconds
    /// first), not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Gatus-style conditions, all of which must hold.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// API: the customer whose tickets a failure opens (none: no tickets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<i64>,
    /// Config: the customer's `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The level of the tickets a failure opens; default III.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Shown on the public status page; absent: not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_name: Option<String>,
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
    /// The interval while failing (default: the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
    #[serde(default)]
    pub auto_resolve: bool,
    #[serde(default)]
    pub maintenance: Vec<WindowSpec>,
}

/// A valid check, ready to schedule and run.
#[derive(Debug, Clone)]
pub struct CheckDef {
    pub spec: CheckSpec,
    pub level: Level,
    pub interval_secs: Option<i64>,
    pub retry_interval_secs: Option<i64>,
    pub timeout_ms: u64,
    pub conditions: Vec<Condition>,
    pub maintenance: Vec<Window>,
}

/// One problem with a spec: the field (`conditions[1]`) and what is wrong.
pub type FieldProblem = (String, String);

const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The longest a probe may take; `checks.lease_secs` must outlast it, so that no other instance
/// takes over a check whose probe is still running.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

impl CheckSpec {
    /// The compiled check, or every problem with its field.
    pub fn compile(&self) -> Result<CheckDef, Vec<FieldProblem>> {
        let mut p: Vec<FieldProblem> = Vec::new();
        let mut bad = |f: &str, m: String| p.push((f.to_string(), m));
        let need = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        match self.kind {
            CheckKind::Http | CheckKind::Exporter | CheckKind::Prometheus => {
                match self.url.as_deref().map(reqwest::Url::parse) {
                    Some(Ok(u)) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
                    _ => bad("url", "an http:// or https:// URL is required".into()),
                }
            }
            CheckKind::Postgres => {
                if !self.url.as_deref().is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
                {
                    bad("url", "a postgres:// URL is required".into());
                }
            }
            CheckKind::Tcp | CheckKind::Tls => {
                if !need(&self.host) {
                    bad("host", "required".into());
                }
                if self.port.is_none_or(|p| p == 0) {
                    bad("port", "1–65535 is required".into());
                }
            }
            CheckKind::Dns => {
                if !need(&self.query_name) {
                    bad("query_name", "required".into());
                }
                if self.server.as_deref().is_none_or(|s| s.parse::<std::net::SocketAddr>().is_err()) {
                    bad("server", "an address such as `127.0.0.1:53` is required".into());
                }
                if let Some(t) = &self.record_type
                    && !["A", "AAAA", "CNAME", "MX", "NS", "TXT"].contains(&t.to_ascii_uppercase().as_str())
                {
                    bad("record_type", "A, AAAA, CNAME, MX, NS or TXT".into());
                }
            }
            CheckKind::Host | CheckKind::Heartbeat => {}
        }
        match (&self.query, self.kind) {
            (Some(q), CheckKind::Prometheus) if !q.trim().is_empty() && q.len() <= 4096 => {}
            (_, CheckKind::Prometheus) => bad("query", "a PromQL query of at most 4096 bytes is required".into()),
            (Some(_), _) => bad("query", "only prometheus checks have a query".into()),
            (None, _) => {}
        }
        if let Some(m) = &self.method
            && (self.kind != CheckKind::Http || m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()))
        {
            bad("method", "an upper-case HTTP method, for http checks".into());
        }
        let interval_secs = match &self.interval {
            Some(i) => match parse_hms(i).filter(|s| (1..=31 * 86_400).contains(s)) {
                Some(s) => Some(s),
                None => {
                    bad("interval", format!("`{i}` is not a duration between 1s and 31 days"));
                    None
                }
            },
            None => None,
        };
        match (&self.interval, &self.cron) {
            (Some(_), Some(_)) => bad("cron", "give `interval` or `cron`, not both".into()),
            (None, None) => bad("interval", "give `interval` (e.g. `1m`) or `cron`".into()),
            (None, Some(_)) if self.kind == CheckKind::Heartbeat => {
                bad("interval", "a heartbeat check needs `interval`: the longest silence".into());
            }
            (None, Some(c)) if c.split_whitespace().count() != 6 => {
                bad("cron", format!("`{c}` needs six fields: sec min hour day month weekday"));
            }
            (None, Some(c)) if tokio_cron_scheduler::Job::new_async(c.as_str(), |_, _| Box::pin(async {})).is_err() => {
                bad("cron", format!("`{c}` is not a cron schedule (sec min hour day month weekday)"));
            }
            _ => {}
        }
        let retry_interval_secs = match &self.retry_interval {
            Some(i) => match parse_hms(i).filter(|s| *s >= 1) {
                Some(s) => Some(s),
                None => {
                    bad("retry_interval", format!("`{i}` is not a duration"));
                    None
                }
            },
            None => None,
        };
        let timeout_ms = self.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            bad("timeout_ms", format!("1–{MAX_TIMEOUT_MS}"));
        }
        let mut conds = Vec::new();
        for (i, c) in self.conditions.iter().enumerate() {
            match conditions::parse(c) {
                Ok(c) => conds.push(c),
                Err(e) => bad(&format!("conditions[{i}]"), format!("`{c}`: {e}")),
            }
        }
        let level = match self.level.as_deref().map(str::parse::<Level>) {
            None => Level::III,
            Some(Ok(l)) => l,
            Some(Err(_)) => {
                bad("level", "I, II, III or IV".into());
                Level::III
            }
        };
        if self.failure_threshold == 0 || self.failure_threshold > 100 {
            bad("failure_threshold", "1–100".into());
        }
        if self.success_threshold == 0 || self.success_threshold > 100 {
            bad("success_threshold", "1–100".into());
        }
        if self.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            bad("tags", "tags are 1–64 characters".into());
        }
        let mut maintenance = Vec::new();
        for (i, w) in self.maintenance.iter().enumerate() {
            match w.compile() {
                Ok(w) => maintenance.push(w),
                Err(e) => {
                    let (f, m) = e.split_once(": ").unwrap_or(("", e.as_str()));
                    bad(&format!("maintenance[{i}].{f}"), m.to_string());
                }
            }
        }
        p.extend(self.unkept_secrets());
        if !p.is_empty() {
            return Err(p);
        }
        Ok(CheckDef {
            spec: self.clone(),
            level,
            interval_secs,
            retry_interval_secs,
            timeout_ms,
            conditions: conds,
            maintenance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(conditions: &[&str]) -> CheckSpec {
        serde_json::from_value(serde_json::json!({
            "kind": "http", "url": "http://127.0.0.1:1/health", "interval": "30s",
            "conditions": conditions,
        }))
        .unwrap()
    }

    #[test]
    fn a_good_spec_compiles_with_defaults() {
        let d = http(&["[STATUS] == 200"]).compile().unwrap();
        assert_eq!((d.level, d.interval_secs, d.timeout_ms), (Level::III, Some(30), 10_000));
        assert_eq!((d.spec.failure_threshold, d.spec.success_threshold), (3, 2));
    }

    #[test]
    fn every_problem_names_its_field() {
        let mut s = http(&["[STATUS] == 200", "[STATUS]==200"]);
        s.level = Some("V".into());
        s.interval = None;
        let fields: Vec<String> = s.compile().unwrap_err().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["interval", "conditions[1]", "level"]);
    }
}
