//! Escalation, notification and delivery settings, checked and compiled: rules, on-call
//! rotations, webhook endpoints, allowed networks and the retry schedule.

use crate::domain::customer::Tier;
use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use super::content::hash_of;
use super::settings::{RuleSettings, Settings};
use super::{Problem, Problems, parse_duration, valid_name};
use crate::domain::calendar::Secs;
use crate::domain::escalation::{At, Notify, On, Rule};
use crate::domain::level::Level;
use crate::domain::sla::parse_hms;

/// One on-call shift as UTC instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub user: String,
    pub from: Secs,
    pub to: Secs,
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    pub secret: super::secret::Secret,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Escalation {
    pub rules: Vec<Rule>,
    pub rules_content: String,
    pub rules_hash: String,
    pub oncall: BTreeMap<String, Vec<Shift>>,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub allowed_networks: Vec<IpNet>,
    pub retry_schedule_secs: Vec<i64>,
    pub ack_link_ttl_secs: i64,
}

impl Escalation {
    /// Who is on duty in rotation `name` at `t`.
    pub fn on_duty(&self, name: &str, t: Secs) -> Option<&str> {
        self.oncall.get(name)?.iter().find(|s| s.from <= t && t < s.to).map(|s| s.user.as_str())
    }
}

/// A working-time amount such as `15m` or `1h30m`, in seconds.
fn working(key: &str, v: &str, problems: &mut Problems) -> Option<i64> {
    match parse_hms(v).filter(|s| *s > 0) {
        Some(s) => Some(s),
        None => {
            problems.push(Problem::error(key, format!("`{v}` is not working time such as 30s, 15m or 1h30m")));
            None
        }
    }
}

fn rule(i: usize, r: &RuleSettings, settings: &Settings, problems: &mut Problems) -> Option<Rule> {
    let key = match &r.name {
        Some(n) => format!("escalation.rules[{i}] ({n})"),
        None => format!("escalation.rules[{i}]"),
    };
    let start = problems.mark();
    let on = r.on.parse::<On>().map_err(|e| problems.push(Problem::error(format!("{key}.on"), e))).ok();
    let timer = match r.timer.as_deref() {
        None | Some("any") => None,
        Some(t) => t.parse().map_err(|e: String| problems.push(Problem::error(format!("{key}.timer"), e))).ok(),
    };
    let levels: Vec<Level> = r
        .levels
        .iter()
        .filter_map(|l| {
            l.parse()
                .map_err(|e: crate::domain::level::LevelParseError| {
                    problems.push(Problem::error(format!("{key}.levels"), e.to_string()))
                })
                .ok()
        })
        .collect();
    let tiers: Vec<Tier> = r
        .tiers
        .iter()
        .filter_map(|t| t.parse().map_err(|e: String| problems.push(Problem::error(format!("{key}.tiers"), e))).ok())
        .collect();
    let at = match (&r.at, on) {
        (Some(a), Some(On::Warning)) => match a.strip_suffix('%') {
            Some(p) => match p.parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Some(At::Share(p)),
                _ => {
                    problems.push(Problem::error(format!("{key}.at"), format!("`{a}`: a share is 1%–100%")));
                    None
                }
            },
            None => working(&format!("{key}.at"), a, problems).map(At::Lead),
        },
        (None, Some(On::Warning)) => {
            problems.push(Problem::error(
                format!("{key}.at"),
                "a warning needs `at`: a share such as \"80%\" or a lead time such as \"5m\"",
            ));
            None
        }
        (Some(_), Some(_)) => {
            problems.push(Problem::error(format!("{key}.at"), "only warnings have `at`"));
            None
        }
        _ => None,
    };
    if on.is_some_and(|o| !o.is_timed()) && r.timer.is_some() {
        problems.push(Problem::error(format!("{key}.timer"), "only warning and breach rules name a timer"));
    }
    let repeat = r.repeat.as_deref().and_then(|v| working(&format!("{key}.repeat"), v, problems));
    if on == Some(On::ReportUnacknowledged) && !levels.is_empty() {
        problems.push(Problem::error(format!("{key}.levels"), "a report has no level: name tiers or customers"));
    }
    if repeat.is_some() && on.is_some_and(|o| !o.is_timed()) {
        problems.push(Problem::error(format!("{key}.repeat"), "only warning and breach rules repeat"));
    }
    let after = match (&r.after, on) {
        (Some(a), Some(On::Breach)) => working(&format!("{key}.after"), a, problems).unwrap_or(0),
        (Some(_), _) => {
            problems.push(Problem::error(format!("{key}.after"), "only breach rules have `after`"));
            0
        }
        (None, _) => 0,
    };
    if r.notify.is_empty() {
        problems.push(Problem::error(format!("{key}.notify"), "name at least one target"));
    }
    let mut notify = Vec::new();
    for (j, n) in r.notify.iter().enumerate() {
        let nkey = format!("{key}.notify[{j}]");
        match Notify::parse(n) {
            Ok(Notify::Team(t)) if !settings.teams.contains_key(&t) => {
                problems.push(Problem::error(nkey, format!("no team named `{t}` in [teams]")));
            }
            Ok(Notify::Oncall(o)) if !settings.oncall.contains_key(&o) => {
                problems.push(Problem::error(nkey, format!("no rotation named `{o}` in [oncall]")));
            }
            Ok(Notify::Webhook(w)) if !settings.webhooks.endpoints.contains_key(&w) => {
                problems.push(Problem::error(nkey, format!("no endpoint named `{w}` in [webhooks.endpoints]")));
            }
            Ok(t) => notify.push(t),
            Err(e) => problems.push(Problem::error(nkey, e)),
        }
    }
    if problems.errors_since(start) {
        return None;
    }
    let name = match &r.name {
        Some(n) => n.clone(),
        None => format!("rule-{}", &hash_of(&format!("{r:?}"))[..12]),
    };
    Some(Rule { key: name, on: on?, timer, levels, tiers, customers: r.customers.clone(), at, notify, repeat, after })
}

