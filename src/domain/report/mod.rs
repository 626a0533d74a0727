//! A customer's service report, computed from frozen facts only: the outcomes of the timers that
//! ended in the period (written once, never updated), the tickets' log (append-only) and the
//! visits' signatures. The same facts give the same report, to the byte, whatever the
//! configuration has become since; [`Content::sha256`] is what both sides sign.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::calendar::Secs;
use super::customer::Language;
use super::level::Level;
use super::rating::{RatingFacts, Satisfaction, satisfaction};
use super::sla::{Outcome, TimerKind, rfc3339};
use super::ticket::Source;

mod operations;
mod period;

pub use operations::{Backlog, CheckUptime, InspectionRow, Operations, Stood, backlog, uptime};
pub use period::{Period, ReportKind, ReportSchedule, due_period, time_of_day};

/// How many periods the trend shows, this one included.
pub const TREND_PERIODS: usize = 8;

crate::text_enum! {
    /// The customer's answer to a report (签字确认).
    pub enum Decision ("report decision") {
        Acknowledged = "acknowledged",
        Disputed = "disputed",
    }
}

/// One frozen outcome, as a report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenOutcome {
    pub ticket_id: i64,
    pub level: Level,
    pub timer: TimerKind,
    pub cycle: i32,
    pub outcome: Outcome,
    pub due: Option<Secs>,
    pub finished: Secs,
    /// Working seconds past the deadline when it ended (0 when in time).
    pub late_secs: i64,
}

/// An entry of a ticket's log that a report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFact {
    Opened { ticket_id: i64, at: Secs, level: Level, source: Source },
    LevelChanged { ticket_id: i64, at: Secs, level: Level },
    Closed { ticket_id: i64, at: Secs },
}

/// Everything a report is made from.
#[derive(Debug, Clone)]
pub struct Facts {
    pub customer_id: i64,
    pub customer_name: String,
    pub timezone: String,
    pub language: Language,
    pub period: Period,
    /// The periods before this one, oldest first, each with the outcomes that ended in it.
    pub earlier: Vec<(Period, Vec<FrozenOutcome>)>,
    pub outcomes: Vec<FrozenOutcome>,
    /// The log of the tickets opened or closed in the period, in order, up to its end.
    pub log: Vec<LogFact>,
    pub signed_work_orders: u64,
    /// The numbers of the tickets whose timers missed their deadline.
    pub ticket_numbers: BTreeMap<i64, String>,
    pub note: Option<String>,
    /// The period's satisfaction ratings.
    pub ratings: RatingFacts,
    /// Checks, inspections and the backlog at the end.
    pub operations: Operations,
    /// What the knowledge base did for the customer.
    pub knowledge: Knowledge,
}

/// What the knowledge base did for a customer in a period, from events written once: their
/// contacts' answers to "did this solve your problem?" and the articles they opened, and the
/// suggestions used on their tickets and the articles their resolutions cited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Knowledge {
    pub helpful: u64,
    pub not_helpful: u64,
    pub articles_opened: u64,
    pub suggestions_used: u64,
    pub solved_by_articles: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomerRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodView {
    #[schema(value_type = String)]
    pub kind: ReportKind,
    /// The first and last day, in the customer's time zone.
    pub first_day: String,
    pub last_day: String,
    pub timezone: String,
    pub start: String,
    /// Exclusive.
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenedCount {
    #[schema(value_type = String)]
    pub level: Level,
    #[schema(value_type = String)]
    pub source: Source,
    pub tickets: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClosedCount {
    /// The ticket's level when it was closed.
    #[schema(value_type = String)]
    pub level: Level,
    pub tickets: u64,
}

/// One level and timer: how its timers ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceRow {
    #[schema(value_type = String)]
    pub level: Level,
    #[schema(value_type = String)]
    pub timer: TimerKind,
    pub in_time: u64,
    pub late: u64,
    /// Unmet past the deadline.
    pub breached: u64,
    pub auto_resolved: u64,
    pub cancelled: u64,
    /// Still running or paused within their deadline (live reports only; 0 in a frozen one).
    pub open: u64,
    /// in_time ÷ (in_time + late + breached); null when nothing counts yet.
    pub compliance: Option<f64>,
}

/// How one timer counts in a compliance table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Ended(Outcome),
    /// Not ended, past its deadline.
    Overdue,
    /// Not ended, within its deadline.
    Open,
}

