//! Checks a typed configuration and compiles it into what the service runs on: calendars,
//! policies, the classifier, contracts and durations. Every problem is collected with its key, so
//! an operator sees them all at once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;

use super::content::{CalendarContent, PolicyContent, Versioned, WEEKDAYS, hash_of};
use super::rules::ticket_rules;
use super::settings::{CalendarSettings, HolidayFile, PolicySettings, Settings};
use super::{Contract, Problem, Problems, Runtime};
use crate::domain::calendar::{Calendar, MAX_INTERVALS_PER_DAY, parse_dates, parse_interval};
use crate::domain::classify::{Classifier, Rule};
use crate::domain::level::Level;
use crate::domain::sla::{SlaPolicy, Target, TimerKind, parse_hms};

/// `[a-z0-9][a-z0-9_-]*`: names of calendars, policies, teams, endpoints and checks.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A duration such as `30s`, `15m`, `24h` or `14d` (calendar days), in seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    match s.strip_suffix('d') {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n.parse::<i64>().ok()?.checked_mul(86_400),
        _ => parse_hms(s),
    }
}

fn check_names<'a>(section: &str, names: impl Iterator<Item = &'a String>, problems: &mut Problems) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for name in names {
        if !valid_name(name) {
            problems.push(Problem::error(format!("{section}.{name}"), "names match [a-z0-9][a-z0-9_-]*"));
        }
        if let Some(other) = seen.insert(name.replace('-', "_"), name) {
            problems.push(Problem::error(
                format!("{section}.{name}"),
                format!("ambiguous with `{other}`: both are written the same way in an environment key"),
            ));
        }
    }
}