fn shifts(settings: &Settings, problems: &mut Problems) -> BTreeMap<String, Vec<Shift>> {
    let mut out = BTreeMap::new();
    for (name, list) in &settings.oncall {
        if !valid_name(name) {
            problems.push(Problem::error(format!("oncall.{name}"), "names match [a-z0-9][a-z0-9_-]*"));
        }
        let mut shifts = Vec::new();
        for (i, s) in list.iter().enumerate() {
            let key = format!("oncall.{name}[{i}]");
            let Ok(tz) = jiff::tz::TimeZone::get(&s.timezone) else {
                problems.push(Problem::error(
                    format!("{key}.timezone"),
                    format!("`{}` is not an IANA time zone", s.timezone),
                ));
                continue;
            };
            let instant = |field: &str, v: &str, problems: &mut Problems| -> Option<Secs> {
                match v.parse::<jiff::civil::DateTime>() {
                    Ok(dt) => tz.to_ambiguous_timestamp(dt).compatible().ok().map(|t| t.as_second()),
                    Err(_) => {
                        problems.push(Problem::error(
                            format!("{key}.{field}"),
                            format!("`{v}` is not a local date and time such as 2026-11-30T09:00"),
                        ));
                        None
                    }
                }
            };
            let (from, to) = (instant("from", &s.from, problems), instant("to", &s.to, problems));
            if let (Some(from), Some(to)) = (from, to) {
                if from >= to {
                    problems.push(Problem::error(&key, "`from` must be before `to`"));
                }
                shifts.push(Shift { user: s.user.clone(), from, to });
            }
        }
        out.insert(name.clone(), shifts);
    }
    out
}

