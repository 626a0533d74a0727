//! Each customer's service report for a period: gathered from frozen facts only (timer outcomes,
//! the tickets' log, signed work orders), built by `domain::report`, stored with its SHA-256.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::actor::Actor;
use crate::domain::customer::Language;
use crate::domain::level::Level;
use crate::domain::report::{
    self, Content, Decision, Facts, FrozenOutcome, LogFact, Period, ReportKind, TREND_PERIODS,
};
use crate::domain::sla::Outcome;
use crate::domain::ticket::{Event, Source};
use crate::persistence::entities::{contact, customer, report as stored, ticket, ticket_event, timer_outcome, visit};
use crate::services::customers;
use crate::services::error::{Error, Result};
use crate::services::timers::{fill_figures, secs, utc};
use crate::state::AppState;

/// `POST /api/v1/customers/{id}/reports`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// `weekly` (Monday–Sunday), `monthly`, or `custom` (`from`..=`to`).
    #[schema(value_type = String)]
    pub period: ReportKind,
    /// A day of the week or month to report on, or a custom period's first day (YYYY-MM-DD, in
    /// the customer's time zone).
    pub from: String,
    /// A custom period's last day.
    #[serde(default)]
    pub to: Option<String>,
    /// `zh-CN` or `en`; by default the customer's primary contact's language, else `zh-CN`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub language: Option<Language>,
    /// The account lead's words for the customer, shown at the end.
    #[serde(default)]
    pub note: Option<String>,
}

/// A stored report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportView {
    pub id: i64,
    pub customer_id: i64,
    #[schema(value_type = String)]
    pub kind: ReportKind,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    #[schema(value_type = String)]
    pub language: Language,
    /// SHA-256 of the content's JSON: what both sides sign.
    pub sha256: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Made by the customer's schedule (and mailed), rather than asked for.
    pub scheduled: bool,
    /// `acknowledged` or `disputed`; null while neither.
    #[schema(value_type = Option<String>)]
    pub decision: Option<Decision>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<String>,
    pub dispute_reason: Option<String>,
    /// The ticket a dispute opened.
    pub dispute_ticket_id: Option<i64>,
    pub content: Content,
}

impl ReportView {
    /// The report's file name: `report-<customer id>-<first day>.<ext>`.
    pub fn file_name(&self, ext: &str) -> String {
        format!("report-{}-{}.{ext}", self.customer_id, self.content.period.first_day)
    }
}

impl ReportView {
    pub(super) fn of(m: stored::Model) -> Result<Self> {
        let content: Content = serde_json::from_str(&m.content)
            .map_err(|e| Error::Internal(format!("reports, row {}: unreadable content: {e}", m.id)))?;
        Ok(ReportView {
            id: m.id,
            customer_id: m.customer_id,
            kind: m.kind,
            period_start: m.period_start,
            period_end: m.period_end,
            language: m.language,
            sha256: m.sha256,
            created_by: m.created_by,
            created_at: m.created_at,
            scheduled: m.schedule_key.is_some(),
            decision: m.decision,
            decided_at: m.decided_at,
            decided_by: m.decided_by,
            dispute_reason: m.dispute_reason,
            dispute_ticket_id: m.dispute_ticket_id,
            content,
        })
    }
}

/// The longest note a report carries.
pub const MAX_NOTE: usize = 4_000;

/// Outcomes whose figures the migration could not compute, filled in per request at most.
const FILL_BATCH: u64 = 1_000;

fn day(field: &str, s: &str) -> Result<Date> {
    s.parse().map_err(|_| Error::invalid(field, format!("`{s}` is not a date: use YYYY-MM-DD")))
}

/// Generates and stores `customer_id`'s report for the period `req` names; the period must have
/// ended (a report is only made of what can no longer change).
pub async fn generate(
    state: &AppState,
    by: &Actor,
    customer_id: i64,
    req: NewReport,
    now: DateTime<Utc>,
) -> Result<ReportView> {
    let customer = customers::find(&state.db, customer_id).await?;
    let note = req.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(Error::invalid("note", format!("at most {MAX_NOTE} characters")));
    }
    let (zone, tz) = zone_of(state, &customer)?;
    let from = day("from", &req.from)?;
    let to = req.to.as_deref().map(|t| day("to", t)).transpose()?;
    let period = Period::of(req.period, from, to, &tz).map_err(|e| Error::invalid("period", e))?;
    if period.end > secs(now) {
        return Err(Error::invalid(
            "from",
            format!("the period {} – {} has not ended yet: a report is made once it has", period.first, period.last),
        ));
    }
    let language = match req.language {
        Some(l) => l,
        None => primary_language(state, &customer).await?,
    };
    let row = compose(state, &customer, (&zone, &tz), period, language, note, by.name(), None, now).await?;
    ReportView::of(row.insert(&state.db).await?)
}

