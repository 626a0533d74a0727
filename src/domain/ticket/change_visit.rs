//! What a visit change does to a ticket's clocks, who may take each step, and the shapes of what
//! a visit change carries (README: On-site visits). Part of the decision in [`super::change`].

use super::Role;
use super::change::{Decision, Event, Facts, MAX_REASON, MAX_TEXT, MAX_TITLE, Refusal, TimerEffect, VisitClock};
use super::text::{line, text};
use crate::domain::actor::Actor;
use crate::domain::escalation::On;
use crate::domain::sla::PauseReason;
use crate::domain::visit::{self, Counted, VisitAction, VisitChange, VisitState, VisitStep, WindowChooser};

/// What a visit change does; the ticket's status stays.
pub(super) fn visit_decision(facts: Facts, actor: &Actor, change: &VisitChange) -> Result<Decision, Refusal> {
    let decision =
        |timers: VisitClock, event: Event, announce: Option<On>, visit: Option<(VisitState, Option<Counted>)>| {
            Decision { status: facts.status, timers: TimerEffect::Visit(timers), events: vec![event], announce, visit }
        };
    let (visit_facts, step) = match change {
        VisitChange::Propose(_) => {
            return Ok(decision(
                VisitClock::StartArrival,
                Event::VisitProposed,
                None,
                Some((VisitState::Proposed, None)),
            ));
        }
        VisitChange::Step { step, .. } => match facts.visit {
            Some(v) => (v, step),
            None => return Err(Refusal::Invalid { field: "visit", message: "no such visit on this ticket".into() }),
        },
    };
    let action = step.action();
    let Some(next) = action.next(visit_facts.state) else {
        return Err(Refusal::VisitNotNow {
            message: format!("`{action}` is not possible while the visit is {}", visit_facts.state),
            state: visit_facts.state,
        });
    };
    let own_engineer = matches!(actor, Actor::Staff { user_id, .. } if Some(*user_id) == visit_facts.engineer_id);
    let counted = step
        .check_in()
        .map(|c| visit::counted_at(c.device_at, own_engineer, facts.now, facts.max_offline, visit_facts.proposed_at));
    let at = counted.as_ref().map_or(facts.now, |c| c.at);
    let with = |state| Some((state, counted.clone()));
    Ok(match step {
        VisitStep::Book(b) | VisitStep::Rebook(b) => {
            let clock = match action {
                VisitAction::Rebook => VisitClock::Resume { reason: PauseReason::SiteNoAccess, at: b.window.0 },
                _ => match visit::customer_window_pause(b.offered_start, b.window.0, b.chooser) {
                    Some((from, to)) => VisitClock::Pause { reason: PauseReason::CustomerWindow, from, to: Some(to) },
                    None => VisitClock::Nothing,
                },
            };
            let event = if action == VisitAction::Rebook { Event::VisitRebooked } else { Event::VisitBooked };
            decision(clock, event, None, with(next))
        }
        VisitStep::Depart(_) => decision(VisitClock::Nothing, Event::VisitEnRoute, Some(On::EnRoute), with(next)),
        VisitStep::Arrive(_) => decision(VisitClock::MeetArrival { at }, Event::VisitArrived, None, with(next)),
        VisitStep::NoAccess(_) => {
            let clock = VisitClock::Pause { reason: PauseReason::SiteNoAccess, from: at, to: None };
            decision(clock, Event::VisitNoAccess, None, with(next))
        }
        VisitStep::Complete { .. } => decision(VisitClock::Nothing, Event::VisitCompleted, None, with(next)),
        VisitStep::Sign { .. } => decision(VisitClock::Nothing, Event::VisitSigned, None, with(next)),
        VisitStep::Cancel { .. } => decision(
            VisitClock::Cancel { last_open: !visit_facts.others_open },
            Event::VisitCancelled,
            None,
            with(next),
        ),
    })
}