pub fn compile(settings: &Settings, dir: &Path, environment: &str, problems: &mut Problems) -> Option<Runtime> {
    let before = problems.mark();
    if settings.http.listen.parse::<SocketAddr>().is_err() {
        problems.push(Problem::error("http.listen", "expected an address such as 127.0.0.1:8080"));
    }
    if !settings.metrics.listen.is_empty() && settings.metrics.listen.parse::<SocketAddr>().is_err() {
        problems.push(Problem::error("metrics.listen", "expected an address such as 127.0.0.1:9464, or \"\""));
    }
    if !(1..=3600).contains(&settings.metrics.refresh_secs) {
        problems.push(Problem::error("metrics.refresh_secs", "must be between 1 and 3600"));
    }
    for (key, v) in [
        ("limits.sign_in_per_minute", settings.limits.sign_in_per_minute),
        ("limits.token_creation_per_minute", settings.limits.token_creation_per_minute),
        ("limits.intake_per_minute", settings.limits.intake_per_minute),
        ("limits.failed_auth_per_minute", settings.limits.failed_auth_per_minute),
        ("limits.failed_sign_ins_per_account", settings.limits.failed_sign_ins_per_account),
    ] {
        if v == 0 {
            problems.push(Problem::error(key, "must be at least 1"));
        }
    }
    for (i, o) in settings.http.cors_origins.iter().enumerate() {
        let ok = (o.starts_with("https://") || o.starts_with("http://"))
            && !o.ends_with('/')
            && !o[o.find("//").map_or(0, |i| i + 2)..].contains('/');
        if !ok {
            problems.push(Problem::error(
                format!("http.cors_origins[{i}]"),
                format!("`{o}` is not an origin such as https://console.example.com"),
            ));
        }
    }
    for (i, p) in settings.http.trusted_proxies.iter().enumerate() {
        if crate::http::client::network(p).is_none() {
            problems.push(Problem::error(
                format!("http.trusted_proxies[{i}]"),
                format!("`{p}` is not an address or a CIDR network such as 10.0.0.0/8"),
            ));
        }
    }
    if settings.http.max_body_bytes < 1024 {
        problems.push(Problem::error("http.max_body_bytes", "must be at least 1024"));
    }
    let url = settings.database.url.expose();
    if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        problems.push(Problem::error("database.url", "use sqlite://path or postgres://user@host/db"));
    } else if url.starts_with("sqlite:") && environment == "production" {
        problems.push(Problem::warning(
            "database.url",
            "SQLite in production: one instance only; use PostgreSQL to run several",
        ));
    }
    if settings.database.max_connections == 0 {
        problems.push(Problem::error("database.max_connections", "must be at least 1"));
    }
    if !["pretty", "json"].contains(&settings.log.format.as_str()) {
        problems.push(Problem::error("log.format", "use pretty or json"));
    }
    match &settings.web.secret_key {
        Some(k) if k.expose().chars().count() < 32 => {
            problems.push(Problem::error("web.secret_key", "must be at least 32 characters"));
        }
        None if environment != "development" => {
            problems.push(Problem::error(
                "web.secret_key",
                "required outside development (at least 32 characters, the same on every instance)",
            ));
        }
        _ => {}
    }
    if settings.attachments.max_bytes == 0 {
        problems.push(Problem::error("attachments.max_bytes", "must be greater than zero"));
    }
    let tickets = ticket_rules(settings, problems);

    check_names("calendars", settings.calendars.keys(), problems);
    check_names("sla_policies", settings.sla_policies.keys(), problems);
    check_names("teams", settings.teams.keys(), problems);
    check_names("classification.rules", settings.classification.rules.keys(), problems);

    let mut calendars = BTreeMap::new();
    for (name, cal) in &settings.calendars {
        if let Some(content) = compile_calendar(name, cal, dir, problems) {
            match content.versioned(name) {
                Ok(v) => {
                    calendars.insert(name.clone(), v);
                }
                Err(e) => problems.push(Problem::error(format!("calendars.{name}"), e)),
            }
        }
    }
    let mut policies = BTreeMap::new();
    for (name, p) in &settings.sla_policies {
        if let Some(policy) = compile_policy(name, p, problems) {
            match PolicyContent::of(&policy).versioned(name) {
                Ok(v) => {
                    policies.insert(name.clone(), v);
                }
                Err(e) => problems.push(Problem::error(format!("sla_policies.{name}"), e)),
            }
        }
    }
    let mut contract = |tier: &str, c: &super::settings::ContractSettings| -> Option<Contract> {
        let ok_cal = settings.calendars.contains_key(&c.calendar);
        let ok_pol = settings.sla_policies.contains_key(&c.sla_policy);
        if !ok_cal {
            problems
                .push(Problem::error(format!("tiers.{tier}.calendar"), format!("no calendar named `{}`", c.calendar)));
        }
        if !ok_pol {
            problems.push(Problem::error(
                format!("tiers.{tier}.sla_policy"),
                format!("no SLA policy named `{}`", c.sla_policy),
            ));
        }
        (ok_cal && ok_pol).then(|| Contract { calendar: c.calendar.clone(), sla_policy: c.sla_policy.clone() })
    };
    let vip = contract("vip", &settings.tiers.vip);
    let standard = contract("standard", &settings.tiers.standard);
    let classifier = classifier(settings, problems);

    for (name, team) in &settings.teams {
        if team.display_name.trim().is_empty() {
            problems.push(Problem::error(format!("teams.{name}.display_name"), "must not be empty"));
        }
    }

    let escalation = super::escalation::compile(settings, problems);
    let checks = super::checks::compile(settings, problems);

    if problems.errors_since(before) {
        return None;
    }
    let (vip, standard, classifier, tickets, escalation, checks) =
        (vip?, standard?, classifier?, tickets?, escalation?, checks?);
    let hash = hash_of(
        &calendars
            .values()
            .map(|v: &Versioned<Calendar>| format!("calendar:{}:{}", v.name, v.hash))
            .chain(policies.values().map(|v: &Versioned<SlaPolicy>| format!("policy:{}:{}", v.name, v.hash)))
            .chain(std::iter::once(format!("rules:{}", escalation.rules_hash)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    Some(Runtime { calendars, policies, classifier, vip, standard, tickets, escalation, checks, hash })
}

fn classifier(settings: &Settings, problems: &mut Problems) -> Option<Classifier> {
    let c = &settings.classification;
    let default = match c.default_level.parse::<Level>() {
        Ok(l) => Some(l),
        Err(e) => {
            problems.push(Problem::error("classification.default_level", e.to_string()));
            None
        }
    };
    let mut rules = Vec::new();
    for (name, rule) in &c.rules {
        match rule.level.parse::<Level>() {
            Ok(level) => rules.push(Rule::new(name, level, &rule.phrases)),
            Err(e) => problems.push(Problem::error(format!("classification.rules.{name}.level"), e.to_string())),
        }
        if rule.phrases.is_empty() || rule.phrases.iter().any(|p| p.trim().is_empty()) {
            problems.push(Problem::error(
                format!("classification.rules.{name}.phrases"),
                "needs at least one phrase and no empty ones",
            ));
        }
    }
    Some(Classifier::new(rules, default?))
}

/// A calendar in configuration shape, checked and put in canonical form (includes are read from
/// `dir`).
pub fn compile_calendar(
    name: &str,
    cal: &CalendarSettings,
    dir: &Path,
    problems: &mut Problems,
) -> Option<CalendarContent> {
    let key = format!("calendars.{name}");
    let start = problems.mark();
    if let Err(e) = jiff::tz::TimeZone::get(&cal.timezone) {
        problems.push(Problem::error(
            format!("{key}.timezone"),
            format!("`{}` is not an IANA time zone: {e}", cal.timezone),
        ));
    }
    let ex = &cal.exceptions;
    if cal.always {
        if !cal.hours.is_empty() || !ex.holidays.is_empty() || !ex.workdays.is_empty() || !ex.include.is_empty() {
            problems.push(Problem::error(&key, "a 24×7 calendar (always = true) has no hours and no exceptions"));
        }
        return (!problems.errors_since(start)).then(|| CalendarContent {
            timezone: cal.timezone.clone(),
            always: true,
            hours: BTreeMap::new(),
            holidays: Vec::new(),
            workdays: Vec::new(),
        });
    }
    let mut hours = BTreeMap::new();
    for (day, list) in &cal.hours {
        let dkey = format!("{key}.hours.{day}");
        if !WEEKDAYS.contains(&day.as_str()) {
            problems.push(Problem::error(&dkey, "not a weekday: use mon, tue, wed, thu, fri, sat or sun"));
            continue;
        }
        let mut parsed = Vec::new();
        for (i, s) in list.iter().enumerate() {
            match parse_interval(s) {
                Ok(iv) => parsed.push((iv, s.clone())),
                Err(e) => problems.push(Problem::error(format!("{dkey}[{i}]"), e)),
            }
        }
        parsed.sort();
        if parsed.len() > MAX_INTERVALS_PER_DAY {
            problems.push(Problem::error(&dkey, format!("at most {MAX_INTERVALS_PER_DAY} intervals a day")));
        }
        for w in parsed.windows(2) {
            if w[1].0.0 < w[0].0.1 {
                problems.push(Problem::error(
                    &dkey,
                    format!("`{}` overlaps `{}` (intervals may touch, not overlap)", w[0].1, w[1].1),
                ));
            }
        }
        if !parsed.is_empty() {
            hours.insert(day.clone(), parsed.into_iter().map(|(_, s)| s).collect::<Vec<_>>());
        }
    }
    if hours.is_empty() {
        problems.push(Problem::error(format!("{key}.hours"), "no weekday has working intervals"));
    }
    let mut holidays = BTreeSet::new();
    let mut workdays = BTreeSet::new();
    let add = |set: &mut BTreeSet<String>, list: &[String], k: &str, problems: &mut Problems| {
        for (i, s) in list.iter().enumerate() {
            match parse_dates(s) {
                Ok(ds) => set.extend(ds.into_iter().map(|d| d.to_string())),
                Err(e) => problems.push(Problem::error(format!("{k}[{i}]"), e)),
            }
        }
    };
    for (i, file) in ex.include.iter().enumerate() {
        let ikey = format!("{key}.exceptions.include[{i}]");
        let path = dir.join(file);
        let parsed =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display())).and_then(|t| {
                toml::from_str::<HolidayFile>(&t).map_err(|e| format!("{}: {}", path.display(), e.message()))
            });
        match parsed {
            Ok(f) => {
                add(&mut holidays, &f.holidays, &format!("{ikey} holidays"), problems);
                add(&mut workdays, &f.workdays, &format!("{ikey} workdays"), problems);
            }
            Err(e) => problems.push(Problem::error(ikey, e)),
        }
    }
    add(&mut holidays, &ex.holidays, &format!("{key}.exceptions.holidays"), problems);
    add(&mut workdays, &ex.workdays, &format!("{key}.exceptions.workdays"), problems);
    for d in holidays.intersection(&workdays) {
        problems.push(Problem::error(
            format!("{key}.exceptions"),
            format!("{d} is listed both as a holiday and as a make-up working day"),
        ));
    }
    if !workdays.is_empty() && !hours.contains_key("mon") {
        problems.push(Problem::error(
            format!("{key}.exceptions.workdays"),
            "make-up days work the `mon` intervals, and `mon` has none",
        ));
    }
    (!problems.errors_since(start)).then(|| CalendarContent {
        timezone: cal.timezone.clone(),
        always: false,
        hours,
        holidays: holidays.into_iter().collect(),
        workdays: workdays.into_iter().collect(),
    })
}

