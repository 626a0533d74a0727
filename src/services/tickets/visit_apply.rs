//! A visit change carried out inside the ticket's change: the visit's row (proposed, booked, its
//! check-ins, the work, the signature), what it does to the arrival and resolution clocks, and
//! its log entry. The decision — who may, from which state, which clock — is the domain's
//! (`domain::ticket::decide`); this writes it.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::super::error::{Error, Result};
use super::super::timers::{self, Timer, secs, utc};
use super::log::Entry;
use super::work::Work;
use crate::domain::actor::Actor;
use crate::domain::sla::{Outcome, TimerKind};
use crate::domain::ticket::{Decision, VisitClock};
use crate::domain::visit::{self, Booking, Counted, VisitChange, VisitFacts, VisitState, VisitStep};
use crate::persistence::entities::{customer, engineer_block, ticket, user, visit as visit_row};

/// The states in which a visit holds its engineer's time.
pub const HOLDING: [VisitState; 4] =
    [VisitState::Booked, VisitState::EnRoute, VisitState::OnSite, VisitState::NoAccess];

/// The visit a step is for, as the decision needs it; 404 when the ticket has no such visit.
pub(crate) async fn load(
    work: &Work<'_>,
    t: &ticket::Model,
    change: &VisitChange,
) -> Result<Option<(visit_row::Model, VisitFacts)>> {
    let VisitChange::Step { visit_id, .. } = change else {
        return Ok(None);
    };
    let v = visit_row::Entity::find_by_id(*visit_id)
        .filter(visit_row::Column::TicketId.eq(t.id))
        .one(&work.txn)
        .await?
        .ok_or_else(|| Error::not_found("visit_not_found", "visit"))?;
    let others_open = visit_row::Entity::find()
        .filter(visit_row::Column::TicketId.eq(t.id))
        .filter(visit_row::Column::Id.ne(v.id))
        .filter(visit_row::Column::State.is_in([
            VisitState::Proposed,
            VisitState::Booked,
            VisitState::EnRoute,
            VisitState::OnSite,
            VisitState::NoAccess,
        ]))
        .one(&work.txn)
        .await?
        .is_some();
    let facts = VisitFacts {
        id: v.id,
        state: v.state,
        engineer_id: v.engineer_id,
        proposed_at: secs(v.created_at),
        others_open,
    };
    Ok(Some((v, facts)))
}

/// Whether a confirmation must wait for a signature: the setting is on, the ticket has visits
/// that were not cancelled, and none is signed.
pub(crate) async fn needs_signature(work: &Work<'_>, ticket_id: i64) -> Result<bool> {
    if !work.state.config.runtime.tickets.require_signed_visit {
        return Ok(false);
    }
    let visits = visit_row::Entity::find().filter(visit_row::Column::TicketId.eq(ticket_id)).all(&work.txn).await?;
    let live: Vec<_> = visits.iter().filter(|v| v.state != VisitState::Cancelled).collect();
    Ok(!live.is_empty() && live.iter().all(|v| v.state != VisitState::Signed))
}

/// Cancels the ticket's visits that are still to happen (proposed, booked, on the way, without
/// access): the ticket was cancelled. Visits on site or done stay as they are.
pub(crate) async fn cancel_open(work: &Work<'_>, ticket_id: i64, reason: &str) -> Result<()> {
    use sea_orm::sea_query::Expr;
    visit_row::Entity::update_many()
        .col_expr(visit_row::Column::State, Expr::value(VisitState::Cancelled.as_str()))
        .col_expr(visit_row::Column::CancelReason, Expr::value(format!("the ticket was cancelled: {reason}")))
        .col_expr(visit_row::Column::UpdatedAt, Expr::value(work.now))
        .filter(visit_row::Column::TicketId.eq(ticket_id))
        .filter(visit_row::Column::State.is_in([
            VisitState::Proposed,
            VisitState::Booked,
            VisitState::EnRoute,
            VisitState::NoAccess,
        ]))
        .exec(&work.txn)
        .await?;
    Ok(())
}

