//! Escalation rules and their thresholds (docs/sla.md §7): when a warning or breach of a timer fires,
//! step by step, in working time on the ticket's calendar. Pure: the sweep passes the timer's
//! start, deadline and `now`.

use std::fmt;
use std::str::FromStr;

use super::calendar::{Calendar, CalendarError, Secs};
use super::customer::Tier;
use super::level::Level;
use super::sla::TimerKind;
use super::ticket::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum On {
    Warning,
    Breach,
    Opened,
    Responded,
    Planned,
    Resolved,
    Reopened,
    Closed,
    LevelChanged,
    Flapping,
    /// Resumed by itself after `tickets.max_wait`.
    Resumed,
    /// The engineer is on the way to the site.
    EnRoute,
    /// A service report neither acknowledged nor disputed within `reports.ack_within`: about a
    /// report, not a ticket (`role:assignee` is the customer's account lead, `contact:customer`
    /// the primary contact).
    ReportUnacknowledged,
}

impl On {
    pub const ALL: [On; 13] = [
        On::Warning,
        On::Breach,
        On::Opened,
        On::Responded,
        On::Planned,
        On::Resolved,
        On::Reopened,
        On::Closed,
        On::LevelChanged,
        On::Flapping,
        On::Resumed,
        On::EnRoute,
        On::ReportUnacknowledged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            On::Warning => "warning",
            On::Breach => "breach",
            On::Opened => "opened",
            On::Responded => "responded",
            On::Planned => "planned",
            On::Resolved => "resolved",
            On::Reopened => "reopened",
            On::Closed => "closed",
            On::LevelChanged => "level_changed",
            On::Flapping => "flapping",
            On::Resumed => "resumed",
            On::EnRoute => "en_route",
            On::ReportUnacknowledged => "report_unacknowledged",
        }
    }

    /// Fired by the sweep from a timer, rather than by a ticket action.
    pub fn is_timed(self) -> bool {
        matches!(self, On::Warning | On::Breach)
    }

    /// The webhook `type` of an event of this kind.
    pub fn webhook_type(self) -> &'static str {
        match self {
            On::Warning => "sla.warning",
            On::Breach => "sla.breach",
            On::Opened => "ticket.opened",
            On::Responded => "ticket.responded",
            On::Planned => "ticket.planned",
            On::Resolved => "ticket.resolved",
            On::Reopened => "ticket.reopened",
            On::Closed => "ticket.closed",
            On::LevelChanged => "ticket.level_changed",
            On::Flapping => "check.flapping",
            On::Resumed => "ticket.resumed",
            On::EnRoute => "visit.en_route",
            On::ReportUnacknowledged => "report.unacknowledged",
        }
    }
}

impl FromStr for On {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        On::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| {
            format!("`{s}` is not an event: use warning, breach, opened, responded, planned, resolved, reopened, closed, level_changed, flapping, resumed, en_route or report_unacknowledged")
        })
    }
}

impl fmt::Display for On {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a warning fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// This percentage of the working time from start to deadline has passed.
    Share(u32),
    /// This much working time before the deadline.
    Lead(i64),
}

/// Who hears about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Notify {
    Assignee,
    Role(Role),
    Team(String),
    Oncall(String),
    Email(String),
    Webhook(String),
    Contact,
}