/// An SLA policy in configuration shape, checked and compiled.
pub fn compile_policy(name: &str, p: &PolicySettings, problems: &mut Problems) -> Option<SlaPolicy> {
    let key = format!("sla_policies.{name}");
    let start = problems.mark();
    let mut pause_exempt = Vec::new();
    for (i, k) in p.pause_exempt.iter().enumerate() {
        match k.parse::<TimerKind>() {
            Ok(k) => pause_exempt.push(k),
            Err(e) => problems.push(Problem::error(format!("{key}.pause_exempt[{i}]"), e)),
        }
    }
    let mut by_level: BTreeMap<Level, (&String, _)> = BTreeMap::new();
    for (lk, t) in &p.levels {
        match lk.parse::<Level>() {
            Ok(level) => {
                if let Some((other, _)) = by_level.insert(level, (lk, t)) {
                    problems.push(Problem::error(
                        format!("{key}.{lk}"),
                        format!("level {level} is also given as `{other}`"),
                    ));
                }
            }
            Err(e) => problems.push(Problem::error(format!("{key}.{lk}"), e.to_string())),
        }
    }
    let mut levels = Vec::new();
    for level in Level::ALL {
        let Some((lk, t)) = by_level.get(&level) else {
            problems.push(Problem::error(
                format!("{key}.{level}"),
                "missing: every policy sets response, plan and resolution for I, II, III and IV",
            ));
            continue;
        };
        let mut get = |field: &str, v: &str| match v.parse::<Target>() {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(Problem::error(format!("{key}.{lk}.{field}"), e.to_string()));
                None
            }
        };
        let (r, pl, res) = (get("response", &t.response), get("plan", &t.plan), get("resolution", &t.resolution));
        let arrival = t.arrival.as_ref().and_then(|a| get("arrival", a));
        let callback = t.callback.as_ref().and_then(|a| get("callback", a));
        if let (Some(response), Some(plan), Some(resolution)) = (r, pl, res) {
            if resolution_can_precede_plan(plan, resolution) {
                problems.push(Problem::warning(
                    format!("{key}.{lk}.resolution"),
                    format!("resolution `{resolution}` can fall before plan `{plan}`; both are computed independently"),
                ));
            }
            levels.push(crate::domain::sla::LevelTargets { response, plan, resolution, arrival, callback });
        }
    }
    if problems.errors_since(start) {
        return None;
    }
    Some(SlaPolicy { pause_exempt, levels: levels.try_into().ok()? })
}

