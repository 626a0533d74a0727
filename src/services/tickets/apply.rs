//! Carrying a decision out on one ticket, inside the change's transaction: the timer effects,
//! what the change carries (a comment, a file, a field), the status and its timestamps, the
//! version-guarded save, the log and the rules. Used by the change path for the ticket and for
//! each child it copies to.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, Update,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs};
use super::change::{Changed, current_timers, facts, refusal};
use super::log::{self, Entry};
use super::timer_effects::{Moved, carry_out};
use super::visit_apply;
use super::work::Work;
use crate::domain::actor::Actor;
use crate::domain::sla::{Outcome, TimerKind};
use crate::domain::ticket::{Change, Decision, Event, NewFile, Status, Visibility, decide};
use crate::persistence::entities::{attachment, comment, customer, team, ticket, user, visit};

pub(crate) enum Applied {
    Saved(Box<Changed>),
    /// The ticket is no longer the version loaded.
    Stale,
}

/// Applies `change` to `t` (loaded in this transaction); `copied_from` names the parent a
/// copied change came from.
pub(crate) async fn apply(
    work: &mut Work<'_>,
    actor: &Actor,
    t: ticket::Model,
    change: &Change,
    copied_from: Option<i64>,
) -> Result<Applied> {
    let mut timers = current_timers(work, t.id).await?;
    let mut facts = facts(work.state, &t, &timers, work.now);
    let loaded = match change {
        Change::Visit(v) => visit_apply::load(work, &t, v).await?,
        _ => None,
    };
    facts.visit = loaded.as_ref().map(|(_, f)| *f);
    if matches!(change, Change::Confirm) {
        facts.needs_signature = visit_apply::needs_signature(work, t.id).await?;
    }
    let decision = decide(facts, actor, change).map_err(|r| refusal(r, Some(facts), actor, work.state))?;
    let record_only = matches!(change, Change::Note { .. });
    let moved = carry_out(work, &t, &mut timers, &decision).await?;
    if let Change::Cancel { reason } = change {
        // A cancelled ticket needs nobody on site: its open visits are cancelled with it.
        visit_apply::cancel_open(work, t.id, reason).await?;
    }
    if decision.status == Status::Resolved && t.status != Status::Resolved {
        // Resolved without anyone on site: the arrival no longer applies.
        for tm in timers.iter_mut().filter(|tm| tm.kind == TimerKind::Arrival) {
            tm.end(Outcome::Cancelled, secs(work.now))?;
        }
    }
    let before_visit = loaded.map(|(v, _)| v);
    let visit = match change {
        Change::Visit(v) => Some(visit_apply::write(work, actor, &t, v, before_visit.clone(), &decision).await?),
        _ => None,
    };
    let mut am = t.clone().into_active_model();
    let (comment, attachment) = write_content(work, actor, &t, &mut am, change).await?;
    stamp(&mut am, t.status, decision.status, work.now);
    let after = if record_only {
        t.clone()
    } else {
        match save(work, am, &t, &mut timers).await? {
            Some(after) => after,
            None => return Ok(Applied::Stale),
        }
    };
    let ctx = EntryContext {
        before: &t,
        decision: &decision,
        moved: &moved,
        copied_from,
        comment: comment.as_ref(),
        attachment: attachment.as_ref(),
        visit: visit.as_ref().map(|v| (before_visit.as_ref(), v)),
    };
    for event in &decision.events {
        let entry = entry(work, actor, *event, change, &ctx);
        log::write(&work.txn, t.id, actor, *event, entry, work.now).await?;
    }
    if decision.status == Status::Closed && t.status != Status::Closed {
        crate::services::ratings::ask(work, &after, &timers).await?;
    }
    if let (Change::Resolve { resolution }, false) = (change, record_only) {
        let cited = crate::services::kb::events::cited_by_resolution(&work.txn, actor, after.id, resolution, work.now);
        for _ in 0..cited.await? {
            work.tally.push(crate::metrics::Fact::Knowledge(crate::domain::kb::KbOutcome::SolvedBy));
        }
    }
    if let Some(on) = decision.announce {
        crate::services::escalation::announce(work, on, &after).await?;
    }
    Ok(Applied::Saved(Box::new(Changed { ticket: after, comment, attachment, visit })))
}

