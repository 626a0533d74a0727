//! The escalation sweep: claims timers whose `next_fire_at` has come, fires the warning and
//! breach steps due by now, and schedules each timer's next firing — one transaction per batch.
//! Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL to keep instances apart, but correctness
//! rests on the unique event and outbox keys, so SQLite (or a lost race) cannot send twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::super::error::{Error, Result};
use super::super::timers::{Timer, secs, utc};
use super::enqueue::{FromSweep, Occurrence, fire_all};
use crate::domain::escalation::{Rule, Subject, TimerWindow, plan};
use crate::domain::sla::TimerState;
use crate::metrics::Tally;
use crate::persistence::bulk::{ChainKey, id_in, set_next_fire};
use crate::persistence::entities::{customer, escalation, sla_timer, ticket};
use crate::state::AppState;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepOutcome {
    pub timers: usize,
    pub notifications: u32,
}

/// One batch. Returns what it did; call again while `timers` equals the batch size.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<SweepOutcome> {
    // The rows this batch leases name this instance: it must look alive while they are held.
    if state.handoff.has_room() {
        crate::services::instances::beat_if_due(state, now).await?;
    }
    let txn = state.db.begin().await?;
    let rows = claim(state, &txn, now).await?;
    let mut out = SweepOutcome { timers: rows.len(), ..Default::default() };
    if rows.is_empty() {
        txn.commit().await?;
        return Ok(out);
    }
    let batch = Batch::load(&txn, &rows).await?;
    let n = secs(now);
    let mut scheduled = Vec::with_capacity(rows.len());
    let mut timers = Vec::with_capacity(rows.len());
    let mut tally = Tally::default();
    for model in rows {
        let mut timer = Timer::from_model(&txn, &state.versions, model).await?;
        let breached_now = timer.observe(n);
        if timer.has_facts() {
            timer.take_facts(batch.customer_of(&timer)?.tier, &mut tally);
        }
        timers.push((timer, breached_now));
    }
    let mut firings: Vec<(&Rule, Occurrence)> = Vec::new();
    for (timer, breached_now) in &timers {
        let next = batch.due(state, timer, n, &mut firings)?;
        // The sweep changes a timer only by recording its breach (`observe`).
        scheduled.push((timer.model.id, next, *breached_now));
    }
    let pairs: Vec<(&Rule, &Occurrence)> = firings.iter().map(|(r, o)| (*r, o)).collect();
    // Rows due now are written leased to this instance and handed to its delivery loops, unless
    // they already hold plenty.
    let lease = state
        .handoff
        .has_room()
        .then(|| now + chrono::Duration::seconds(state.config.settings.delivery.lease_secs as i64));
    let from_sweep = FromSweep { lease, chains: &batch.chains };
    let fired = fire_all(&txn, state, &pairs, now, Some(&from_sweep), &mut tally).await?;
    out.notifications = fired.written;
    schedule(&txn, scheduled, now).await?;
    txn.commit().await?;
    state.metrics.record(tally);
    state.handoff.push(fired.leased);
    if out.notifications > 0 {
        state.wake_delivery.notify_one();
    }
    Ok(out)
}

/// Claims up to `sweep.batch` timers whose next firing has come (skipping those another
/// instance holds, on PostgreSQL).
async fn claim(state: &AppState, txn: &DatabaseTransaction, now: DateTime<Utc>) -> Result<Vec<sla_timer::Model>> {
    let mut q = sla_timer::Entity::find()
        .filter(sla_timer::Column::NextFireAt.lte(now))
        .filter(sla_timer::Column::Outcome.is_null())
        .order_by_asc(sla_timer::Column::NextFireAt)
        .limit(state.config.settings.sweep.batch);
    if state.backend() == DatabaseBackend::Postgres {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Ok(q.all(txn).await?)
}

/// The tickets, customers and escalation chains of a batch of timers, read once.
struct Batch {
    tickets: HashMap<i64, ticket::Model>,
    customers: HashMap<i64, customer::Model>,
    chains: HashMap<ChainKey, escalation::Model>,
}

impl Batch {
    async fn load(txn: &DatabaseTransaction, rows: &[sla_timer::Model]) -> Result<Self> {
        let ticket_ids: Vec<i64> = rows.iter().map(|r| r.ticket_id).collect();
        let tickets: HashMap<i64, ticket::Model> = ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(ticket_ids.clone()))
            .all(txn)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        let customer_ids: Vec<i64> = tickets.values().map(|t| t.customer_id).collect();
        let customers = customer::Entity::find()
            .filter(customer::Column::Id.is_in(customer_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let chains = escalation::Entity::find()
            .filter(id_in(txn, escalation::Column::TicketId, ticket_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|e| ((e.ticket_id, e.timer, e.cycle), e))
            .collect();
        Ok(Batch { tickets, customers, chains })
    }

    fn customer_of(&self, timer: &Timer) -> Result<&customer::Model> {
        self.tickets.get(&timer.model.ticket_id).and_then(|t| self.customers.get(&t.customer_id)).ok_or_else(|| {
            Error::Internal(format!("sla_timers, row {}: its ticket or customer is missing", timer.model.id))
        })
    }

    /// Adds the steps of `timer` due by `now` to `firings`; returns when it next fires.
    fn due<'a>(
        &'a self,
        state: &'a AppState,
        timer: &Timer,
        now: i64,
        firings: &mut Vec<(&'a Rule, Occurrence<'a>)>,
    ) -> Result<Option<i64>> {
        let Some(t) = self.tickets.get(&timer.model.ticket_id) else { return Ok(None) };
        let (Some(due), true) = (timer.due(), timer.is_active() && timer.state() != TimerState::Paused) else {
            return Ok(None);
        };
        let cust = self.customer_of(timer)?;
        let subject =
            Subject { timer: Some(timer.kind), level: timer.model.level, tier: cust.tier, customer_key: &cust.key };
        let acked = self.chains.get(&(t.id, timer.kind, timer.model.cycle)).and_then(|c| c.acked_at).map(secs);
        let window = TimerWindow { calendar: &timer.calendar, start: secs(timer.model.started_at), due };
        let rules = &state.config.runtime.escalation.rules;
        let planned = plan(rules, &subject, &window, timer.model.breached, acked, now)?;
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
        Ok(planned.next)
    }
}

/// Each timer's next firing (and whether it was breached now): one statement per distinct
/// pair, whatever the batch size.
async fn schedule(txn: &DatabaseTransaction, timers: Vec<(i64, Option<i64>, bool)>, now: DateTime<Utc>) -> Result<()> {
    let mut by_next: HashMap<(Option<i64>, bool), Vec<i64>> = HashMap::new();
    for (id, next, breached) in timers {
        by_next.entry((next, breached)).or_default().push(id);
    }
    for ((next, breached), ids) in by_next {
        set_next_fire(txn, ids, next.map(utc), breached.then_some(now)).await?;
    }
    Ok(())
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