/// Conservative: a working day is taken to hold at least eight working hours.
fn resolution_can_precede_plan(plan: Target, resolution: Target) -> bool {
    const DAY: i64 = 8 * 3600;
    match (plan, resolution) {
        (_, Target::EndOfDay) => false,
        (Target::Working(p), Target::Working(r)) => r < p,
        (Target::Working(p), Target::Days(n)) => p > i64::from(n) * DAY,
        (Target::Days(p), Target::Days(r)) => r < p,
        (Target::Days(_) | Target::EndOfDay, Target::Working(_)) => true,
        (Target::EndOfDay, Target::Days(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        assert!(valid_name("business"));
        assert!(valid_name("24x7"));
        assert!(valid_name("night-desk_2"));
        assert!(!valid_name("Business"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
    }

    #[test]
    fn a_policy_with_a_warning_compiles_and_keeps_the_warning() {
        let mut levels = std::collections::BTreeMap::new();
        for (lk, plan, resolution) in
            [("I", "30m", "end_of_day"), ("II", "13h", "1d"), ("III", "2h", "3d"), ("IV", "2h", "5d")]
        {
            let t = crate::config::settings::LevelTargetSettings {
                response: "10m".into(),
                plan: plan.into(),
                resolution: resolution.into(),
                arrival: None,
                callback: None,
            };
            levels.insert(lk.to_string(), t);
        }
        let p = PolicySettings { pause_exempt: vec![], levels };
        let mut problems = Problems::default();
        assert!(compile_policy("odd", &p, &mut problems).is_some(), "a warning drops nothing");
        let warned: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].starts_with("warning: sla_policies.odd.II.resolution"), "{warned:?}");
        assert!(!problems.has_errors());
    }

    #[test]
    fn durations_accept_days_and_working_time_forms() {
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("14d"), Some(14 * 86_400));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("soon"), None);
    }
}
