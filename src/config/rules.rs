//! The rules tickets, visits, reports and ratings run by, from their settings: durations and
//! times of day checked, every problem collected with its key.

use super::settings::Settings;
use super::validate::parse_duration;
use super::{Problem, Problems, TicketRules};
use crate::domain::sla::Target;

pub(super) fn ticket_rules(settings: &Settings, problems: &mut Problems) -> Option<TicketRules> {
    let t = &settings.tickets;
    let mut dur = |key: &str, v: &str| {
        let d = parse_duration(v).filter(|d| *d > 0);
        if d.is_none() {
            problems.push(Problem::error(
                format!("tickets.{key}"),
                format!("`{v}` is not a duration such as 30m, 24h or 14d"),
            ));
        }
        d
    };
    let max_backdate = dur("max_backdate", &t.max_backdate);
    let reopen_window = dur("reopen_window", &t.reopen_window);
    let auto_close_after = dur("auto_close_after", &t.auto_close_after);
    let max_offline = parse_duration(&settings.visits.max_offline).filter(|d| *d >= 0);
    if max_offline.is_none() {
        problems.push(Problem::error(
            "visits.max_offline",
            format!("`{}` is not a duration such as 0m, 12h or 1d", settings.visits.max_offline),
        ));
    }
    if crate::domain::report::time_of_day(&settings.reports.send_at).is_none() {
        problems.push(Problem::error(
            "reports.send_at",
            format!("`{}` is not a time of day such as 09:30", settings.reports.send_at),
        ));
    }
    if !(1..=365).contains(&settings.reports.ack_link_days) {
        problems.push(Problem::error("reports.ack_link_days", "1 to 365 days"));
    }
    let ack_within = settings.reports.ack_within.parse::<Target>();
    if let Err(e) = &ack_within {
        problems.push(Problem::error("reports.ack_within", e.to_string()));
    }
    let r = &settings.ratings;
    let rating_expire = parse_duration(&r.expire_after).filter(|d| *d > 0);
    if rating_expire.is_none() {
        let message = format!("`{}` is not a duration such as 7d or 14d", r.expire_after);
        problems.push(Problem::error("ratings.expire_after", message));
    }
    if r.callback_below > 5 {
        problems.push(Problem::error("ratings.callback_below", "a score from 0 (never) to 5"));
    }
    for (tier, p) in [("vip", r.sample_percent.vip), ("standard", r.sample_percent.standard)] {
        if p > 100 {
            problems.push(Problem::error(format!("ratings.sample_percent.{tier}"), "0 to 100"));
        }
    }
    let alert_reopen = parse_duration(&settings.integrations.reopen_window).filter(|d| *d >= 0);
    if alert_reopen.is_none() {
        problems.push(Problem::error(
            "integrations.reopen_window",
            format!("`{}` is not a duration such as 0m, 1h or 1d", settings.integrations.reopen_window),
        ));
    }
    let max_wait = match t.max_wait.parse::<Target>() {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(Problem::error("tickets.max_wait", e.to_string()));
            None
        }
    };
    Some(TicketRules {
        max_backdate_secs: max_backdate?,
        reopen_window_secs: reopen_window?,
        max_wait: max_wait?,
        auto_close_after_secs: auto_close_after?,
        alert_reopen_window_secs: alert_reopen?,
        require_signed_visit: t.require_signed_visit,
        visit_max_offline_secs: max_offline?,
        rating_expire_secs: rating_expire?,
        report_ack_within: ack_within.ok()?,
    })
}
