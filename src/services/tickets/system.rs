//! What the system does to tickets without a person: resolving when a check recovers or an alert
//! resolves, and the scheduled resume (`tickets.max_wait`) and close (`tickets.auto_close_after`).
//! Same transitions and guards as the actions people take.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait, IntoActiveModel, TransactionTrait};
use serde_json::json;

use super::super::error::{Error, Result};
use super::super::timers::{self, secs};
use super::writes::{new_resolution_cycle, notify_rules, resume, save};
use super::{MAX_TEXT, Who, check_text, event};
use crate::domain::escalation::On;
use crate::domain::sla::Outcome;
use crate::domain::ticket::{Action, Status, next_status};
use crate::metrics::Tally;
use crate::persistence::entities::ticket;
use crate::state::AppState;

/// The system resolves a ticket (a check recovered, an alert resolved): unmet, unbreached timers
/// end `auto_resolved`, breached ones stay breached (SLA.md §2). Returns false when the ticket
/// was not in a status that can be resolved.
pub async fn resolve_by_system(
    state: &AppState,
    ticket_id: i64,
    by: &str,
    resolution: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    check_text("resolution", resolution, MAX_TEXT)?;
    for _ in 0..5 {
        let txn = state.db.begin().await?;
        let t = ticket::Entity::find_by_id(ticket_id)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::not_found("ticket_not_found", "ticket"))?;
        let status: Status = t.status.parse().map_err(Error::Internal)?;
        if !Action::Resolve.allowed_from(status) {
            return Ok(false);
        }
        let n = secs(now);
        let mut timers = timers::load_current(&txn, &state.versions, t.id).await?;
        for tm in timers.iter_mut() {
            tm.end(Outcome::AutoResolved, n)?;
        }
        let mut am = t.clone().into_active_model();
        am.status = Set(Status::Resolved.as_str().into());
        am.resolution = Set(Some(resolution.to_string()));
        am.resolved_at = Set(Some(now));
        am.waiting_since = Set(None);
        event(
            &txn,
            t.id,
            Who::System(by),
            "resolved",
            None,
            Some(json!({"resolution": resolution, "by": by})),
            None,
            now,
        )
        .await?;
        let mut tally = Tally::default();
        if save(&txn, am, &t, &mut timers, now, &mut tally).await? {
            txn.commit().await?;
            state.metrics.record(tally);
            return Ok(true);
        }
        txn.rollback().await?;
    }
    Err(Error::conflict("concurrent_update", "the ticket is being changed by others; try again"))
}

/// The system reopens a resolved (or recently closed) ticket — an alert fired again: a new
/// resolution cycle starts, as when a person reopens. False when the ticket is not resolved or
/// closed.
pub async fn reopen_by_system(
    state: &AppState,
    ticket_id: i64,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let txn = state.db.begin().await?;
    let Some(t) = ticket::Entity::find_by_id(ticket_id).one(&txn).await? else { return Ok(false) };
    let status: Status = t.status.parse().map_err(Error::Internal)?;
    if !Action::Reopen.allowed_from(status) {
        return Ok(false);
    }
    let mut timers = timers::load_current(&txn, &state.versions, t.id).await?;
    let (cycle, due) = new_resolution_cycle(state, &txn, &t, &mut timers, now).await?;
    let mut am = t.clone().into_active_model();
    am.status = Set(next_status(Action::Reopen, status).as_str().into());
    am.resolved_at = Set(None);
    am.closed_at = Set(None);
    event(
        &txn,
        t.id,
        Who::System(by),
        "reopened",
        Some(json!({"status": status})),
        Some(json!({"status": next_status(Action::Reopen, status), "resolution_cycle": cycle, "due": due})),
        Some(reason.to_string()),
        now,
    )
    .await?;
    let mut tally = Tally::default();
    if !save(&txn, am, &t, &mut timers, now, &mut tally).await? {
        txn.rollback().await?;
        return Ok(false);
    }
    notify_rules(state, &txn, On::Reopened, t.id, now, &mut tally).await?;
    txn.commit().await?;
    state.metrics.record(tally);
    state.wake_sweep.notify_one();
    state.wake_delivery.notify_one();
    Ok(true)
}

/// What the system itself does to tickets on a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// `tickets.max_wait` passed while waiting for the customer.
    Resume,
    /// `tickets.auto_close_after` passed since the resolution.
    Close,
}

/// Resumes or closes a ticket on the system's behalf; false when the ticket is no longer in the
/// status the transition starts from (another instance, or a person, got there first).
pub async fn transition_by_system(
    state: &AppState,
    ticket_id: i64,
    what: Automatic,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (action, name, on) = match what {
        Automatic::Resume => (Action::Resume, "resumed", On::Resumed),
        Automatic::Close => (Action::Close, "closed", On::Closed),
    };
    let txn = state.db.begin().await?;
    let Some(t) = ticket::Entity::find_by_id(ticket_id).one(&txn).await? else { return Ok(false) };
    let status: Status = t.status.parse().map_err(Error::Internal)?;
    if !action.allowed_from(status) {
        return Ok(false);
    }
    let n = secs(now);
    let mut timers = timers::load_current(&txn, &state.versions, t.id).await?;
    for tm in timers.iter_mut() {
        tm.observe(n);
    }
    let mut am = t.clone().into_active_model();
    match what {
        Automatic::Resume => {
            resume(&mut timers, n)?;
            am.waiting_since = Set(None);
        }
        Automatic::Close => am.closed_at = Set(Some(now)),
    }
    am.status = Set(next_status(action, status).as_str().into());
    let why = match what {
        Automatic::Resume => {
            format!("waited {} for the customer (tickets.max_wait)", state.config.settings.tickets.max_wait)
        }
        Automatic::Close => format!(
            "resolved for {} without confirmation (tickets.auto_close_after)",
            state.config.settings.tickets.auto_close_after
        ),
    };
    event(
        &txn,
        t.id,
        Who::System("maintenance"),
        name,
        Some(json!({"status": status})),
        Some(json!({"status": next_status(action, status)})),
        Some(why),
        now,
    )
    .await?;
    let mut tally = Tally::default();
    if !save(&txn, am, &t, &mut timers, now, &mut tally).await? {
        txn.rollback().await?;
        return Ok(false);
    }
    if what == Automatic::Resume {
        // The assignee hears that the ticket is theirs again.
        let rule = crate::domain::escalation::Rule {
            key: "auto-resume".into(),
            on,
            timer: None,
            levels: vec![],
            tiers: vec![],
            customers: vec![],
            at: None,
            notify: vec![crate::domain::escalation::Notify::Assignee],
            repeat: None,
            after: 0,
        };
        if let (Some(after), Some(cust)) = (
            ticket::Entity::find_by_id(t.id).one(&txn).await?,
            crate::persistence::entities::customer::Entity::find_by_id(t.customer_id).one(&txn).await?,
        ) {
            let occ = crate::services::escalation::enqueue::Occurrence {
                on,
                ticket: &after,
                customer: &cust,
                timer: None,
                cycle: after.version,
                step: 0,
                due_at: None,
                fire_at: now,
            };
            crate::services::escalation::enqueue::fire(&txn, state, &rule, &occ, now, &mut tally).await?;
        }
    }
    notify_rules(state, &txn, on, t.id, now, &mut tally).await?;
    txn.commit().await?;
    state.metrics.record(tally);
    state.wake_sweep.notify_one();
    state.wake_delivery.notify_one();
    Ok(true)
}
