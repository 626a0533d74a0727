//! The one path every change to a ticket takes — a person's action or comment, Opsline resolving,
//! reopening, resuming or closing, an intake's or a check's note:
//!
//! load the ticket and its current timers → ask the domain ([`decide`]) whether the change may
//! happen and what it does → carry the timer effects out → write what the change carries
//! (comment, attachment, fields) → save the ticket if it is still the version loaded → log the
//! events → fire the rules that hear of it → commit → count the metrics and wake the loops.
//!
//! A ticket that changed underneath is tried again on fresh state ([`ATTEMPTS`]), unless the
//! caller pinned the version it saw (`If-Match`). Writes that belong to the same transaction but
//! not to the ticket (a check claiming its outage, an alert's link) come in as an [`Also`].

use std::future::Future;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use super::apply::{self, Applied};
use super::work::Work;
use crate::domain::actor::Actor;
use crate::domain::sla::TimerKind;
use crate::domain::ticket::{Action, Change, Facts, Refusal, Status, allowed_actions};
use crate::persistence::entities::{attachment, comment, ticket, visit};
use crate::state::AppState;

/// How often a change is tried when the ticket keeps changing underneath it.
pub const ATTEMPTS: usize = 5;

/// A ticket named by its caller: an id, or an id or number as given (`INC-000042`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketRef {
    Id(i64),
    Given(String),
}

impl From<i64> for TicketRef {
    fn from(id: i64) -> Self {
        TicketRef::Id(id)
    }
}

impl From<&str> for TicketRef {
    fn from(r: &str) -> Self {
        TicketRef::Given(r.to_string())
    }
}

/// A change to make.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub ticket: TicketRef,
    pub change: Change,
    /// The `version` the caller saw (`If-Match`): a newer ticket is 412, not a retry.
    pub if_match: Option<i32>,
    /// Also make the change (a resolve, a public comment) to every child of this parent incident.
    pub copy_to_children: bool,
}

impl ChangeRequest {
    pub fn new(ticket: impl Into<TicketRef>, change: Change) -> Self {
        Self { ticket: ticket.into(), change, if_match: None, copy_to_children: false }
    }
}

/// What a change wrote.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The ticket after the change.
    pub ticket: ticket::Model,
    pub comment: Option<comment::Model>,
    pub attachment: Option<attachment::Model>,
    /// The visit a visit change wrote.
    pub visit: Option<visit::Model>,
}

