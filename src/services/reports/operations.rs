//! What a report's operations section reads: the customer's checks' day rollups, the inspections
//! that covered those checks, and the tickets' log up to the period's end. Rollups are counted
//! per UTC day: a day counts in the period when its middle does, so a week in Asia/Shanghai
//! counts the seven UTC days that start eight hours before its days.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Duration;
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;

use crate::domain::check::{InspectionStatus, RollupPeriod};
use crate::domain::level::Level;
use crate::domain::report::{InspectionRow, Operations, Period, Stood, backlog, uptime};
use crate::domain::sla::rfc3339;
use crate::domain::ticket::Event;
use crate::persistence::entities::{check, check_rollup, inspection, ticket, ticket_event};
use crate::services::error::{Error, Result};
use crate::services::timers::{secs, utc};

use super::customer::{level_in, new_value};

/// The report lists at most this many inspections, the latest.
const MAX_INSPECTIONS: usize = 20;

/// What an inspection's result says of one check.
#[derive(Deserialize)]
struct Item {
    check_id: i64,
    name: String,
    status: crate::domain::check::health::Health,
}

pub(super) async fn operations(db: &impl ConnectionTrait, customer_id: i64, period: &Period) -> Result<Operations> {
    let checks = check::Entity::find()
        .filter(check::Column::CustomerId.eq(customer_id))
        .order_by_asc(check::Column::Name)
        .all(db)
        .await?;
    let ids: Vec<i64> = checks.iter().map(|c| c.id).collect();
    let half_day = Duration::hours(12);
    let mut counts: HashMap<i64, (u64, u64)> = HashMap::new();
    for r in check_rollup::Entity::find()
        .filter(check_rollup::Column::Period.eq(RollupPeriod::Day))
        .filter(check_rollup::Column::CheckId.is_in(ids.clone()))
        .filter(check_rollup::Column::BucketStart.gte(utc(period.start) - half_day))
        .filter(check_rollup::Column::BucketStart.lt(utc(period.end) - half_day))
        .all(db)
        .await?
    {
        let c = counts.entry(r.check_id).or_default();
        c.0 += u64::try_from(r.passes).unwrap_or(0);
        c.1 += u64::try_from(r.failures).unwrap_or(0);
    }
    let checks_up = checks
        .iter()
        .map(|c| {
            let (passes, failures) = counts.get(&c.id).copied().unwrap_or_default();
            uptime(c.name.clone(), passes, failures)
        })
        .collect();
    let (inspections, inspections_total) = inspections(db, &ids, period).await?;
    Ok(Operations {
        checks: checks_up,
        inspections,
        inspections_total,
        backlog: open_at_end(db, customer_id, period).await?,
    })
}

/// The inspections finished in the period that ran any of `checks`: the latest few, and how many.
async fn inspections(db: &impl ConnectionTrait, checks: &[i64], period: &Period) -> Result<(Vec<InspectionRow>, u64)> {
    if checks.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let mine: HashSet<i64> = checks.iter().copied().collect();
    let rows = inspection::Entity::find()
        .filter(inspection::Column::FinishedAt.gte(utc(period.start)))
        .filter(inspection::Column::FinishedAt.lt(utc(period.end)))
        .filter(inspection::Column::Status.ne(InspectionStatus::Running))
        .order_by_asc(inspection::Column::Id)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let items: Vec<Item> = serde_json::from_str(&r.results)
            .map_err(|e| Error::Internal(format!("inspections, row {}: unreadable results: {e}", r.id)))?;
        let ran: Vec<&Item> = items.iter().filter(|i| mine.contains(&i.check_id)).collect();
        if ran.is_empty() {
            continue;
        }
        let down = ran
            .iter()
            .filter(|i| i.status == crate::domain::check::health::Health::Down)
            .map(|i| i.name.clone())
            .collect();
        let finished = r.finished_at.map_or(period.end, secs);
        out.push(InspectionRow { id: r.id, finished_at: rfc3339(finished), checked: ran.len() as u64, down });
    }
    let total = out.len() as u64;
    let skip = out.len().saturating_sub(MAX_INSPECTIONS);
    Ok((out.split_off(skip), total))
}

/// The customer's tickets unresolved when the period ended, from each one's last status entry
/// (and level) in the log before then.
async fn open_at_end(
    db: &impl ConnectionTrait,
    customer_id: i64,
    period: &Period,
) -> Result<crate::domain::report::Backlog> {
    let end = utc(period.end);
    let tickets = Query::select()
        .column(ticket::Column::Id)
        .from(ticket::Entity)
        .and_where(ticket::Column::CustomerId.eq(customer_id))
        .and_where(ticket::Column::CreatedAt.lt(end))
        .to_owned();
    let moves = [
        Event::Created,
        Event::LevelChanged,
        Event::Responded,
        Event::Planned,
        Event::WaitingCustomer,
        Event::Resumed,
        Event::Resolved,
        Event::Confirmed,
        Event::Closed,
        Event::Reopened,
        Event::Cancelled,
    ];
    let rows = ticket_event::Entity::find()
        .filter(ticket_event::Column::Action.is_in(moves))
        .filter(ticket_event::Column::CreatedAt.lt(end))
        .filter(ticket_event::Column::TicketId.in_subquery(tickets))
        .order_by_asc(ticket_event::Column::Id)
        .all(db)
        .await?;
    let mut at_end: BTreeMap<i64, (Level, Stood)> = BTreeMap::new();
    for e in rows {
        if e.action == Event::Created {
            at_end.insert(e.ticket_id, (level_in(&e, &new_value(&e)?)?, Stood::Open));
            continue;
        }
        let Some(x) = at_end.get_mut(&e.ticket_id) else { continue };
        match e.action {
            Event::LevelChanged => x.0 = level_in(&e, &new_value(&e)?)?,
            Event::WaitingCustomer => x.1 = Stood::WaitingCustomer,
            Event::Resolved | Event::Confirmed | Event::Closed | Event::Cancelled => x.1 = Stood::Done,
            _ => x.1 = Stood::Open,
        }
    }
    Ok(backlog(at_end.into_values()))
}