impl Notify {
    pub fn parse(s: &str) -> Result<Notify, String> {
        let (kind, value) =
            s.split_once(':').ok_or_else(|| format!("`{s}` is not a target: use kind:value, e.g. role:assignee"))?;
        Ok(match (kind, value) {
            ("role", "assignee") => Notify::Assignee,
            ("role", r) => Notify::Role(r.parse()?),
            ("team", t) if !t.is_empty() => Notify::Team(t.into()),
            ("oncall", o) if !o.is_empty() => Notify::Oncall(o.into()),
            ("email", e) if super::customer::valid_email(e) => Notify::Email(e.into()),
            ("webhook", w) if !w.is_empty() => Notify::Webhook(w.into()),
            ("contact", "customer") => Notify::Contact,
            _ => {
                return Err(format!(
                    "`{s}` is not a target: use role:assignee, role:<role>, team:<name>, oncall:<name>, email:<address>, webhook:<endpoint> or contact:customer"
                ));
            }
        })
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notify::Assignee => f.write_str("role:assignee"),
            Notify::Role(r) => write!(f, "role:{r}"),
            Notify::Team(t) => write!(f, "team:{t}"),
            Notify::Oncall(o) => write!(f, "oncall:{o}"),
            Notify::Email(e) => write!(f, "email:{e}"),
            Notify::Webhook(w) => write!(f, "webhook:{w}"),
            Notify::Contact => f.write_str("contact:customer"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name, or a hash of its content.
    pub key: String,
    pub on: On,
    /// None: any timer.
    pub timer: Option<TimerKind>,
    /// Empty: every level.
    pub levels: Vec<Level>,
    pub tiers: Vec<Tier>,
    pub customers: Vec<String>,
    pub at: Option<At>,
    pub notify: Vec<Notify>,
    pub repeat: Option<i64>,
    pub after: i64,
}

/// What a rule is matched against.
pub struct Subject<'a> {
    pub timer: Option<TimerKind>,
    pub level: Level,
    pub tier: Tier,
    pub customer_key: &'a str,
}

impl Rule {
    /// When Opsline resumes a ticket by itself (`tickets.max_wait`), its assignee hears that the
    /// ticket is theirs again (README: Tickets, statuses and actions), whatever the configured
    /// rules say.
    pub fn assignee_on_resume() -> Rule {
        Rule {
            key: "auto-resume".into(),
            on: On::Resumed,
            timer: None,
            levels: vec![],
            tiers: vec![],
            customers: vec![],
            at: None,
            notify: vec![Notify::Assignee],
            repeat: None,
            after: 0,
        }
    }

    pub fn matches(&self, on: On, s: &Subject) -> bool {
        self.on == on
            && (self.timer.is_none() || s.timer.is_none() || self.timer == s.timer)
            && (self.levels.is_empty() || self.levels.contains(&s.level))
            && (self.tiers.is_empty() || self.tiers.contains(&s.tier))
            && (self.customers.is_empty() || self.customers.iter().any(|c| c == s.customer_key))
    }
}

/// A timer as the thresholds see it.
pub struct TimerWindow<'a> {
    pub calendar: &'a Calendar,
    pub start: Secs,
    pub due: Secs,
}

/// One firing of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    pub step: u32,
    pub at: Secs,
}

/// The instant at which `percent` of the working time from `start` to `due` has passed.
pub fn share_point(cal: &Calendar, start: Secs, due: Secs, percent: u32) -> Result<Secs, CalendarError> {
    let total = cal.working_between(start, due)?;
    let passed = (total * i64::from(percent) + 99) / 100;
    if passed <= 0 { Ok(cal.next_working(start)?.min(due)) } else { cal.add_working(start, passed) }
}

/// The instant the first step of a warning or breach rule fires.
pub fn first_fire(rule: &Rule, w: &TimerWindow) -> Result<Option<Secs>, CalendarError> {
    let cal = w.calendar;
    Ok(match (rule.on, rule.at) {
        (On::Warning, Some(At::Share(p))) => Some(share_point(cal, w.start, w.due, p)?),
        (On::Warning, Some(At::Lead(lead))) => {
            let total = cal.working_between(w.start, w.due)?;
            // The latest instant with `lead` working time left: at an interval's end that is the
            // start of the next one (Monday 09:00, not Friday 18:00).
            Some(if total <= lead {
                w.start
            } else {
                cal.next_working(cal.add_working(w.start, total - lead)?)?.min(w.due)
            })
        }
        // A breach is the first second after the deadline; later tiers count working time on.
        (On::Breach, _) => Some(cal.push(w.due + 1, rule.after)?),
        _ => None,
    })
}

