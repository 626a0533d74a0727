//! What every ticket change shares — the ticket actions, the system's transitions and comments:
//! the version-guarded save with timers, urgency, open counts and metrics facts; the event rules
//! an action announces; a reopening's new resolution cycle; meeting and resuming timers.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::TimerKind;
use crate::metrics::Tally;
use crate::persistence::entities::{customer, ticket};
use crate::state::AppState;

/// Fires the event rules for `on` on the ticket as it now is, in the action's transaction.
pub(crate) async fn notify_rules(
    state: &AppState,
    txn: &DatabaseTransaction,
    on: On,
    ticket_id: i64,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<()> {
    if !state.config.runtime.escalation.rules.iter().any(|r| r.on == on) {
        return Ok(());
    }
    if let Some(after) = ticket::Entity::find_by_id(ticket_id).one(txn).await? {
        crate::services::escalation::ticket_event(txn, state, on, &after, now, tally).await?;
    }
    Ok(())
}

/// Writes the ticket if it is still as `before` (its `version`), then its timers, urgency and
/// the change to the open-ticket counts.
pub(crate) async fn save(
    txn: &DatabaseTransaction,
    mut am: ticket::ActiveModel,
    before: &ticket::Model,
    timers: &mut [Timer],
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<bool> {
    let (id, customer_id, version) = (before.id, before.customer_id, before.version);
    let now_is = |v: &sea_orm::ActiveValue<String>, was: &str| match v {
        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => v.clone(),
        sea_orm::ActiveValue::NotSet => was.to_string(),
    };
    let (level, status) = (now_is(&am.level, &before.level), now_is(&am.status, &before.status));
    am.version = Set(version + 1);
    am.updated_at = Set(now);
    let res = ticket::Entity::update_many()
        .set(am)
        .filter(ticket::Column::Id.eq(id))
        .filter(ticket::Column::Version.eq(version))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    if (level.as_str(), status.as_str()) != (before.level.as_str(), before.status.as_str()) {
        crate::services::gauges::count_move(txn, Some((&before.level, &before.status)), (&level, &status)).await?;
    }
    for tm in timers.iter_mut() {
        tm.save(txn, now).await?;
    }
    if timers.iter().any(Timer::has_facts) {
        let tier = customer::Entity::find_by_id(customer_id).one(txn).await?.map(|c| c.tier);
        for tm in timers.iter_mut() {
            tm.take_facts(tier.as_deref().unwrap_or("standard"), tally);
        }
    }
    timers::refresh_urgency(txn, id, timers, now).await?;
    Ok(true)
}

/// Reopening: a new resolution cycle starts now on the customer's contract; returns the cycle
/// and its deadline.
pub(crate) async fn new_resolution_cycle(
    state: &AppState,
    txn: &DatabaseTransaction,
    t: &ticket::Model,
    timers: &mut Vec<Timer>,
    now: DateTime<Utc>,
) -> Result<(i32, Option<DateTime<Utc>>)> {
    let cust = customer::Entity::find_by_id(t.customer_id)
        .one(txn)
        .await?
        .ok_or_else(|| Error::Internal("customer vanished".into()))?;
    let level: Level = t.level.parse().map_err(|_| Error::Internal("bad level".into()))?;
    let cycle = timer(timers, TimerKind::Resolution).map_or(1, |r| r.model.cycle + 1);
    let rules = &state.config.runtime.escalation.rules;
    let kinds = [TimerKind::Resolution];
    let started = timers::start(txn, &state.versions, rules, t.id, &kinds, cycle, level, &cust, secs(now), now).await?;
    timers.retain(|tm| tm.kind != TimerKind::Resolution);
    timers.extend(started);
    Ok((cycle, timer(timers, TimerKind::Resolution).and_then(|r| r.model.due_at)))
}

pub(crate) fn timer(timers: &[Timer], kind: TimerKind) -> Option<&Timer> {
    timers.iter().find(|t| t.kind == kind)
}

pub(crate) fn meet(timers: &mut [Timer], kinds: &[TimerKind], now: i64) -> Result<()> {
    for tm in timers.iter_mut().filter(|t| kinds.contains(&t.kind)) {
        tm.meet(now)?;
    }
    Ok(())
}

pub(crate) fn resume(timers: &mut [Timer], now: i64) -> Result<()> {
    for tm in timers.iter_mut() {
        tm.resume(now)?;
    }
    Ok(())
}