/// Writes what the change carries: a comment or file row, or the ticket's fields.
async fn write_content(
    work: &Work<'_>,
    actor: &Actor,
    t: &ticket::Model,
    am: &mut ticket::ActiveModel,
    change: &Change,
) -> Result<(Option<comment::Model>, Option<attachment::Model>)> {
    let (txn, now) = (&work.txn, work.now);
    let mut comment = None;
    match change {
        Change::Respond { message } => {
            comment = Some(super::comments::insert(txn, t.id, actor, message, Visibility::Public, now).await?)
        }
        Change::Comment { body, visibility } => {
            comment = Some(super::comments::insert(txn, t.id, actor, body, *visibility, now).await?)
        }
        Change::Note { comment: Some(body), .. } if !t.status.is_final() => {
            comment = Some(super::comments::insert(txn, t.id, actor, body, Visibility::Internal, now).await?)
        }
        Change::CallBack { note } => {
            comment = Some(super::comments::insert(txn, t.id, actor, note, Visibility::Internal, now).await?)
        }
        Change::Plan { plan } => am.plan = Set(Some(plan.clone())),
        Change::Resolve { resolution } => am.resolution = Set(Some(resolution.clone())),
        Change::Level { level, .. } => {
            am.level = Set(*level);
            am.level_source = Set("manual".into());
        }
        Change::Assign { assignee, team } => assign(work, am, *assignee, team.as_ref()).await?,
        Change::Link { parent_id } => {
            if let Some(pid) = parent_id {
                check_parent(work, t, *pid).await?;
            }
            am.parent_id = Set(*parent_id);
        }
        Change::PublicTitle { title } => am.public_title = Set(title.clone()),
        Change::Attach(file) => return Ok((None, Some(attach(work, actor, t.id, file).await?))),
        _ => {}
    }
    Ok((comment, None))
}

async fn assign(
    work: &Work<'_>,
    am: &mut ticket::ActiveModel,
    assignee: Option<i64>,
    team_name: Option<&Option<String>>,
) -> Result<()> {
    if let Some(uid) = assignee {
        let u = user::Entity::find_by_id(uid).one(&work.txn).await?;
        if u.is_none_or(|u| !u.active) {
            return Err(Error::invalid("assignee", format!("no active user with id {uid}")));
        }
    }
    am.assignee_id = Set(assignee);
    if let Some(name) = team_name {
        am.team_id = Set(match name {
            Some(name) => Some(
                team::Entity::find()
                    .filter(team::Column::Name.eq(name))
                    .one(&work.txn)
                    .await?
                    .ok_or_else(|| Error::invalid("team", format!("no team named `{name}`")))?
                    .id,
            ),
            None => None,
        });
    }
    Ok(())
}

async fn check_parent(work: &Work<'_>, t: &ticket::Model, parent_id: i64) -> Result<()> {
    if parent_id == t.id {
        return Err(Error::invalid("parent_id", "a ticket cannot be its own parent"));
    }
    let parent = ticket::Entity::find_by_id(parent_id)
        .one(&work.txn)
        .await?
        .ok_or_else(|| Error::invalid("parent_id", format!("no ticket with id {parent_id}")))?;
    if parent.parent_id.is_some() {
        return Err(Error::invalid(
            "parent_id",
            format!("{} is itself linked to a parent; link to that incident instead", parent.number),
        ));
    }
    let has_children = ticket::Entity::find().filter(ticket::Column::ParentId.eq(t.id)).one(&work.txn).await?.is_some();
    if has_children {
        return Err(Error::invalid("parent_id", "this ticket is a parent incident itself and cannot become a child"));
    }
    Ok(())
}

async fn attach(work: &Work<'_>, actor: &Actor, ticket_id: i64, f: &NewFile) -> Result<attachment::Model> {
    let max = work.state.config.settings.attachments.max_bytes;
    if f.data.len() as u64 > max {
        return Err(Error::Invalid {
            code: "payload_too_large",
            field: Some("file".into()),
            message: format!("attachments are at most {max} bytes"),
        });
    }
    Ok(attachment::ActiveModel {
        ticket_id: Set(ticket_id),
        filename: Set(super::attachments::clean_filename(&f.filename)),
        content_type: Set(super::attachments::clean_content_type(&f.content_type)),
        size_bytes: Set(f.data.len() as i64),
        sha256: Set(hex::encode(Sha256::digest(&f.data))),
        visibility: Set(f.visibility),
        data: Set(f.data.clone()),
        uploader_kind: Set(actor.kind()),
        uploader_user_id: Set(actor.user_id()),
        uploader_contact_id: Set(actor.contact_id()),
        uploader_name: Set(actor.name().to_string()),
        created_at: Set(work.now),
        ..Default::default()
    }
    .insert(&work.txn)
    .await?)
}