/// Who may take a visit step: dispatching needs the engineer role or higher (overriding a double
/// booking, a lead); checking in and out, the visit's own engineer; signing, the customer's
/// contact or the customer on the engineer's screen.
pub(super) fn permit_visit(facts: Facts, actor: &Actor, change: &VisitChange) -> Result<(), Refusal> {
    let role = actor.role();
    let dispatcher = role.is_some_and(|r| r >= Role::Engineer);
    let open = !facts.status.is_final();
    let step = match change {
        VisitChange::Propose(_) => {
            if !dispatcher {
                return Err(Refusal::Forbidden("asking for on-site service needs the engineer role or higher".into()));
            }
            if !open {
                return Err(Refusal::NotNow(format!(
                    "a visit cannot be proposed while the ticket is {}",
                    facts.status
                )));
            }
            return Ok(());
        }
        VisitChange::Step { step, .. } => step,
    };
    let engineer = facts.visit.and_then(|v| v.engineer_id);
    let own = matches!(actor, Actor::Staff { user_id, .. } if Some(*user_id) == engineer);
    match step.action().party() {
        visit::Party::Dispatcher => {
            if !dispatcher {
                return Err(Refusal::Forbidden(format!(
                    "`{}` a visit needs the engineer role or higher",
                    step.action()
                )));
            }
            if let VisitStep::Book(b) | VisitStep::Rebook(b) = step {
                if b.override_clash && role.is_none_or(|r| r < Role::Lead) {
                    return Err(Refusal::Forbidden("booking over another visit needs the lead role or higher".into()));
                }
                if !open {
                    return Err(Refusal::NotNow(format!(
                        "a visit cannot be booked while the ticket is {}",
                        facts.status
                    )));
                }
            }
        }
        visit::Party::Engineer if !own => {
            return Err(Refusal::Forbidden(format!("only the visit's engineer may `{}` it", step.action())));
        }
        visit::Party::Engineer => {}
        visit::Party::Customer if !(own || actor.is_contact()) => {
            return Err(Refusal::Forbidden(
                "the customer signs: through their contact's link or on the engineer's screen".into(),
            ));
        }
        visit::Party::Customer => {}
    }
    Ok(())
}

/// The lengths and shapes of what a visit change carries.
pub(super) fn validate_visit(v: &VisitChange) -> Result<(), Refusal> {
    let invalid = |field: &'static str, message: &str| Err(Refusal::Invalid { field, message: message.into() });
    match v {
        VisitChange::Propose(n) => {
            line("site_address", &n.site_address, 500)?;
            line("site_contact", &n.site_contact, MAX_TITLE)?;
            if let Some(p) = &n.site_phone {
                line("site_phone", p, 50)?;
            }
            if let Some(note) = &n.note {
                text("note", note, MAX_TEXT)?;
            }
            Ok(())
        }
        VisitChange::Step { step, .. } => match step {
            VisitStep::Book(b) | VisitStep::Rebook(b) => {
                if b.window.1 <= b.window.0 {
                    return invalid("window_end", "the window ends after it starts");
                }
                if b.window.1 - b.window.0 > 24 * 3600 {
                    return invalid("window_end", "a window is at most 24 hours long");
                }
                if !(0..=12 * 3600).contains(&b.travel_secs) {
                    return invalid("travel_minutes", "travel is between 0 and 720 minutes each way");
                }
                if b.chooser == WindowChooser::Customer && b.offered_start > b.window.0 + 366 * 86_400 {
                    return invalid("offered_start", "the offered start is more than a year after the window");
                }
                Ok(())
            }
            VisitStep::Complete { summary, parts, .. } => {
                text("work_summary", summary, MAX_TEXT)?;
                if parts.len() > 100 {
                    return invalid("parts", "at most 100 parts");
                }
                for p in parts {
                    line("parts", &p.name, MAX_TITLE)?;
                    if p.quantity == 0 {
                        return invalid("parts", "a part's quantity is at least 1");
                    }
                }
                Ok(())
            }
            VisitStep::Sign { signer, image_png } => {
                line("signer", signer, MAX_TITLE)?;
                if !image_png.starts_with(b"\x89PNG\r\n\x1a\n") {
                    return invalid("signature", "the signature is a PNG image");
                }
                if image_png.len() > 512 * 1024 {
                    return invalid("signature", "the signature image is at most 512 KiB");
                }
                Ok(())
            }
            VisitStep::Cancel { reason } => text("reason", reason, MAX_REASON),
            _ => Ok(()),
        },
    }
}