/// What a visit does to the clocks: the arrival timer starts, pauses, is met or ends; the
/// resolution timer shares the visit's pauses.
pub(crate) async fn clock(
    work: &mut Work<'_>,
    t: &ticket::Model,
    timers: &mut Vec<Timer>,
    c: &VisitClock,
    counted: Option<&Counted>,
) -> Result<()> {
    let now = secs(work.now);
    let visit_clocks = |tm: &Timer| matches!(tm.kind, TimerKind::Arrival | TimerKind::Resolution);
    match c {
        VisitClock::Nothing => {}
        VisitClock::StartArrival => {
            let current = timers.iter().find(|tm| tm.kind == TimerKind::Arrival);
            if current.is_some_and(|tm| tm.is_active() || tm.model.met_at.is_some()) {
                return Ok(());
            }
            let cycle = current.map_or(1, |tm| tm.model.cycle + 1);
            let cust = customer::Entity::find_by_id(t.customer_id)
                .one(&work.txn)
                .await?
                .ok_or_else(|| Error::Internal(format!("ticket {} names a missing customer", t.id)))?;
            let start = timers::Start { cycle, level: t.level, customer: &cust, at: now };
            let started = timers::start(work, t.id, &[TimerKind::Arrival], &start).await?;
            if !started.is_empty() {
                timers.retain(|tm| tm.kind != TimerKind::Arrival);
                timers.extend(started);
            }
        }
        VisitClock::Pause { reason, from, to } => {
            for tm in timers.iter_mut().filter(|tm| visit_clocks(tm)) {
                tm.pause_for(*reason, *from, *to, now)?;
            }
        }
        VisitClock::Resume { reason, at } => {
            for tm in timers.iter_mut().filter(|tm| visit_clocks(tm)) {
                tm.resume_for(*reason, *at, now)?;
            }
        }
        VisitClock::MeetArrival { at } => {
            for tm in timers.iter_mut().filter(|tm| tm.kind == TimerKind::Arrival) {
                tm.meet_at(*at, now, counted.map(met_note))?;
            }
        }
        VisitClock::Cancel { last_open } => {
            for tm in timers.iter_mut().filter(|tm| visit_clocks(tm)) {
                for reason in crate::domain::sla::PauseReason::ALL {
                    tm.cut_pauses(reason, now)?;
                }
                if *last_open && tm.kind == TimerKind::Arrival {
                    tm.end(Outcome::Cancelled, now)?;
                }
            }
        }
    }
    Ok(())
}

/// The arrival's explain line for a check-in counted by `counted`.
fn met_note(counted: &Counted) -> String {
    format!("met at the engineer's check-in, counted at {}", counted.why)
}

