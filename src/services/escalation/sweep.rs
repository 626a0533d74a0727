//! The escalation sweep: claims timers whose `next_fire_at` has come, fires the warning and
//! breach steps due by now, and schedules each timer's next firing — one transaction per batch.
//! Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL to keep instances apart, but correctness
//! rests on the unique event and outbox keys, so SQLite (or a lost race) cannot send twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ColumnTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};

use super::super::error::Result;
use super::super::timers::{Timer, secs, utc};
use super::enqueue::{FromSweep, Occurrence, fire_all};
use crate::domain::escalation::{Subject, TimerWindow, plan};
use crate::domain::level::Level;
use crate::domain::sla::TimerState;
use crate::metrics::Tally;
use crate::persistence::entities::{customer, escalation, sla_timer, ticket};
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepOutcome {
    pub timers: usize,
    pub notifications: u32,
}

/// One batch. Returns what it did; call again while `timers` equals the batch size.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<SweepOutcome> {
    let batch = state.config.settings.sweep.batch;
    let txn = state.db.begin().await?;
    let mut q = sla_timer::Entity::find()
        .filter(sla_timer::Column::NextFireAt.lte(now))
        .filter(sla_timer::Column::Outcome.is_null())
        .order_by_asc(sla_timer::Column::NextFireAt)
        .limit(batch);
    if state.backend() == DatabaseBackend::Postgres {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let t_claim = std::time::Instant::now();
    let rows = q.all(&txn).await?;
    tracing::trace!(ms = t_claim.elapsed().as_millis() as u64, "sweep claim");
    let mut out = SweepOutcome { timers: rows.len(), ..Default::default() };
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(out);
    }
    let ticket_ids: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
    let tickets: HashMap<i64, ticket::Model> = ticket::Entity::find()
        .filter(ticket::Column::Id.is_in(ticket_ids.clone()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let customer_ids: Vec<i64> = tickets.values().map(|t| t.customer_id).collect();
    let customers: HashMap<i64, customer::Model> = customer::Entity::find()
        .filter(customer::Column::Id.is_in(customer_ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let chains: HashMap<crate::persistence::bulk::ChainKey, escalation::Model> = escalation::Entity::find()
        .filter(crate::persistence::bulk::id_in(&txn, escalation::Column::TicketId, ticket_ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|e| ((e.ticket_id, e.timer.clone(), e.cycle), e))
        .collect();
    let rules = &state.config.runtime.escalation.rules;
    let n = secs(now);
    let mut timers = Vec::with_capacity(rows.len());
    let mut firings: Vec<(&crate::domain::escalation::Rule, Occurrence)> = Vec::new();
    let mut tally = Tally::default();
    for model in rows {
        let mut timer = Timer::from_model(&txn, &state.versions, model).await?;
        let state_changed = timer.observe(n);
        if timer.has_facts() {
            let tier = tickets
                .get(&timer.model.ticket_id)
                .and_then(|t| customers.get(&t.customer_id))
                .map_or("standard", |c| c.tier.as_str());
            timer.take_facts(tier, &mut tally);
        }
        let mut next: Option<i64> = None;
        if let (Some(t), true) = (tickets.get(&timer.model.ticket_id), timer.is_active())
            && let (Some(cust), Some(due), false) =
                (customers.get(&t.customer_id), timer.due(), timer.state() == TimerState::Paused)
        {
            let level: Level = timer.model.level.parse().unwrap_or(Level::III);
            let subject = Subject { timer: Some(timer.kind), level, tier: &cust.tier, customer_key: &cust.key };
            let acked =
                chains.get(&(t.id, timer.kind.to_string(), timer.model.cycle)).and_then(|c| c.acked_at).map(secs);
            let window = TimerWindow { calendar: &timer.calendar, start: secs(timer.model.started_at), due };
            let planned = plan(rules, &subject, &window, timer.model.breached, acked, n)?;
            for (rule, f) in planned.due_now {
                let occ = Occurrence {
                    on: rule.on,
                    ticket: t,
                    customer: cust,
                    timer: Some(timer.kind),
                    cycle: timer.model.cycle,
                    step: f.step,
                    due_at: timer.model.due_at,
                    fire_at: utc(f.at),
                };
                firings.push((rule, occ));
            }
            next = planned.next;
        }
        // The sweep changes a timer only by recording its breach (`observe`).
        timers.push((timer.model.id, next, state_changed));
    }
    tracing::trace!(ms = t_claim.elapsed().as_millis() as u64, "sweep evaluated");
    let pairs: Vec<(&crate::domain::escalation::Rule, &Occurrence)> = firings.iter().map(|(r, o)| (*r, o)).collect();
    // Rows due now are written leased to this instance and handed to its delivery loops, unless
    // they already hold plenty.
    let lease = state
        .handoff
        .has_room()
        .then(|| now + chrono::Duration::seconds(state.config.settings.delivery.lease_secs as i64));
    let fired = fire_all(&txn, state, &pairs, now, Some(&FromSweep { lease, chains: &chains }), &mut tally).await?;
    out.notifications = fired.written;
    tracing::trace!(ms = t_claim.elapsed().as_millis() as u64, "sweep fired");
    // One statement per distinct next firing (and breached or not), whatever the batch size.
    let mut by_next: HashMap<(Option<i64>, bool), Vec<i64>> = HashMap::new();
    for (id, next, breached) in timers {
        by_next.entry((next, breached)).or_default().push(id);
    }
    for ((next, breached), ids) in by_next {
        crate::persistence::bulk::set_next_fire(&txn, ids, next.map(utc), breached.then_some(now)).await?;
    }
    txn.commit().await?;
    state.metrics.record(tally);
    state.handoff.push(fired.leased);
    if out.notifications > 0 {
        state.wake_delivery.notify_one();
    }
    Ok(out)
}

/// The earliest `next_fire_at` of any unfinished timer.
pub async fn next_fire(state: &AppState) -> Result<Option<DateTime<Utc>>> {
    Ok(sla_timer::Entity::find()
        .filter(sla_timer::Column::Outcome.is_null())
        .filter(sla_timer::Column::NextFireAt.is_not_null())
        .order_by_asc(sla_timer::Column::NextFireAt)
        .one(&state.db)
        .await?
        .and_then(|t| t.next_fire_at))
}