/// The timestamps a status move sets or clears.
fn stamp(am: &mut ticket::ActiveModel, from: Status, to: Status, now: DateTime<Utc>) {
    if from == to {
        return;
    }
    am.status = Set(to);
    match to {
        Status::WaitingCustomer => am.waiting_since = Set(Some(now)),
        Status::Resolved => {
            am.resolved_at = Set(Some(now));
            am.waiting_since = Set(None);
        }
        Status::Closed => am.closed_at = Set(Some(now)),
        Status::InProgress if matches!(from, Status::Resolved | Status::Closed) => {
            am.resolved_at = Set(None);
            am.closed_at = Set(None);
        }
        _ => {}
    }
    if from == Status::WaitingCustomer && to != Status::Resolved {
        am.waiting_since = Set(None);
    }
}

/// Writes the ticket if it is still the version loaded — with its urgency, from its timers —
/// then the timers and the change to the open-ticket counts. `None` when it is not.
async fn save(
    work: &mut Work<'_>,
    mut am: ticket::ActiveModel,
    before: &ticket::Model,
    timers: &mut [Timer],
) -> Result<Option<ticket::Model>> {
    let now = work.now;
    let (bucket, key, breached_now) = timers::urgency(timers, secs(now));
    am.urgency_bucket = Set(bucket);
    am.urgency_key = Set(key);
    // A breach is permanent: once any cycle breached, the ticket stays breached.
    am.breached = Set(before.breached || breached_now || timers.iter().any(|tm| tm.model.breached));
    am.version = Set(before.version + 1);
    am.updated_at = Set(now);
    let updated = Update::one(am).validate()?.filter(ticket::Column::Version.eq(before.version)).exec(&work.txn).await;
    let after = match updated {
        Ok(after) => after,
        Err(DbErr::RecordNotUpdated) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    work.written(&after, false);
    // The ticket gauges follow a change of level or status by the database's trigger.
    let mut tier = None;
    for tm in timers.iter_mut() {
        if tm.save(&work.txn, now).await? {
            work.scheduled(tm.model.next_fire_at);
        }
        if tm.has_facts() {
            let tier = match tier {
                Some(t) => t,
                None => *tier.insert(tier_of(work, before.customer_id).await?),
            };
            tm.take_facts(tier, &mut work.tally);
        }
    }
    Ok(Some(after))
}

async fn tier_of(work: &Work<'_>, customer_id: i64) -> Result<crate::domain::customer::Tier> {
    customer::Entity::find_by_id(customer_id)
        .one(&work.txn)
        .await?
        .map(|c| c.tier)
        .ok_or_else(|| Error::Internal(format!("customer {customer_id} of a ticket does not exist")))
}

/// What the log entry of an event needs besides the change.
struct EntryContext<'a> {
    before: &'a ticket::Model,
    decision: &'a Decision,
    moved: &'a Moved,
    copied_from: Option<i64>,
    comment: Option<&'a comment::Model>,
    attachment: Option<&'a attachment::Model>,
    /// A visit before and after its change.
    visit: Option<(Option<&'a visit::Model>, &'a visit::Model)>,
}

/// The log entry of `event`: what it was before, after, and why.
fn entry(work: &Work<'_>, actor: &Actor, event: Event, change: &Change, c: &EntryContext<'_>) -> Entry {
    if let Change::Note { detail, .. } = change {
        return Entry { new: Some(detail.clone()), ..Default::default() };
    }
    if let (Change::Visit(v), Some((before, after))) = (change, c.visit) {
        return visit_apply::entry(v, before, after);
    }
    match change {
        Change::Rate { score, comment, callback } => {
            let new = json!({"score": score, "callback": callback});
            return Entry { new: Some(new), note: comment.clone(), ..Default::default() };
        }
        Change::CallBack { note } => return Entry { note: Some(note.clone()), ..Default::default() },
        _ => {}
    }
    match event {
        Event::Responded
        | Event::Planned
        | Event::LevelChanged
        | Event::Assigned
        | Event::Linked
        | Event::AttachmentAdded
        | Event::PublicTitle => content_entry(event, change, c),
        _ => transition_entry(work, actor, event, change, c),
    }
}