/// Writes the visit's row for the decided step; returns it.
pub(crate) async fn write(
    work: &Work<'_>,
    actor: &Actor,
    t: &ticket::Model,
    change: &VisitChange,
    loaded: Option<visit_row::Model>,
    decision: &Decision,
) -> Result<visit_row::Model> {
    let now = work.now;
    let (state, counted) =
        decision.visit.clone().ok_or_else(|| Error::Internal("a visit change decides the visit's state".into()))?;
    let (step, v) = match (change, loaded) {
        (VisitChange::Propose(n), _) => {
            return Ok(visit_row::ActiveModel {
                ticket_id: Set(t.id),
                state: Set(VisitState::Proposed),
                travel_secs: Set(0),
                site_address: Set(n.site_address.trim().to_string()),
                site_contact: Set(n.site_contact.trim().to_string()),
                site_phone: Set(n.site_phone.clone()),
                note: Set(n.note.clone()),
                parts: Set("[]".into()),
                clocks: Set("[]".into()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&work.txn)
            .await?);
        }
        (VisitChange::Step { step, .. }, Some(v)) => (step, v),
        (VisitChange::Step { .. }, None) => return Err(Error::not_found("visit_not_found", "visit")),
    };
    let mut am = v.clone().into_active_model();
    am.state = Set(state);
    am.updated_at = Set(now);
    let at = counted.as_ref().map_or(now, |c| utc(c.at));
    if let Some(c) = &counted {
        let mut clocks: Vec<Value> = serde_json::from_str(&v.clocks).unwrap_or_default();
        clocks.push(json!({
            "action": step.action(),
            "device_at": step.check_in().and_then(|c| c.device_at).map(utc),
            "server_at": now,
            "counted_at": utc(c.at),
            "clock": if c.device { "device" } else { "server" },
            "why": c.why,
        }));
        am.clocks = Set(Value::Array(clocks).to_string());
    }
    match step {
        VisitStep::Book(b) | VisitStep::Rebook(b) => {
            let clash = check_clash(work, actor, v.id, b).await?;
            am.engineer_id = Set(Some(b.engineer_id));
            am.window_start = Set(Some(utc(b.window.0)));
            am.window_end = Set(Some(utc(b.window.1)));
            am.offered_start = Set(Some(utc(b.offered_start)));
            am.chooser = Set(Some(b.chooser));
            am.travel_secs = Set(b.travel_secs);
            am.clash_override = Set(clash);
        }
        VisitStep::Depart(_) => am.departed_at = Set(Some(at)),
        VisitStep::Arrive(_) => am.arrived_at = Set(Some(at)),
        VisitStep::NoAccess(_) => {
            am.no_access_at = Set(Some(at));
            am.outcome = Set(Some(visit::VisitOutcome::NoAccess));
        }
        VisitStep::Complete { summary, parts, outcome, .. } => {
            am.completed_at = Set(Some(at));
            am.work_summary = Set(Some(summary.clone()));
            am.parts = Set(serde_json::to_string(parts).map_err(Error::internal)?);
            am.outcome = Set(Some(*outcome));
        }
        VisitStep::Sign { signer, image_png } => {
            am.signer_name = Set(Some(signer.trim().to_string()));
            am.signature_sha256 = Set(Some(hex::encode(Sha256::digest(image_png))));
            am.signature = Set(Some(image_png.clone()));
            am.signed_at = Set(Some(now));
        }
        VisitStep::Cancel { reason } => {
            am.cancel_reason = Set(Some(reason.clone()));
        }
    }
    Ok(am.update(&work.txn).await?)
}

/// Refuses a booking that overlaps the engineer's other visits (with travel) or their leave and
/// training, unless a lead overrides it; returns what the override booked over, for the record.
/// The engineer's row is locked first, so two bookings of one engineer are decided one at a time.
async fn check_clash(work: &Work<'_>, actor: &Actor, visit_id: i64, b: &Booking) -> Result<Option<String>> {
    let txn = &work.txn;
    // An update takes the row's lock until the transaction ends (SQLite has one writer anyway).
    let locked = user::Entity::update_many()
        .col_expr(user::Column::Id, sea_orm::sea_query::Expr::col(user::Column::Id))
        .filter(user::Column::Id.eq(b.engineer_id))
        .exec(txn)
        .await?;
    let engineer = user::Entity::find_by_id(b.engineer_id).one(txn).await?;
    match engineer {
        Some(u) if locked.rows_affected == 1 && u.active && u.field.is_some() => {}
        _ => {
            return Err(Error::invalid(
                "engineer_id",
                format!("no active field engineer with id {} (a user with `field` settings)", b.engineer_id),
            ));
        }
    }
    let mine = visit::blocked(b.window, b.travel_secs);
    let (from, to) = (utc(mine.0 - 86_400), utc(mine.1 + 86_400));
    let others = visit_row::Entity::find()
        .filter(visit_row::Column::EngineerId.eq(b.engineer_id))
        .filter(visit_row::Column::Id.ne(visit_id))
        .filter(visit_row::Column::State.is_in(HOLDING))
        .filter(visit_row::Column::WindowStart.lt(to))
        .filter(visit_row::Column::WindowEnd.gt(from))
        .all(txn)
        .await?;
    let mut clashes: Vec<String> = Vec::new();
    for o in &others {
        let (Some(s), Some(e)) = (o.window_start, o.window_end) else { continue };
        if visit::overlaps(mine, visit::blocked((secs(s), secs(e)), o.travel_secs)) {
            clashes.push(format!(
                "visit {} (ticket {}) from {} to {}",
                o.id,
                super::number_for(o.ticket_id),
                rfc(s),
                rfc(e)
            ));
        }
    }
    let blocks = engineer_block::Entity::find()
        .filter(engineer_block::Column::UserId.eq(b.engineer_id))
        .filter(engineer_block::Column::StartAt.lt(utc(mine.1)))
        .filter(engineer_block::Column::EndAt.gt(utc(mine.0)))
        .all(txn)
        .await?;
    for bl in &blocks {
        clashes.push(format!("{} {} from {} to {}", bl.kind, bl.id, rfc(bl.start_at), rfc(bl.end_at)));
    }
    if clashes.is_empty() {
        return Ok(None);
    }
    if !b.override_clash {
        return Err(Error::conflict(
            "engineer_booked",
            format!(
                "the engineer is not free then (travel included): {}; a lead may book over it with override_clash",
                clashes.join("; ")
            ),
        ));
    }
    Ok(Some(format!("booked by {} over {}", actor.name(), clashes.join("; "))))
}

fn rfc(t: DateTime<Utc>) -> String {
    crate::domain::sla::rfc3339(secs(t))
}

/// The log entry of a visit event: the visit, its state before and after, and what the step
/// carried.
pub(crate) fn entry(change: &VisitChange, before: Option<&visit_row::Model>, after: &visit_row::Model) -> Entry {
    let mut new = json!({"visit_id": after.id, "state": after.state});
    let old = before.map(|b| json!({"visit_id": b.id, "state": b.state}));
    let mut note = None;
    if let VisitChange::Step { step, .. } = change {
        match step {
            VisitStep::Book(b) | VisitStep::Rebook(b) => {
                new["engineer_id"] = json!(b.engineer_id);
                new["window_start"] = json!(utc(b.window.0));
                new["window_end"] = json!(utc(b.window.1));
                new["offered_start"] = json!(utc(b.offered_start));
                new["chosen_by"] = json!(b.chooser);
                if let Some(o) = &after.clash_override {
                    note = Some(o.clone());
                }
            }
            VisitStep::Cancel { reason } => note = Some(reason.clone()),
            VisitStep::Sign { .. } => {
                new["signer"] = json!(after.signer_name);
                new["signature_sha256"] = json!(after.signature_sha256);
            }
            _ => {}
        }
        if let Some(last) = serde_json::from_str::<Vec<Value>>(&after.clocks).ok().and_then(|mut c| c.pop())
            && step.check_in().is_some()
        {
            new["clock"] = last;
        }
    }
    Entry { old, new: Some(new), note }
}