/// The steps of a warning or breach rule that are due by `now`: the first step, and the latest
/// repeat (repeats missed while nothing ran are not all sent at once). Warnings stop at the
/// deadline; after an acknowledgement only the first step of a breach rule without `after` still
/// fires. Also returns when the rule next fires after `now`.
pub fn due_steps(
    rule: &Rule,
    w: &TimerWindow,
    acked_at: Option<Secs>,
    now: Secs,
) -> Result<(Vec<Firing>, Option<Secs>), CalendarError> {
    let Some(first) = first_fire(rule, w)? else { return Ok((vec![], None)) };
    let cal = w.calendar;
    let allowed = |step: u32, at: Secs| -> bool {
        if rule.on == On::Warning && at > w.due {
            return false;
        }
        match acked_at {
            Some(ack) if at > ack => rule.on == On::Breach && step == 0 && rule.after == 0,
            _ => true,
        }
    };
    let mut due = Vec::new();
    if first > now {
        return Ok((due, allowed(0, first).then_some(first)));
    }
    if allowed(0, first) {
        due.push(Firing { step: 0, at: first });
    }
    let Some(repeat) = rule.repeat.filter(|r| *r > 0) else { return Ok((due, None)) };
    let k = cal.working_between(first, now)? / repeat;
    if k >= 1 {
        let at = cal.push(first, k * repeat)?;
        if allowed(k as u32, at) {
            due.push(Firing { step: k as u32, at });
        }
    }
    let next_at = cal.push(first, (k + 1) * repeat)?;
    Ok((due, allowed((k + 1) as u32, next_at).then_some(next_at)))
}

/// How long after the deadline a warning that has not fired yet is still worth sending.
const STALE_WARNING_SECS: i64 = 60;

/// A timer's firings: the rule steps due now, and the next firing after them.
pub struct Plan<'r> {
    pub due_now: Vec<(&'r Rule, Firing)>,
    pub next: Option<Secs>,
}

/// What the sweep does with a running timer at `n`: the rule steps due by now, and the timer's
/// next firing after them. The breach itself is a firing whatever the rules, so that it is
/// recorded as it happens (the ticket's `breached` flag, the breach count and the in-breach
/// gauge rest on it). The sweep runs this on the timers it claims; a new timer is scheduled
/// with it as it is written, so the sweep sees it only when something is due.
pub fn plan<'r>(
    rules: &'r [Rule],
    subject: &Subject,
    window: &TimerWindow,
    breached: bool,
    acked: Option<Secs>,
    n: Secs,
) -> Result<Plan<'r>, CalendarError> {
    let due = window.due;
    let mut now_due = Vec::new();
    let mut next: Option<Secs> = None;
    for rule in rules.iter().filter(|r| r.matches(On::Warning, subject) || r.matches(On::Breach, subject)) {
        let (due_steps_now, rule_next) = due_steps(rule, window, acked, n)?;
        for f in due_steps_now {
            // A warning meant for before the deadline that nobody sent in time (nothing ran, or
            // the deadline moved) is not sent after the breach: the breach rules speak then. One
            // due at the deadline itself may still go out a little late.
            if rule.on == On::Warning && n > due && (f.at < due || n > due + STALE_WARNING_SECS) {
                continue;
            }
            now_due.push((rule, f));
        }
        next = earliest(next, rule_next);
    }
    if !breached {
        next = earliest(next, Some(due + 1));
    }
    Ok(Plan { due_now: now_due, next })
}

