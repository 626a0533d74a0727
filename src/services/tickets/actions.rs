//! The ticket actions of DESIGN.md §5: each checks the caller's role and the ticket's status,
//! applies the SLA consequences of SLA.md §2, §4–§6, and writes ticket, timers, events and
//! comments in one transaction guarded by the ticket's `version`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    TransactionTrait,
};
use serde_json::json;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use super::comments::insert_comment;
use super::writes::{meet, new_resolution_cycle, notify_rules, resume, save, timer};
use super::{MAX_TEXT, Who, check_text, event, load_visible};
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind};
use crate::domain::ticket::{Action, Status, allowed_actions, next_status};
use crate::metrics::Tally;
use crate::persistence::entities::{team, ticket, user};
use crate::state::AppState;

#[derive(Debug, Clone)]
pub enum ActionRequest {
    Respond { message: String },
    Plan { plan: String },
    WaitCustomer { reason: String },
    Resume,
    Resolve { resolution: String, copy_to_children: bool },
    Confirm,
    Close,
    Reopen { reason: String },
    Cancel { reason: String },
    Level { level: Level, reason: String },
    Assign { assignee: Option<i64>, team: Option<Option<String>> },
    Link { parent_id: Option<i64> },
}

impl ActionRequest {
    pub fn action(&self) -> Action {
        match self {
            ActionRequest::Respond { .. } => Action::Respond,
            ActionRequest::Plan { .. } => Action::Plan,
            ActionRequest::WaitCustomer { .. } => Action::WaitCustomer,
            ActionRequest::Resume => Action::Resume,
            ActionRequest::Resolve { .. } => Action::Resolve,
            ActionRequest::Confirm => Action::Confirm,
            ActionRequest::Close => Action::Close,
            ActionRequest::Reopen { .. } => Action::Reopen,
            ActionRequest::Cancel { .. } => Action::Cancel,
            ActionRequest::Level { .. } => Action::Level,
            ActionRequest::Assign { .. } => Action::Assign,
            ActionRequest::Link { .. } => Action::Link,
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            ActionRequest::Respond { message } => check_text("message", message, MAX_TEXT),
            ActionRequest::Plan { plan } => check_text("plan", plan, MAX_TEXT),
            ActionRequest::Resolve { resolution, .. } => check_text("resolution", resolution, MAX_TEXT),
            ActionRequest::WaitCustomer { reason }
            | ActionRequest::Reopen { reason }
            | ActionRequest::Cancel { reason }
            | ActionRequest::Level { reason, .. } => check_text("reason", reason, 2000),
            ActionRequest::Resume | ActionRequest::Confirm | ActionRequest::Close => Ok(()),
            ActionRequest::Assign { .. } | ActionRequest::Link { .. } => Ok(()),
        }
    }
}