/// Writes that share a change's (or an opening's) transaction without being ticket changes.
pub(crate) trait Also: Sync {
    /// Runs after the ticket was written (`work.txn`); `false` abandons the whole change
    /// (someone else did the same first).
    fn write(&self, work: &mut Work<'_>, ticket: &ticket::Model) -> impl Future<Output = Result<bool>> + Send;
}

/// No other writes.
pub(crate) struct Nothing;

impl Also for Nothing {
    async fn write(&self, _: &mut Work<'_>, _: &ticket::Model) -> Result<bool> {
        Ok(true)
    }
}

/// Makes the change. Refused changes are errors: 403, 404, 409 with the allowed actions, 412 or
/// 422.
pub async fn change(state: &AppState, actor: &Actor, req: ChangeRequest, now: DateTime<Utc>) -> Result<Changed> {
    change_with(state, actor, req, &Nothing, now)
        .await?
        .ok_or_else(|| Error::Internal("a change without other writes was abandoned".into()))
}

/// [`change`] with other writes in the same transaction; `None` when those abandoned it.
pub(crate) async fn change_with(
    state: &AppState,
    actor: &Actor,
    req: ChangeRequest,
    also: &impl Also,
    now: DateTime<Utc>,
) -> Result<Option<Changed>> {
    req.change.validate().map_err(|r| refusal(r, None, actor, state))?;
    if req.copy_to_children {
        check_copy(actor, &req.change)?;
    }
    for _ in 0..ATTEMPTS {
        let mut work = Work::begin(state, now).await?;
        let before = load_visible(&work.txn, actor, &req.ticket).await?;
        if let Some(v) = req.if_match
            && v != before.version
        {
            return Err(Error::VersionMismatch { expected: v, current: before.version });
        }
        let parent_id = before.id;
        let Applied::Saved(changed) = apply::apply(&mut work, actor, before, &req.change, None).await? else {
            work.rollback().await?;
            if let Some(v) = req.if_match {
                return Err(Error::VersionMismatch { expected: v, current: v + 1 });
            }
            continue;
        };
        if req.copy_to_children {
            to_children(&mut work, actor, parent_id, &req.change).await?;
        }
        if !also.write(&mut work, &changed.ticket).await? {
            work.rollback().await?;
            return Ok(None);
        }
        work.commit().await?;
        return Ok(Some(*changed));
    }
    Err(Error::conflict("concurrent_update", "the ticket is being changed by others; try again"))
}

/// Only staff copy, and only resolutions and public comments.
fn check_copy(actor: &Actor, change: &Change) -> Result<()> {
    if !actor.is_staff() {
        return Err(Error::forbidden("customers cannot copy to other tickets"));
    }
    match change {
        Change::Resolve { .. } => Ok(()),
        Change::Comment { visibility: crate::domain::ticket::Visibility::Public, .. } => Ok(()),
        Change::Comment { .. } => {
            Err(Error::invalid("copy_to_children", "only public comments are copied to children"))
        }
        _ => Err(Error::invalid("copy_to_children", "only a resolution or a public comment is copied")),
    }
}

/// "Copy to children": each child that the change is possible for gets it too, by the same
/// actor; children keep their own timers.
async fn to_children(work: &mut Work<'_>, actor: &Actor, parent_id: i64, change: &Change) -> Result<()> {
    let children = ticket::Entity::find().filter(ticket::Column::ParentId.eq(parent_id)).all(&work.txn).await?;
    for child in children {
        let possible = change.action().is_none_or(|a| a.allowed_from(child.status));
        if !possible {
            continue;
        }
        let number = child.number.clone();
        if let Applied::Stale = apply::apply(work, actor, child, change, Some(parent_id)).await? {
            return Err(Error::conflict(
                "concurrent_update",
                format!("child ticket {number} changed meanwhile; try again"),
            ));
        }
    }
    Ok(())
}

/// The ticket if `actor` may see it; another customer's ticket is "not found", exactly as a
/// missing one.
pub(crate) async fn load_visible(
    db: &impl sea_orm::ConnectionTrait,
    actor: &Actor,
    r: &TicketRef,
) -> Result<ticket::Model> {
    let not_found = || Error::not_found("ticket_not_found", "ticket");
    let id = match r {
        TicketRef::Id(id) => *id,
        TicketRef::Given(s) => super::parse_ref(s).ok_or_else(not_found)?,
    };
    let t = ticket::Entity::find_by_id(id).one(db).await?.ok_or_else(not_found)?;
    match actor.customer_id() {
        Some(c) if c != t.customer_id => Err(not_found()),
        _ => Ok(t),
    }
}

/// What the domain needs to know about the ticket and its timers.
pub(crate) fn facts(state: &AppState, t: &ticket::Model, timers: &[Timer], now: DateTime<Utc>) -> Facts {
    let response = timers.iter().find(|tm| tm.kind == TimerKind::Response);
    Facts {
        status: t.status,
        level: t.level,
        response_met: response.is_none_or(|tm| !tm.is_active()),
        reopen_ok: reopen_ok(state, t, now),
        needs_signature: false,
        visit: None,
        now: secs(now),
        max_offline: state.config.runtime.tickets.visit_max_offline_secs,
    }
}

pub(crate) fn reopen_ok(state: &AppState, t: &ticket::Model, now: DateTime<Utc>) -> bool {
    let window = state.config.runtime.tickets.reopen_window_secs;
    t.closed_at.is_none_or(|c| (now - c).num_seconds() <= window)
}

/// A refusal as the caller sees it; `facts` gives the actions still possible.
pub(crate) fn refusal(r: Refusal, facts: Option<Facts>, actor: &Actor, state: &AppState) -> Error {
    let invalid_transition = |message: String| {
        let status = facts.map_or(Status::Open, |f| f.status);
        let reopen_ok = facts.is_some_and(|f| f.reopen_ok);
        Error::InvalidTransition {
            message,
            status: status.to_string(),
            allowed_actions: allowed_actions(status, actor, reopen_ok).iter().map(Action::to_string).collect(),
        }
    };
    match r {
        Refusal::Forbidden(m) => Error::Forbidden(m),
        Refusal::Invalid { field, message } => Error::invalid(field, message),
        Refusal::NotNow(m) => invalid_transition(m),
        Refusal::VisitNotNow { message, state } => Error::InvalidTransition {
            message,
            status: state.to_string(),
            allowed_actions: state.actions().iter().map(|a| a.to_string()).collect(),
        },
        Refusal::ReopenWindowPassed => invalid_transition(format!(
            "the ticket closed more than {} ago and can no longer be reopened",
            state.config.settings.tickets.reopen_window
        )),
    }
}

/// Loads a ticket's current timers with the breaches that have happened by `now` recorded.
pub(crate) async fn current_timers(work: &Work<'_>, ticket_id: i64) -> Result<Vec<Timer>> {
    let mut timers = timers::load_current(&work.txn, &work.state.versions, ticket_id).await?;
    let n = secs(work.now);
    for tm in timers.iter_mut() {
        tm.observe(n);
    }
    Ok(timers)
}