fn earliest(a: Option<Secs>, b: Option<Secs>) -> Option<Secs> {
    a.into_iter().chain(b).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendar::tests::{at, business};

    fn rule(on: On, at_: Option<At>, repeat: Option<i64>, after: i64) -> Rule {
        Rule {
            key: "r".into(),
            on,
            timer: Some(TimerKind::Response),
            levels: vec![],
            tiers: vec![],
            customers: vec![],
            at: at_,
            notify: vec![Notify::Email("a@b.example".into())],
            repeat,
            after,
        }
    }

    #[test]
    fn an_eighty_percent_warning_of_a_ten_minute_response_fires_after_eight_working_minutes() {
        let cal = business(&[], &[]);
        // Fri 17:55 → due Mon 09:05; 80% of 10 minutes passes at Mon 09:03.
        let w = TimerWindow {
            calendar: &cal,
            start: at("2026-10-16T17:55:00+08:00"),
            due: at("2026-10-19T09:05:00+08:00"),
        };
        let r = rule(On::Warning, Some(At::Share(80)), None, 0);
        assert_eq!(first_fire(&r, &w).unwrap(), Some(at("2026-10-19T09:03:00+08:00")));
        let lead = rule(On::Warning, Some(At::Lead(300)), None, 0);
        assert_eq!(first_fire(&lead, &w).unwrap(), Some(at("2026-10-19T09:00:00+08:00")));
    }

    #[test]
    fn breaches_fire_the_second_after_the_deadline_and_tiers_count_working_time() {
        let cal = business(&[], &[]);
        let w = TimerWindow {
            calendar: &cal,
            start: at("2026-10-20T17:40:00+08:00"),
            due: at("2026-10-20T17:50:00+08:00"),
        };
        assert_eq!(first_fire(&rule(On::Breach, None, None, 0), &w).unwrap(), Some(at("2026-10-20T17:50:01+08:00")));
        assert_eq!(first_fire(&rule(On::Breach, None, None, 1800), &w).unwrap(), Some(at("2026-10-21T09:20:01+08:00")));
    }

    #[test]
    fn repeats_fire_the_latest_step_and_stop_after_an_acknowledgement_except_the_first_breach() {
        let cal = business(&[], &[]);
        let w = TimerWindow {
            calendar: &cal,
            start: at("2026-10-20T09:00:00+08:00"),
            due: at("2026-10-20T09:10:00+08:00"),
        };
        let breach = rule(On::Breach, None, Some(900), 0);
        let (due, next) = due_steps(&breach, &w, None, at("2026-10-20T09:41:00+08:00")).unwrap();
        assert_eq!(due.iter().map(|f| f.step).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(next, Some(at("2026-10-20T09:55:01+08:00")));
        let acked = Some(at("2026-10-20T09:05:00+08:00"));
        let (due, next) = due_steps(&breach, &w, acked, at("2026-10-20T09:41:00+08:00")).unwrap();
        assert_eq!(due.iter().map(|f| f.step).collect::<Vec<_>>(), vec![0]);
        assert_eq!(next, None);
        let warn = rule(On::Warning, Some(At::Share(50)), Some(120), 0);
        let (due, _) = due_steps(&warn, &w, acked, at("2026-10-20T09:09:00+08:00")).unwrap();
        assert_eq!(due.iter().map(|f| f.step).collect::<Vec<_>>(), vec![0]);
        let (due, next) = due_steps(&warn, &w, None, at("2026-10-20T09:20:00+08:00")).unwrap();
        assert_eq!((due.len(), next), (1, None), "warnings stop at the deadline");
    }

    #[test]
    fn notify_targets_parse_and_print_back() {
        for s in [
            "role:assignee",
            "role:lead",
            "team:noc",
            "oncall:l2",
            "email:oncall@example.com",
            "webhook:ops-bot",
            "contact:customer",
        ] {
            assert_eq!(Notify::parse(s).unwrap().to_string(), s);
        }
        for bad in ["role:king", "email:nope", "fax:123", "team:", "contact:someone"] {
            assert!(Notify::parse(bad).is_err(), "{bad}");
        }
    }
}
