//! The `[checks]`, `[gating]`, `[inspections]`, `[environments]` and `[retention]` sections,
//! checked and compiled: every config-defined check compiles (a bad condition is an error pointing
//! at it), canaries name defined checks, environment profiles hold conditions on series only,
//! durations parse.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::settings::Settings;
use super::validate::{parse_duration, valid_name};
use super::{Problem, Problems};
use crate::checks::spec::{CheckDef, CheckKind};
use crate::domain::check::conditions::{self, Condition};

#[derive(Debug, Clone)]
pub struct ChecksRuntime {
    pub denied_networks: Vec<IpNet>,
    pub flap_window_secs: i64,
    /// The checks of `[checks.NAME]`, by name.
    pub defined: BTreeMap<String, CheckDef>,
    pub retention: Retention,
    /// The environment profiles of `[environments.NAME]`, by name.
    pub environments: BTreeMap<String, Environment>,
}

/// An environment profile, compiled.
#[derive(Debug, Clone)]
pub struct Environment {
    pub description: String,
    pub conditions: Vec<Condition>,
}

fn environments(settings: &Settings, problems: &mut Problems) -> BTreeMap<String, Environment> {
    let mut out = BTreeMap::new();
    for (name, e) in &settings.environments {
        let key = format!("environments.{name}");
        if !valid_name(name) {
            problems.push(Problem::error(&key, "names match [a-z0-9][a-z0-9_-]*"));
        }
        if e.conditions.is_empty() {
            problems.push(Problem::error(format!("{key}.conditions"), "at least one condition"));
        }
        let mut compiled = Vec::new();
        for (i, text) in e.conditions.iter().enumerate() {
            match conditions::parse(text) {
                Ok(c) if c.reads_series() => compiled.push(c),
                Ok(_) => problems.push(Problem::error(
                    format!("{key}.conditions[{i}]"),
                    format!(
                        "`{text}`: a profile's conditions read series ([METRIC …], [RATIO …], [COUNT …], [LABEL …])"
                    ),
                )),
                Err(why) => problems.push(Problem::error(format!("{key}.conditions[{i}]"), format!("`{text}`: {why}"))),
            }
        }
        out.insert(name.clone(), Environment { description: e.description.clone(), conditions: compiled });
    }
    out
}

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub check_results_secs: i64,
    pub minute_rollups_secs: i64,
    pub day_rollups_secs: i64,
    pub delivered_notifications_secs: i64,
}

pub fn compile(settings: &Settings, problems: &mut Problems) -> Option<ChecksRuntime> {
    let before = problems.mark();
    let c = &settings.checks;
    let mut denied_networks = Vec::new();
    for n in &c.denied_networks {
        match n.parse::<IpNet>() {
            Ok(net) => denied_networks.push(net),
            Err(_) => problems.push(Problem::error("checks.denied_networks", format!("`{n}` is not a CIDR network"))),
        }
    }
    if c.concurrency == 0 || c.batch == 0 {
        problems.push(Problem::error("checks", "concurrency and batch must be at least 1"));
    }
    let min_lease = crate::checks::spec::MAX_TIMEOUT_MS / 1000 + 10;
    if c.lease_secs < min_lease {
        problems.push(Problem::error(
            "checks.lease_secs",
            format!("at least {min_lease}: longer than the longest probe (timeout_ms ≤ 30000) and its recording"),
        ));
    }
    if settings.inspections.concurrency == 0 {
        problems.push(Problem::error("inspections.concurrency", "must be at least 1"));
    }
    let schedule = &settings.inspections.schedule;
    if !schedule.is_empty()
        && (schedule.split_whitespace().count() != 6
            || tokio_cron_scheduler::Job::new_async(schedule.as_str(), |_, _| Box::pin(async {})).is_err())
    {
        problems.push(Problem::error(
            "inspections.schedule",
            format!("`{schedule}` is not a cron schedule with six fields (sec min hour day month weekday)"),
        ));
    }
    let mut dur = |key: &str, v: &str| {
        let d = parse_duration(v).filter(|d| *d > 0);
        if d.is_none() {
            problems.push(Problem::error(key, format!("`{v}` is not a duration such as 30m, 24h or 7d")));
        }
        d.unwrap_or(0)
    };
    let flap_window_secs = dur("checks.flap_window", &c.flap_window);
    let r = &settings.retention;
    let retention = Retention {
        check_results_secs: dur("retention.check_results", &r.check_results),
        minute_rollups_secs: dur("retention.minute_rollups", &r.minute_rollups),
        day_rollups_secs: dur("retention.day_rollups", &r.day_rollups),
        delivered_notifications_secs: dur("retention.delivered_notifications", &r.delivered_notifications),
    };
    if r.batch == 0 {
        problems.push(Problem::error("retention.batch", "must be at least 1"));
    }
    let mut defined = BTreeMap::new();
    for (name, spec) in &c.defined {
        let key = format!("checks.{name}");
        if !valid_name(name) {
            problems.push(Problem::error(&key, "names match [a-z0-9][a-z0-9_-]*"));
        }
        if spec.name.is_some() || spec.customer_id.is_some() {
            problems.push(Problem::error(
                &key,
                "in config the table key is the name and the customer is named by `customer = \"<key>\"`",
            ));
        }
        if spec.kind == CheckKind::Heartbeat {
            problems.push(Problem::error(
                format!("{key}.kind"),
                "heartbeat checks are created through the API (their token is shown once)",
            ));
        }
        match spec.compile() {
            Ok(def) => {
                defined.insert(name.clone(), def);
            }
            Err(list) => {
                for (field, msg) in list {
                    problems.push(Problem::error(format!("{key}.{field}"), msg));
                }
            }
        }
    }
    for canary in &settings.gating.canaries {
        if !c.defined.contains_key(canary) {
            problems.push(Problem::error("gating.canaries", format!("`{canary}` is not a check defined in [checks]")));
        }
    }
    let environments = environments(settings, problems);
    if problems.errors_since(before) {
        return None;
    }
    Some(ChecksRuntime { denied_networks, flap_window_secs, defined, retention, environments })
}