/// Entries of status moves: waiting, resuming, resolving, closing, reopening, cancelling.
fn transition_entry(work: &Work<'_>, actor: &Actor, event: Event, change: &Change, c: &EntryContext<'_>) -> Entry {
    let settings = &work.state.config.settings.tickets;
    let (before, to) = (c.before, c.decision.status);
    let status = |s: Status| Some(json!({ "status": s }));
    match (event, change) {
        (Event::WaitingCustomer, Change::WaitCustomer { reason }) => {
            Entry { new: status(to), note: Some(reason.clone()), ..Default::default() }
        }
        (Event::Resumed, Change::Comment { .. }) => {
            Entry { new: Some(json!({"status": to, "by": "customer comment"})), ..Default::default() }
        }
        (Event::Resumed, _) if actor.is_system() => Entry {
            old: status(before.status),
            new: status(to),
            note: Some(format!("waited {} for the customer (tickets.max_wait)", settings.max_wait)),
        },
        (Event::Resumed, _) => Entry { new: status(to), ..Default::default() },
        (Event::Resolved, Change::Resolve { resolution }) => {
            let mut new = json!({"resolution": resolution});
            if actor.is_system() {
                new["by"] = json!(actor.name());
            }
            if let Some(parent) = c.copied_from {
                new["copied_from"] = json!(parent);
            }
            Entry { new: Some(new), ..Default::default() }
        }
        (Event::Closed, _) if actor.is_system() => Entry {
            old: status(before.status),
            new: status(to),
            note: Some(format!(
                "resolved for {} without confirmation (tickets.auto_close_after)",
                settings.auto_close_after
            )),
        },
        (Event::Confirmed | Event::Closed, _) => Entry { new: status(to), ..Default::default() },
        (Event::Reopened, Change::Reopen { reason }) => {
            let (cycle, due) = c.moved.cycle.unwrap_or_default();
            Entry {
                old: status(before.status),
                new: Some(json!({"status": to, "resolution_cycle": cycle, "due": due})),
                note: Some(reason.clone()),
            }
        }
        (Event::Cancelled, Change::Cancel { reason }) => {
            Entry { old: status(before.status), note: Some(reason.clone()), ..Default::default() }
        }
        (Event::Commented, Change::Comment { visibility, .. }) => Entry {
            new: Some(json!({"comment_id": c.comment.map(|m| m.id), "visibility": visibility})),
            ..Default::default()
        },
        _ => Entry::default(),
    }
}

/// Entries of what a change carries: a message, a plan, a level, an assignee, a link, a file, a
/// public title.
fn content_entry(event: Event, change: &Change, c: &EntryContext<'_>) -> Entry {
    let before = c.before;
    match (event, change) {
        (Event::Responded, Change::Respond { message }) => Entry { new: Some(json!({"message": message})), ..Default::default() },
        (Event::Planned, Change::Plan { plan }) => Entry {
            old: before.plan.as_ref().map(|p| json!({"plan": p})),
            new: Some(json!({"plan": plan})),
            note: None,
        },
        (Event::LevelChanged, Change::Level { level, reason }) => {
            let (old_timers, new_timers) = c.moved.retargeted.clone().unwrap_or_default();
            Entry {
                old: Some(json!({"level": before.level, "timers": old_timers})),
                new: Some(json!({"level": level, "timers": new_timers})),
                note: Some(reason.clone()),
            }
        }
        (Event::Assigned, Change::Assign { assignee, team }) => Entry {
            old: Some(json!({"assignee": before.assignee_id, "team_id": before.team_id})),
            new: Some(json!({"assignee": assignee, "team": team})),
            note: None,
        },
        (Event::Linked, Change::Link { parent_id }) => Entry {
            old: Some(json!({"parent_id": before.parent_id})),
            new: Some(json!({"parent_id": parent_id})),
            note: None,
        },
        (Event::AttachmentAdded, Change::Attach(_)) => Entry {
            new: c.attachment.map(|a| {
                json!({"attachment_id": a.id, "filename": a.filename, "sha256": a.sha256, "visibility": a.visibility})
            }),
            ..Default::default()
        },
        (Event::PublicTitle, Change::PublicTitle { title }) => Entry {
            old: Some(json!({"public_title": before.public_title})),
            new: Some(json!({"public_title": title})),
            note: None,
        },
        _ => Entry::default(),
    }
}