pub fn compile(settings: &Settings, problems: &mut Problems) -> Option<Escalation> {
    let before = problems.mark();
    let e = &settings.escalation;
    let ttl = parse_duration(&e.ack_link_ttl).filter(|d| *d > 0);
    if ttl.is_none() {
        problems.push(Problem::error(
            "escalation.ack_link_ttl",
            format!("`{}` is not a duration such as 24h", e.ack_link_ttl),
        ));
    }
    if !(e.public_url.starts_with("http://") || e.public_url.starts_with("https://")) {
        problems.push(Problem::error("escalation.public_url", "an http:// or https:// URL"));
    }
    let mut names = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, r) in e.rules.iter().enumerate() {
        if let Some(n) = &r.name {
            if !valid_name(n) {
                problems.push(Problem::error(format!("escalation.rules[{i}].name"), "names match [a-z0-9][a-z0-9_-]*"));
            }
            if !names.insert(n.clone()) {
                problems
                    .push(Problem::error(format!("escalation.rules[{i}].name"), format!("two rules are named `{n}`")));
            }
        }
        if let Some(rule) = rule(i, r, settings, problems) {
            rules.push(rule);
        }
    }
    let oncall = shifts(settings, problems);
    let mut endpoints = BTreeMap::new();
    for (name, ep) in &settings.webhooks.endpoints {
        let key = format!("webhooks.endpoints.{name}");
        if !valid_name(name) {
            problems.push(Problem::error(&key, "names match [a-z0-9][a-z0-9_-]*"));
        }
        let parsed = reqwest::Url::parse(&ep.url).ok();
        if !parsed.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some()) {
            problems.push(Problem::error(format!("{key}.url"), "an http:// or https:// URL with a host"));
        }
        if ep.secret.expose().chars().count() < 16 {
            problems.push(Problem::error(format!("{key}.secret"), "at least 16 characters"));
        }
        if ep.timeout_ms == 0 || ep.timeout_ms > 120_000 {
            problems.push(Problem::error(format!("{key}.timeout_ms"), "1–120000"));
        }
        endpoints.insert(
            name.clone(),
            Endpoint { name: name.clone(), url: ep.url.clone(), secret: ep.secret.clone(), timeout_ms: ep.timeout_ms },
        );
    }
    let mut allowed_networks = Vec::new();
    for (i, n) in settings.webhooks.allowed_networks.iter().enumerate() {
        match n.parse::<IpNet>().or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from)) {
            Ok(net) => allowed_networks.push(net),
            Err(_) => problems.push(Problem::error(
                format!("webhooks.allowed_networks[{i}]"),
                format!("`{n}` is not a network such as 10.0.0.0/8"),
            )),
        }
    }
    let mut retry = Vec::new();
    if settings.delivery.retry_schedule.is_empty() {
        problems.push(Problem::error("delivery.retry_schedule", "needs at least one wait"));
    }
    for (i, r) in settings.delivery.retry_schedule.iter().enumerate() {
        match parse_duration(r).filter(|d| *d > 0) {
            Some(d) => retry.push(d),
            None => problems.push(Problem::error(
                format!("delivery.retry_schedule[{i}]"),
                format!("`{r}` is not a duration such as 30s"),
            )),
        }
    }
    if settings.delivery.jitter_percent > 100 {
        problems.push(Problem::error("delivery.jitter_percent", "0–100"));
    }
    let d = &settings.delivery;
    if d.batch == 0 || d.concurrency == 0 || settings.sweep.batch == 0 {
        problems.push(Problem::error("delivery", "batch and concurrency (and sweep.batch) must be at least 1"));
    } else if d.loops == 0 || d.loops > 64 {
        problems.push(Problem::error("delivery.loops", "1–64"));
    } else if settings.sweep.loops == 0 || settings.sweep.loops > 64 {
        problems.push(Problem::error("sweep.loops", "1–64"));
    } else {
        // A claimed batch must be sent before its lease ends, or another loop sends it again.
        let (rounds, worst) = settings.delivery_batch_secs();
        if d.lease_secs <= worst {
            problems.push(Problem::error(
                "delivery.lease_secs",
                format!(
                    "longer than a batch can take: {rounds} rounds of sends × the slowest timeout ({worst} s); \
                     raise it, or lower delivery.batch"
                ),
            ));
        }
    }
    if !(3..=3600).contains(&d.takeover_secs) {
        // Beats come every third of it: shorter, a busy instance would look dead and its rows
        // be sent twice.
        problems.push(Problem::error("delivery.takeover_secs", "3–3600 seconds"));
    }
    if d.instance_name.chars().count() > 64 {
        problems.push(Problem::error("delivery.instance_name", "at most 64 characters"));
    }
    if settings.notify.max_per_minute == 0 {
        problems.push(Problem::error("notify.max_per_minute", "must be at least 1"));
    }
    let em = &settings.email;
    let smtp = em.smtp_url.expose();
    if !(smtp.is_empty() || smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
        problems
            .push(Problem::error("email.smtp_url", "smtp://host:port, smtps://host:port, or empty to disable e-mail"));
    }
    let from_addr = em.from.rsplit_once('<').map_or(em.from.as_str(), |(_, a)| a.trim_end_matches('>'));
    if from_addr.trim().parse::<lettre::Address>().is_err() {
        problems.push(Problem::error("email.from", "an address such as \"Opsline <opsline@example.com>\""));
    }
    if rules.iter().any(|r| r.notify.iter().any(|n| !matches!(n, Notify::Webhook(_)))) && smtp.is_empty() {
        problems.push(Problem::warning(
            "email.smtp_url",
            "escalation rules send e-mail but no SMTP server is configured: those deliveries become dead letters",
        ));
    }
    if problems.errors_since(before) {
        return None;
    }
    let rules_content = format!("{:?}", settings.escalation.rules);
    Some(Escalation {
        rules_hash: hash_of(&rules_content),
        rules_content,
        rules,
        oncall,
        endpoints,
        allowed_networks,
        retry_schedule_secs: retry,
        ack_link_ttl_secs: ttl?,
    })
}