/// The compliance table: every level × timer, in that order, from `(level, timer, how, count)`.
/// The one definition the live SLA report, the service report and the board share.
pub fn compliance_table(items: impl IntoIterator<Item = (Level, TimerKind, Counted, u64)>) -> Vec<ComplianceRow> {
    let mut table: BTreeMap<(Level, TimerKind), ComplianceRow> = BTreeMap::new();
    for level in Level::ALL {
        // The callback follows a rating, not the fault: the satisfaction section counts it.
        for timer in TimerKind::ALL.into_iter().filter(|k| *k != TimerKind::Callback) {
            let row = ComplianceRow {
                level,
                timer,
                in_time: 0,
                late: 0,
                breached: 0,
                auto_resolved: 0,
                cancelled: 0,
                open: 0,
                compliance: None,
            };
            table.insert((level, timer), row);
        }
    }
    for (level, timer, how, n) in items {
        let Some(row) = table.get_mut(&(level, timer)) else { continue };
        match how {
            Counted::Ended(Outcome::InTime) => row.in_time += n,
            Counted::Ended(Outcome::Late) => row.late += n,
            Counted::Ended(Outcome::Breached) | Counted::Overdue => row.breached += n,
            Counted::Ended(Outcome::AutoResolved) => row.auto_resolved += n,
            Counted::Ended(Outcome::Cancelled) => row.cancelled += n,
            Counted::Open => row.open += n,
        }
    }
    table
        .into_values()
        .map(|mut r| {
            r.compliance = ratio(r.in_time, r.in_time + r.late + r.breached);
            r
        })
        .collect()
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A timer that missed its deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Breach {
    pub ticket_id: i64,
    pub ticket_number: String,
    #[schema(value_type = String)]
    pub level: Level,
    #[schema(value_type = String)]
    pub timer: TimerKind,
    pub cycle: i32,
    #[schema(value_type = String)]
    pub outcome: Outcome,
    pub due_at: Option<String>,
    pub ended_at: String,
    /// Working seconds past the deadline, on the calendar the timer ran on.
    pub late_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VisitSummary {
    /// Arrival timers that ended in the period, by how.
    pub arrivals_in_time: u64,
    pub arrivals_late: u64,
    pub work_orders_signed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendPoint {
    pub first_day: String,
    pub last_day: String,
    /// Timers that ended in that period and count for compliance.
    pub counted: u64,
    pub compliance: Option<f64>,
}

/// A report's content: what is shown, stored and hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Content {
    pub customer: CustomerRef,
    pub period: PeriodView,
    #[schema(value_type = String)]
    pub language: Language,
    pub opened: Vec<OpenedCount>,
    pub closed: Vec<ClosedCount>,
    pub compliance: Vec<ComplianceRow>,
    /// All timers of the period: in time ÷ (in time + late + breached).
    pub overall: Option<f64>,
    pub breaches: Vec<Breach>,
    pub visits: VisitSummary,
    /// Earlier periods first, this one last.
    pub trend: Vec<TrendPoint>,
    /// The account lead's words, added before sending.
    pub note: Option<String>,
    /// Satisfaction ratings and callbacks (absent from reports made before ratings existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<Satisfaction>,
    /// Health checks' uptime, inspections and the open backlog at the end (absent from reports
    /// made before this section existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Operations>,
    /// The knowledge base's help (absent from reports made before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<Knowledge>,
}

impl Content {
    /// The SHA-256 of the content's JSON: the same content, the same bytes, the same hash.
    pub fn sha256(&self) -> String {
        // Serializing plain structs, strings and numbers to a vector cannot fail.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

fn day(d: Date) -> String {
    d.to_string()
}

fn counted(outcomes: &[FrozenOutcome]) -> (u64, Option<f64>) {
    let (mut good, mut all) = (0, 0);
    for o in outcomes.iter().filter(|o| o.timer != TimerKind::Callback) {
        match o.outcome {
            Outcome::InTime => (good, all) = (good + 1, all + 1),
            Outcome::Late | Outcome::Breached => all += 1,
            Outcome::AutoResolved | Outcome::Cancelled => {}
        }
    }
    (all, ratio(good, all))
}

/// The report the facts make.
pub fn build(facts: &Facts) -> Content {
    let p = &facts.period;
    // Callbacks follow a rating, not the fault: they count in the satisfaction section only.
    let (callbacks, sla): (Vec<FrozenOutcome>, Vec<FrozenOutcome>) =
        facts.outcomes.iter().cloned().partition(|o| o.timer == TimerKind::Callback);
    let compliance = compliance_table(sla.iter().map(|o| (o.level, o.timer, Counted::Ended(o.outcome), 1)));
    let mut breaches: Vec<Breach> = sla
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Late | Outcome::Breached))
        .map(|o| Breach {
            ticket_id: o.ticket_id,
            ticket_number: facts
                .ticket_numbers
                .get(&o.ticket_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", o.ticket_id)),
            level: o.level,
            timer: o.timer,
            cycle: o.cycle,
            outcome: o.outcome,
            due_at: o.due.map(rfc3339),
            ended_at: rfc3339(o.finished),
            late_secs: o.late_secs,
        })
        .collect();
    breaches.sort_by(|a, b| {
        (a.ended_at.as_str(), a.ticket_id, a.timer, a.cycle).cmp(&(b.ended_at.as_str(), b.ticket_id, b.timer, b.cycle))
    });
    let arrivals = sla.iter().filter(|o| o.timer == TimerKind::Arrival);
    let (mut arrivals_in_time, mut arrivals_late) = (0, 0);
    for o in arrivals {
        match o.outcome {
            Outcome::InTime => arrivals_in_time += 1,
            Outcome::Late | Outcome::Breached => arrivals_late += 1,
            Outcome::AutoResolved | Outcome::Cancelled => {}
        }
    }
    let (opened, closed) = flow(&facts.log, p);
    let mut trend: Vec<TrendPoint> = facts.earlier.iter().map(|(period, outcomes)| point(period, outcomes)).collect();
    trend.push(point(p, &sla));
    let callbacks_in_time = callbacks.iter().filter(|o| o.outcome == Outcome::InTime).count() as u64;
    let callbacks_late =
        callbacks.iter().filter(|o| matches!(o.outcome, Outcome::Late | Outcome::Breached)).count() as u64;
    Content {
        customer: CustomerRef { id: facts.customer_id, name: facts.customer_name.clone() },
        period: PeriodView {
            kind: p.kind,
            first_day: day(p.first),
            last_day: day(p.last),
            timezone: facts.timezone.clone(),
            start: rfc3339(p.start),
            end: rfc3339(p.end),
        },
        language: facts.language,
        opened,
        closed,
        compliance,
        overall: counted(&sla).1,
        breaches,
        visits: VisitSummary { arrivals_in_time, arrivals_late, work_orders_signed: facts.signed_work_orders },
        trend,
        note: facts.note.clone(),
        satisfaction: Some(satisfaction(&facts.ratings, (callbacks_in_time, callbacks_late))),
        operations: Some(facts.operations.clone()),
        knowledge: Some(facts.knowledge.clone()),
    }
}

fn point(period: &Period, outcomes: &[FrozenOutcome]) -> TrendPoint {
    let (counted, compliance) = counted(outcomes);
    TrendPoint { first_day: day(period.first), last_day: day(period.last), counted, compliance }
}

/// Tickets opened in the period by level and source, and closed in it by their level then.
fn flow(log: &[LogFact], p: &Period) -> (Vec<OpenedCount>, Vec<ClosedCount>) {
    let within = |at: Secs| at >= p.start && at < p.end;
    let mut level_of: BTreeMap<i64, Level> = BTreeMap::new();
    let mut opened: BTreeMap<(Level, &'static str), (Source, u64)> = BTreeMap::new();
    let mut closed: BTreeMap<Level, u64> = BTreeMap::new();
    for fact in log {
        match *fact {
            LogFact::Opened { ticket_id, at, level, source } => {
                level_of.insert(ticket_id, level);
                if within(at) {
                    opened.entry((level, source.as_str())).or_insert((source, 0)).1 += 1;
                }
            }
            LogFact::LevelChanged { ticket_id, level, .. } => {
                level_of.insert(ticket_id, level);
            }
            LogFact::Closed { ticket_id, at } => {
                if let (true, Some(level)) = (within(at), level_of.get(&ticket_id)) {
                    *closed.entry(*level).or_default() += 1;
                }
            }
        }
    }
    (
        opened.into_iter().map(|((level, _), (source, tickets))| OpenedCount { level, source, tickets }).collect(),
        closed.into_iter().map(|(level, tickets)| ClosedCount { level, tickets }).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::tz::TimeZone;

    /// The zone of the reports' examples (also used by `period`'s tests).
    pub(super) fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    pub(super) fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn outcome(ticket_id: i64, level: Level, timer: TimerKind, outcome: Outcome, finished: Secs) -> FrozenOutcome {
        FrozenOutcome {
            ticket_id,
            level,
            timer,
            cycle: 1,
            outcome,
            due: Some(finished - 60),
            finished,
            late_secs: if matches!(outcome, Outcome::Late | Outcome::Breached) { 60 } else { 0 },
        }
    }

    #[test]
    fn the_report_counts_the_facts_and_its_hash_follows_its_content() {
        let period = Period::of(ReportKind::Weekly, date("2026-11-26"), None, &shanghai()).unwrap();
        let t = period.start + 3600;
        let facts = Facts {
            customer_id: 7,
            customer_name: "华夏银行".into(),
            timezone: "Asia/Shanghai".into(),
            language: Language::ZhCn,
            earlier: vec![(period.previous(&shanghai()).unwrap(), vec![])],
            outcomes: vec![
                outcome(1, Level::I, TimerKind::Response, Outcome::InTime, t),
                outcome(1, Level::I, TimerKind::Plan, Outcome::Late, t + 10),
                outcome(2, Level::II, TimerKind::Resolution, Outcome::Breached, t + 20),
                outcome(2, Level::II, TimerKind::Arrival, Outcome::InTime, t + 30),
                outcome(3, Level::III, TimerKind::Response, Outcome::Cancelled, t + 40),
                // A callback late: counted in the satisfaction section, not in compliance.
                outcome(3, Level::III, TimerKind::Callback, Outcome::Late, t + 50),
            ],
            log: vec![
                LogFact::Opened { ticket_id: 9, at: period.start - 10, level: Level::III, source: Source::Email },
                LogFact::Opened { ticket_id: 1, at: t, level: Level::II, source: Source::Hotline },
                LogFact::LevelChanged { ticket_id: 1, at: t + 1, level: Level::I },
                LogFact::Closed { ticket_id: 1, at: t + 2 },
                LogFact::Closed { ticket_id: 9, at: t + 3 },
                LogFact::Closed { ticket_id: 5, at: period.end },
            ],
            signed_work_orders: 2,
            ticket_numbers: BTreeMap::from([(1, "T-1".to_string())]),
            period,
            note: None,
            ratings: Default::default(),
            operations: Default::default(),
            knowledge: Knowledge {
                helpful: 2,
                not_helpful: 1,
                articles_opened: 3,
                suggestions_used: 1,
                solved_by_articles: 1,
            },
        };
        let c = build(&facts);
        assert_eq!(c.knowledge.as_ref().map(|k| (k.helpful, k.solved_by_articles)), Some((2, 1)));
        assert_eq!(c.opened, vec![OpenedCount { level: Level::II, source: Source::Hotline, tickets: 1 }]);
        assert_eq!(
            c.closed,
            vec![ClosedCount { level: Level::I, tickets: 1 }, ClosedCount { level: Level::III, tickets: 1 }]
        );
        let row = |l: Level, k: TimerKind| c.compliance.iter().find(|r| r.level == l && r.timer == k).unwrap().clone();
        assert_eq!((row(Level::I, TimerKind::Plan).late, row(Level::I, TimerKind::Plan).compliance), (1, Some(0.0)));
        assert_eq!(row(Level::II, TimerKind::Resolution).breached, 1);
        assert_eq!(row(Level::III, TimerKind::Response).cancelled, 1);
        assert_eq!(c.compliance.len(), Level::ALL.len() * (TimerKind::ALL.len() - 1), "no callback rows");
        assert_eq!(c.overall, Some(2.0 / 4.0));
        let s = c.satisfaction.clone().unwrap();
        assert_eq!((s.callbacks_in_time, s.callbacks_late), (0, 1));
        let numbers: Vec<&str> = c.breaches.iter().map(|b| b.ticket_number.as_str()).collect();
        assert_eq!(numbers, vec!["T-1", "#2"]);
        assert_eq!((c.visits.arrivals_in_time, c.visits.arrivals_late, c.visits.work_orders_signed), (1, 0, 2));
        assert_eq!(c.trend.len(), 2);
        assert_eq!((c.trend[0].counted, c.trend[1].counted), (0, 4));
        assert_eq!(c.sha256(), build(&facts).sha256());
        let noted = Facts { note: Some("下周升级".into()), ..facts };
        assert_ne!(build(&noted).sha256(), c.sha256());
    }
}