/// Performs an action and returns the ticket id. `if_match` is the `version` the caller saw.
pub async fn perform(
    state: &AppState,
    principal: &Principal,
    r: &str,
    req: ActionRequest,
    if_match: Option<i32>,
    now: DateTime<Utc>,
) -> Result<i64> {
    req.validate()?;
    // Two writers on one ticket: the loser of the version check retries on fresh state, unless
    // the caller pinned a version with If-Match.
    for _ in 0..5 {
        let txn = state.db.begin().await?;
        let t = load_visible(&txn, principal, r).await?;
        if let Some(v) = if_match
            && v != t.version
        {
            return Err(Error::VersionMismatch { expected: v, current: t.version });
        }
        let id = t.id;
        let mut tally = Tally::default();
        match apply(state, &txn, principal, t, &req, now, &mut tally).await {
            Ok(true) => {
                txn.commit().await?;
                state.metrics.record(tally);
                state.wake_sweep.notify_one();
                state.wake_delivery.notify_one();
                return Ok(id);
            }
            Ok(false) => {
                txn.rollback().await?;
                if let Some(v) = if_match {
                    return Err(Error::VersionMismatch { expected: v, current: v + 1 });
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::conflict("concurrent_update", "the ticket is being changed by others; try again"))
}

fn refused(t: &ticket::Model, principal: &Principal, action: Action, why: Option<String>, reopen_ok: bool) -> Error {
    let status: Status = t.status.parse().unwrap_or(Status::Open);
    Error::InvalidTransition {
        message: why.unwrap_or_else(|| format!("`{action}` is not possible while the ticket is {status}")),
        status: status.to_string(),
        allowed_actions: allowed_actions(status, principal.actor(), reopen_ok).iter().map(|a| a.to_string()).collect(),
    }
}

/// Applies the action inside `txn`; `Ok(false)` when the ticket changed underneath.
async fn apply(
    state: &AppState,
    txn: &DatabaseTransaction,
    principal: &Principal,
    t: ticket::Model,
    req: &ActionRequest,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<bool> {
    let action = req.action();
    if !action.permitted(principal.actor()) {
        return Err(match principal.role() {
            Some(role) => Error::forbidden(format!("`{action}` is not allowed for the {role} role")),
            None => Error::forbidden(format!("customers cannot `{action}` a ticket")),
        });
    }
    let status: Status = t.status.parse().map_err(Error::Internal)?;
    let window = state.config.runtime.tickets.reopen_window_secs;
    let reopen_ok = t.closed_at.is_none_or(|c| (now - c).num_seconds() <= window);
    if !action.allowed_from(status) {
        return Err(refused(&t, principal, action, None, reopen_ok));
    }
    if action == Action::Reopen && status == Status::Closed && !reopen_ok {
        let why = format!(
            "the ticket closed more than {} ago and can no longer be reopened",
            state.config.settings.tickets.reopen_window
        );
        return Err(refused(&t, principal, action, Some(why), reopen_ok));
    }
    let n = secs(now);
    let mut timers = timers::load_current(txn, &state.versions, t.id).await?;
    for tm in timers.iter_mut() {
        tm.observe(n);
    }
    let who = Who::Principal(principal);
    let mut am = t.clone().into_active_model();
    let new_status = next_status(action, status);
    match req {
        ActionRequest::Respond { message } => {
            insert_comment(txn, t.id, who, message, "public", now).await?;
            meet(&mut timers, &[TimerKind::Response], n)?;
            event(txn, t.id, who, "responded", None, Some(json!({"message": message})), None, now).await?;
        }
        ActionRequest::Plan { plan } => {
            meet(&mut timers, &[TimerKind::Response, TimerKind::Plan], n)?;
            am.plan = Set(Some(plan.clone()));
            event(
                txn,
                t.id,
                who,
                "planned",
                t.plan.as_ref().map(|p| json!({"plan": p})),
                Some(json!({"plan": plan})),
                None,
                now,
            )
            .await?;
        }
        ActionRequest::WaitCustomer { reason } => {
            if timer(&timers, TimerKind::Response).is_some_and(Timer::is_active) {
                let why = "the ticket can wait for the customer only after the response is met".to_string();
                return Err(refused(&t, principal, action, Some(why), reopen_ok));
            }
            for tm in timers.iter_mut() {
                let policy = state.versions.policy(txn, tm.model.policy_version_id).await?;
                if policy.pauses(tm.kind) {
                    tm.pause(n)?;
                }
            }
            am.waiting_since = Set(Some(now));
            event(
                txn,
                t.id,
                who,
                "waiting_customer",
                None,
                Some(json!({"status": new_status})),
                Some(reason.clone()),
                now,
            )
            .await?;
        }
        ActionRequest::Resume => {
            resume(&mut timers, n)?;
            am.waiting_since = Set(None);
            event(txn, t.id, who, "resumed", None, Some(json!({"status": new_status})), None, now).await?;
        }
        ActionRequest::Resolve { resolution, copy_to_children } => {
            resolve_fields(&mut am, &mut timers, resolution, now)?;
            event(txn, t.id, who, "resolved", None, Some(json!({"resolution": resolution})), None, now).await?;
            if *copy_to_children {
                resolve_children(state, txn, principal, t.id, resolution, now, tally).await?;
            }
        }
        ActionRequest::Confirm | ActionRequest::Close => {
            am.closed_at = Set(Some(now));
            let name = if action == Action::Confirm { "confirmed" } else { "closed" };
            event(txn, t.id, who, name, None, Some(json!({"status": new_status})), None, now).await?;
        }
        ActionRequest::Reopen { reason } => {
            let (cycle, due) = new_resolution_cycle(state, txn, &t, &mut timers, now).await?;
            am.resolved_at = Set(None);
            am.closed_at = Set(None);
            event(
                txn,
                t.id,
                who,
                "reopened",
                Some(json!({"status": status})),
                Some(json!({"status": new_status, "resolution_cycle": cycle, "due": due})),
                Some(reason.clone()),
                now,
            )
            .await?;
        }
        ActionRequest::Cancel { reason } => {
            for tm in timers.iter_mut() {
                tm.end(Outcome::Cancelled, n)?;
            }
            event(txn, t.id, who, "cancelled", Some(json!({"status": status})), None, Some(reason.clone()), now)
                .await?;
        }
        ActionRequest::Level { level, reason } => {
            let from: Level = t.level.parse().map_err(|_| Error::Internal("bad level".into()))?;
            if *level == from {
                return Err(Error::invalid("level", format!("the ticket is already level {from}")));
            }
            let before: Vec<_> = timers.iter().map(|tm| json!({"timer": tm.kind, "target": tm.model.target, "due_at": tm.model.due_at, "state": tm.model.state})).collect();
            for tm in timers.iter_mut() {
                let policy = state.versions.policy(txn, tm.model.policy_version_id).await?;
                tm.retarget(&policy, from, *level, n)?;
            }
            let after: Vec<_> = timers.iter().map(|tm| json!({"timer": tm.kind, "target": tm.model.target, "due_at": tm.model.due_at, "state": tm.model.state})).collect();
            am.level = Set(level.to_string());
            am.level_source = Set("manual".into());
            event(
                txn,
                t.id,
                who,
                "level_changed",
                Some(json!({"level": from, "timers": before})),
                Some(json!({"level": level, "timers": after})),
                Some(reason.clone()),
                now,
            )
            .await?;
        }
        ActionRequest::Assign { assignee, team: team_name } => {
            if let Some(uid) = assignee {
                let u = user::Entity::find_by_id(*uid).one(txn).await?;
                if u.is_none_or(|u| !u.active) {
                    return Err(Error::invalid("assignee", format!("no active user with id {uid}")));
                }
            }
            am.assignee_id = Set(*assignee);
            if let Some(tn) = team_name {
                am.team_id = Set(match tn {
                    Some(name) => Some(
                        team::Entity::find()
                            .filter(team::Column::Name.eq(name))
                            .one(txn)
                            .await?
                            .ok_or_else(|| Error::invalid("team", format!("no team named `{name}`")))?
                            .id,
                    ),
                    None => None,
                });
            }
            event(
                txn,
                t.id,
                who,
                "assigned",
                Some(json!({"assignee": t.assignee_id, "team_id": t.team_id})),
                Some(json!({"assignee": assignee, "team": team_name})),
                None,
                now,
            )
            .await?;
        }
        ActionRequest::Link { parent_id } => {
            if let Some(pid) = parent_id {
                check_parent(txn, &t, *pid).await?;
            }
            am.parent_id = Set(*parent_id);
            event(
                txn,
                t.id,
                who,
                "linked",
                Some(json!({"parent_id": t.parent_id})),
                Some(json!({"parent_id": parent_id})),
                None,
                now,
            )
            .await?;
        }
    }
    am.status = Set(new_status.as_str().into());
    if new_status == Status::Resolved {
        am.waiting_since = Set(None);
    }
    if !save(txn, am, &t, &mut timers, now, tally).await? {
        return Ok(false);
    }
    if let Some(on) = announced(action) {
        notify_rules(state, txn, on, t.id, now, tally).await?;
    }
    Ok(true)
}

/// The event rules an action announces (DESIGN.md §5 → escalation `on`).
fn announced(action: Action) -> Option<On> {
    Some(match action {
        Action::Respond => On::Responded,
        Action::Plan => On::Planned,
        Action::Resolve => On::Resolved,
        Action::Reopen => On::Reopened,
        Action::Confirm | Action::Close => On::Closed,
        Action::Level => On::LevelChanged,
        _ => return None,
    })
}

fn resolve_fields(
    am: &mut ticket::ActiveModel,
    timers: &mut [Timer],
    resolution: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    meet(timers, &TimerKind::ALL, secs(now))?;
    am.resolution = Set(Some(resolution.to_string()));
    am.resolved_at = Set(Some(now));
    Ok(())
}

/// "Copy the resolution to all children": each open child is resolved by the same staff member
/// with the same text; children keep their own timers.
async fn resolve_children(
    state: &AppState,
    txn: &DatabaseTransaction,
    principal: &Principal,
    parent_id: i64,
    resolution: &str,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<()> {
    let children = ticket::Entity::find().filter(ticket::Column::ParentId.eq(parent_id)).all(txn).await?;
    for child in children {
        let status: Status = child.status.parse().map_err(Error::Internal)?;
        if !Action::Resolve.allowed_from(status) {
            continue;
        }
        let mut timers = timers::load_current(txn, &state.versions, child.id).await?;
        let mut am = child.clone().into_active_model();
        resolve_fields(&mut am, &mut timers, resolution, now)?;
        am.status = Set(Status::Resolved.as_str().into());
        am.waiting_since = Set(None);
        event(
            txn,
            child.id,
            Who::Principal(principal),
            "resolved",
            None,
            Some(json!({"resolution": resolution, "copied_from": parent_id})),
            None,
            now,
        )
        .await?;
        if !save(txn, am, &child, &mut timers, now, tally).await? {
            return Err(Error::conflict(
                "concurrent_update",
                format!("child ticket {} changed meanwhile; try again", child.number),
            ));
        }
    }
    Ok(())
}

async fn check_parent(db: &impl ConnectionTrait, t: &ticket::Model, parent_id: i64) -> Result<()> {
    if parent_id == t.id {
        return Err(Error::invalid("parent_id", "a ticket cannot be its own parent"));
    }
    let parent = ticket::Entity::find_by_id(parent_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::invalid("parent_id", format!("no ticket with id {parent_id}")))?;
    if parent.parent_id.is_some() {
        return Err(Error::invalid(
            "parent_id",
            format!("{} is itself linked to a parent; link to that incident instead", parent.number),
        ));
    }
    let has_children = ticket::Entity::find().filter(ticket::Column::ParentId.eq(t.id)).one(db).await?.is_some();
    if has_children {
        return Err(Error::invalid("parent_id", "this ticket is a parent incident itself and cannot become a child"));
    }
    Ok(())
}
