//! What a decision does to a ticket's timers, inside the change's transaction: meet, pause,
//! resume, end or re-target them, start a new resolution cycle or the callback after a rating,
//! and what a visit does to the arrival clock.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use super::visit_apply;
use super::work::Work;
use crate::domain::sla::TimerKind;
use crate::domain::ticket::{Decision, TimerEffect};
use crate::persistence::entities::{customer, ticket};
use sea_orm::EntityTrait;

/// What the timer effects did, for the log.
#[derive(Default)]
pub(super) struct Moved {
    /// A new resolution cycle and its deadline.
    pub cycle: Option<(i32, Option<DateTime<Utc>>)>,
    /// The timers before and after a level change.
    pub retargeted: Option<(Value, Value)>,
}

pub(super) async fn carry_out(
    work: &mut Work<'_>,
    t: &ticket::Model,
    timers: &mut Vec<Timer>,
    d: &Decision,
) -> Result<Moved> {
    let n = secs(work.now);
    let mut moved = Moved::default();
    match &d.timers {
        TimerEffect::None => {}
        TimerEffect::Meet(kinds) => {
            for tm in timers.iter_mut().filter(|tm| kinds.contains(&tm.kind)) {
                tm.meet(n)?;
            }
        }
        TimerEffect::Pause => {
            for tm in timers.iter_mut().filter(|tm| ticket_clock(tm)) {
                let policy = work.state.versions.policy(&work.txn, tm.model.policy_version_id).await?;
                if policy.pauses(tm.kind) {
                    tm.pause(n)?;
                }
            }
        }
        TimerEffect::Resume => {
            for tm in timers.iter_mut().filter(|tm| ticket_clock(tm)) {
                tm.resume(n)?;
            }
        }
        TimerEffect::End(outcome) => {
            for tm in timers.iter_mut().filter(|tm| ticket_clock(tm)) {
                tm.end(*outcome, n)?;
            }
        }
        TimerEffect::Retarget { from, to } => {
            let before = deadlines(timers);
            for tm in timers.iter_mut().filter(|tm| ticket_clock(tm)) {
                let policy = work.state.versions.policy(&work.txn, tm.model.policy_version_id).await?;
                tm.retarget(&policy, *from, *to, n)?;
            }
            moved.retargeted = Some((before, deadlines(timers)));
        }
        TimerEffect::NewResolutionCycle => moved.cycle = Some(new_resolution_cycle(work, t, timers).await?),
        TimerEffect::Visit(c) => {
            let counted = d.visit.as_ref().and_then(|(_, c)| c.as_ref());
            visit_apply::clock(work, t, timers, c, counted).await?
        }
        TimerEffect::StartCallback => start_callback(work, t, timers).await?,
    }
    Ok(moved)
}

/// The clocks of the ticket's own work: every timer but the callback, which follows a rating of
/// the closed ticket and runs until the call is logged, whatever the ticket does meanwhile.
fn ticket_clock(tm: &Timer) -> bool {
    tm.kind != TimerKind::Callback
}

/// A rating that calls for a follow-up call: a callback timer starts now on the customer's
/// current contract, unless one is running already.
async fn start_callback(work: &mut Work<'_>, t: &ticket::Model, timers: &mut Vec<Timer>) -> Result<()> {
    let current = timers.iter().find(|tm| tm.kind == TimerKind::Callback);
    if current.is_some_and(|tm| tm.is_active()) {
        return Ok(());
    }
    let cycle = current.map_or(1, |tm| tm.model.cycle + 1);
    let cust = customer_of(work, t).await?;
    let start = timers::Start { cycle, level: t.level, customer: &cust, at: secs(work.now) };
    let started = timers::start(work, t.id, &[TimerKind::Callback], &start).await?;
    if !started.is_empty() {
        timers.retain(|tm| tm.kind != TimerKind::Callback);
        timers.extend(started);
    }
    Ok(())
}

fn deadlines(timers: &[Timer]) -> Value {
    Value::Array(
        timers
            .iter()
            .map(|tm| json!({"timer": tm.kind, "target": tm.model.target, "due_at": tm.model.due_at, "state": tm.model.state}))
            .collect(),
    )
}

/// Reopening: a new resolution cycle starts now on the customer's current contract (docs/sla.md
/// §6); returns the cycle and its deadline.
async fn new_resolution_cycle(
    work: &mut Work<'_>,
    t: &ticket::Model,
    timers: &mut Vec<Timer>,
) -> Result<(i32, Option<DateTime<Utc>>)> {
    let cust = customer_of(work, t).await?;
    let cycle = timers.iter().find(|tm| tm.kind == TimerKind::Resolution).map_or(1, |r| r.model.cycle + 1);
    let start = timers::Start { cycle, level: t.level, customer: &cust, at: secs(work.now) };
    let started = timers::start(work, t.id, &[TimerKind::Resolution], &start).await?;
    timers.retain(|tm| tm.kind != TimerKind::Resolution);
    timers.extend(started);
    let due = timers.iter().find(|tm| tm.kind == TimerKind::Resolution).and_then(|r| r.model.due_at);
    Ok((cycle, due))
}

/// The ticket's customer, whose current contract new timers run on.
async fn customer_of(work: &Work<'_>, t: &ticket::Model) -> Result<customer::Model> {
    customer::Entity::find_by_id(t.customer_id).one(&work.txn).await?.ok_or_else(|| {
        Error::Internal(format!("ticket {} names customer {}, which does not exist", t.id, t.customer_id))
    })
}