/// The customer's time zone: their calendar's.
pub(super) fn zone_of(state: &AppState, customer: &customer::Model) -> Result<(String, TimeZone)> {
    let calendar = state.config.runtime.calendars.get(&customer.calendar).ok_or_else(|| {
        Error::Internal(format!("customers, row {}: calendar `{}` is not configured", customer.id, customer.calendar))
    })?;
    let zone = calendar.value.timezone().to_string();
    let tz = TimeZone::get(&zone).map_err(Error::internal)?;
    Ok((zone, tz))
}

/// The row of the customer's report on `period`, built from its frozen facts, ready to insert.
#[allow(clippy::too_many_arguments)]
pub(super) async fn compose(
    state: &AppState,
    customer: &customer::Model,
    (zone, tz): (&str, &TimeZone),
    period: Period,
    language: Language,
    note: Option<String>,
    by: &str,
    schedule_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<stored::ActiveModel> {
    let facts = gather(state, customer, zone, tz, period, language, note).await?;
    let content = report::build(&facts);
    let json = serde_json::to_string(&content).map_err(Error::internal)?;
    Ok(stored::ActiveModel {
        customer_id: Set(customer.id),
        kind: Set(facts.period.kind),
        period_start: Set(utc(facts.period.start)),
        period_end: Set(utc(facts.period.end)),
        language: Set(language),
        sha256: Set(content.sha256()),
        content: Set(json),
        created_by: Set(by.to_string()),
        created_at: Set(now),
        schedule_key: Set(schedule_key),
        ..Default::default()
    })
}

pub(super) async fn primary_language(state: &AppState, customer: &customer::Model) -> Result<Language> {
    let Some(id) = customer.primary_contact_id else { return Ok(Language::ZhCn) };
    let c = contact::Entity::find_by_id(id).one(&state.db).await?;
    Ok(c.and_then(|c| Language::parse(&c.language)).unwrap_or(Language::ZhCn))
}

async fn gather(
    state: &AppState,
    customer: &customer::Model,
    zone: &str,
    tz: &TimeZone,
    period: Period,
    language: Language,
    note: Option<String>,
) -> Result<Facts> {
    let db = &state.db;
    while fill_figures(db, &state.versions, Some(customer.id), FILL_BATCH).await? > 0 {}
    let mut earlier = Vec::with_capacity(TREND_PERIODS - 1);
    let mut p = period.clone();
    for _ in 1..TREND_PERIODS {
        p = p.previous(tz).map_err(Error::Internal)?;
        earlier.push(p.clone());
    }
    earlier.reverse();
    let since = earlier.first().map_or(period.start, |p| p.start);
    let mut all = outcomes(db, customer.id, since, period.end).await?;
    let mut earlier: Vec<(Period, Vec<FrozenOutcome>)> = earlier.into_iter().map(|p| (p, Vec::new())).collect();
    let mut current = Vec::new();
    for o in all.drain(..) {
        if o.finished >= period.start {
            current.push(o);
        } else if let Some((_, list)) = earlier.iter_mut().find(|(p, _)| o.finished >= p.start && o.finished < p.end) {
            list.push(o);
        }
    }
    let signed_work_orders = visit::Entity::find()
        .filter(visit::Column::SignedAt.gte(utc(period.start)))
        .filter(visit::Column::SignedAt.lt(utc(period.end)))
        .filter(
            visit::Column::TicketId.in_subquery(
                Query::select()
                    .column(ticket::Column::Id)
                    .from(ticket::Entity)
                    .and_where(ticket::Column::CustomerId.eq(customer.id))
                    .to_owned(),
            ),
        )
        .count(db)
        .await?;
    let late: Vec<i64> = current
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Late | Outcome::Breached))
        .map(|o| o.ticket_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut ticket_numbers = BTreeMap::new();
    for ids in late.chunks(1_000) {
        let rows: Vec<(i64, String)> = ticket::Entity::find()
            .select_only()
            .columns([ticket::Column::Id, ticket::Column::Number])
            .filter(ticket::Column::Id.is_in(ids.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        ticket_numbers.extend(rows);
    }
    let ratings = crate::services::ratings::facts(db, customer.id, utc(period.start), utc(period.end)).await?;
    let operations = super::operations::operations(db, customer.id, &period).await?;
    let knowledge =
        crate::services::kb::events::for_report(db, customer.id, utc(period.start), utc(period.end)).await?;
    Ok(Facts {
        customer_id: customer.id,
        customer_name: customer.name.clone(),
        timezone: zone.to_string(),
        language,
        log: log(db, customer.id, &period).await?,
        period,
        earlier,
        outcomes: current,
        signed_work_orders,
        ticket_numbers,
        note,
        ratings,
        operations,
        knowledge,
    })
}

/// The frozen outcomes of the customer's timers that ended in `[from, to)`, oldest first.
async fn outcomes(db: &impl ConnectionTrait, customer_id: i64, from: i64, to: i64) -> Result<Vec<FrozenOutcome>> {
    let rows = timer_outcome::Entity::find()
        .filter(timer_outcome::Column::CustomerId.eq(customer_id))
        .filter(timer_outcome::Column::FinishedAt.gte(utc(from)))
        .filter(timer_outcome::Column::FinishedAt.lt(utc(to)))
        .order_by_asc(timer_outcome::Column::FinishedAt)
        .order_by_asc(timer_outcome::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for o in rows {
        out.push(FrozenOutcome {
            ticket_id: o.ticket_id,
            level: o.level,
            timer: o.kind,
            cycle: o.cycle,
            outcome: o.outcome,
            due: o.due_at.map(secs),
            finished: secs(o.finished_at),
            late_secs: o.late_secs.ok_or_else(|| {
                Error::Internal(format!("timer_outcomes, row {}: working-time figures not filled in", o.id))
            })?,
        });
    }
    Ok(out)
}

/// The log entries a report counts, of the customer's tickets opened or closed in the period.
async fn log(db: &impl ConnectionTrait, customer_id: i64, period: &Period) -> Result<Vec<LogFact>> {
    let in_period = Query::select()
        .column(ticket_event::Column::TicketId)
        .from(ticket_event::Entity)
        .and_where(ticket_event::Column::Action.is_in([Event::Created, Event::Closed]))
        .and_where(ticket_event::Column::CreatedAt.gte(utc(period.start)))
        .and_where(ticket_event::Column::CreatedAt.lt(utc(period.end)))
        .to_owned();
    let of_customer = Query::select()
        .column(ticket::Column::Id)
        .from(ticket::Entity)
        .and_where(ticket::Column::CustomerId.eq(customer_id))
        .to_owned();
    let rows = ticket_event::Entity::find()
        .filter(ticket_event::Column::Action.is_in([Event::Created, Event::LevelChanged, Event::Closed]))
        .filter(ticket_event::Column::CreatedAt.lt(utc(period.end)))
        .filter(ticket_event::Column::TicketId.in_subquery(in_period))
        .filter(ticket_event::Column::TicketId.in_subquery(of_customer))
        .order_by_asc(ticket_event::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for e in rows {
        let (ticket_id, at) = (e.ticket_id, secs(e.created_at));
        out.push(match e.action {
            Event::Created => {
                let new = new_value(&e)?;
                let source = new["source"].as_str().and_then(Source::parse).ok_or_else(|| corrupt(&e, "no source"))?;
                LogFact::Opened { ticket_id, at, level: level_in(&e, &new)?, source }
            }
            Event::LevelChanged => LogFact::LevelChanged { ticket_id, at, level: level_in(&e, &new_value(&e)?)? },
            _ => LogFact::Closed { ticket_id, at },
        });
    }
    Ok(out)
}

/// A log entry a report cannot read: an error naming its row, never a guess.
pub(super) fn corrupt(e: &ticket_event::Model, what: &str) -> Error {
    Error::Internal(format!("ticket_events, row {}: {what}", e.id))
}

/// A log entry's `new_value` as JSON (null when it has none).
pub(super) fn new_value(e: &ticket_event::Model) -> Result<serde_json::Value> {
    match &e.new_value {
        Some(v) => serde_json::from_str(v).map_err(|_| corrupt(e, "unreadable new_value")),
        None => Ok(serde_json::Value::Null),
    }
}

/// The level a `created` or `level_changed` entry records.
pub(super) fn level_in(e: &ticket_event::Model, new: &serde_json::Value) -> Result<Level> {
    new["level"].as_str().and_then(Level::parse).ok_or_else(|| corrupt(e, "no level in new_value"))
}

/// A stored report.
pub async fn get(state: &AppState, id: i64) -> Result<ReportView> {
    let row =
        stored::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| Error::not_found("not_found", "report"))?;
    ReportView::of(row)
}

/// A customer's latest 200 reports, newest period first.
pub async fn list(state: &AppState, customer_id: i64) -> Result<Vec<ReportView>> {
    customers::find(&state.db, customer_id).await?;
    let rows = stored::Entity::find()
        .filter(stored::Column::CustomerId.eq(customer_id))
        .order_by_desc(stored::Column::PeriodStart)
        .order_by_desc(stored::Column::Id)
        .limit(200)
        .all(&state.db)
        .await?;
    rows.into_iter().map(ReportView::of).collect()
}
