//! What a change does to a ticket: whether it may happen, the status it moves to, what happens to
//! the ticket's timers (docs/sla.md §2, §4–§6), what the ticket's log records, and which rules hear
//! of it. Pure: `services::tickets::change` loads the facts, asks [`decide`], and carries the
//! decision out in one transaction. A new kind of change is a new [`Change`] variant here.

use super::text::{line, text};
use serde_json::Value;

use super::{Action, Role, Status, Visibility};
use crate::domain::actor::Actor;
use crate::domain::calendar::Secs;
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::{Outcome, PauseReason, TimerKind};
use crate::domain::visit::{Counted, VisitChange, VisitFacts, VisitState};

use super::change_visit::{permit_visit, validate_visit, visit_decision};

/// Text fields: at most this many characters (README: API).
pub const MAX_TEXT: usize = 20_000;
/// Reasons given for waiting, reopening, cancelling and level changes.
pub const MAX_REASON: usize = 2_000;
/// Titles, including the public title the status page shows.
pub const MAX_TITLE: usize = 200;

/// A change to a ticket, with what it carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Respond {
        message: String,
    },
    Plan {
        plan: String,
    },
    WaitCustomer {
        reason: String,
    },
    Resume,
    Resolve {
        resolution: String,
    },
    Confirm,
    Close,
    Reopen {
        reason: String,
    },
    Cancel {
        reason: String,
    },
    Level {
        level: Level,
        reason: String,
    },
    /// `team`: `None` leaves the team, `Some(None)` clears it.
    Assign {
        assignee: Option<i64>,
        team: Option<Option<String>>,
    },
    Link {
        parent_id: Option<i64>,
    },
    Comment {
        body: String,
        visibility: Visibility,
    },
    Attach(Box<NewFile>),
    /// The title the public status page shows while the ticket is open; `None` clears it.
    PublicTitle {
        title: Option<String>,
    },
    /// On-site service: a visit proposed, or a step of one (README: On-site visits).
    Visit(Box<VisitChange>),
    /// The contact's satisfaction rating of the closed ticket (README: Satisfaction); `callback`
    /// (decided by [`crate::domain::rating::needs_callback`]) starts the follow-up call's timer.
    Rate {
        score: u8,
        comment: Option<String>,
        callback: bool,
    },
    /// Staff called the customer back about their rating: the callback timer is met.
    CallBack {
        note: String,
    },
    /// Something Opsline learnt about the ticket (an alert, a check, an acknowledgement), for its
    /// log; `comment` also adds an internal comment.
    Note {
        note: Note,
        detail: Value,
        comment: Option<String>,
    },
}

/// A file attached to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub filename: String,
    pub content_type: String,
    pub visibility: Visibility,
    pub data: Vec<u8>,
}

crate::text_enum! {
    /// What Opsline notes on a ticket without changing it.
    pub enum Note ("note") {
        AlertFiring = "alert_firing",
        AlertResolved = "alert_resolved",
        AlertAcknowledged = "alert_acknowledged",
        CheckFailed = "check_failed",
        CheckRecovered = "check_recovered",
        CheckFlapping = "check_flapping",
        EscalationAcknowledged = "escalation_acknowledged",
    }
}

crate::text_enum! {
    /// An entry of a ticket's log (`GET /api/v1/tickets/{id}/events`).
    pub enum Event ("ticket event") {
        Created = "created",
        Responded = "responded",
        Planned = "planned",
        WaitingCustomer = "waiting_customer",
        Resumed = "resumed",
        Resolved = "resolved",
        Confirmed = "confirmed",
        Closed = "closed",
        Reopened = "reopened",
        Cancelled = "cancelled",
        LevelChanged = "level_changed",
        Assigned = "assigned",
        Linked = "linked",
        Commented = "commented",
        AttachmentAdded = "attachment_added",
        PublicTitle = "public_title",
        AlertFiring = "alert_firing",
        AlertResolved = "alert_resolved",
        AlertAcknowledged = "alert_acknowledged",
        CheckFailed = "check_failed",
        CheckRecovered = "check_recovered",
        CheckFlapping = "check_flapping",
        EscalationAcknowledged = "escalation_acknowledged",
        /// A calendar change moved a deadline.
        SlaRecomputed = "sla_recomputed",
        VisitProposed = "visit_proposed",
        VisitBooked = "visit_booked",
        VisitEnRoute = "visit_en_route",
        VisitArrived = "visit_arrived",
        VisitNoAccess = "visit_no_access",
        VisitCompleted = "visit_completed",
        VisitSigned = "visit_signed",
        VisitRebooked = "visit_rebooked",
        VisitCancelled = "visit_cancelled",
        Rated = "rated",
        CalledBack = "called_back",
    }
}

impl Note {
    pub fn event(self) -> Event {
        match self {
            Note::AlertFiring => Event::AlertFiring,
            Note::AlertResolved => Event::AlertResolved,
            Note::AlertAcknowledged => Event::AlertAcknowledged,
            Note::CheckFailed => Event::CheckFailed,
            Note::CheckRecovered => Event::CheckRecovered,
            Note::CheckFlapping => Event::CheckFlapping,
            Note::EscalationAcknowledged => Event::EscalationAcknowledged,
        }
    }
}

/// What the decision needs to know about the ticket as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub status: Status,
    pub level: Level,
    /// Whether the response timer is met (a ticket waits for the customer only after it is).
    pub response_met: bool,
    /// Whether a closed ticket is still within `tickets.reopen_window`.
    pub reopen_ok: bool,
    /// The ticket has visits, none signed, and `tickets.require_signed_visit` is on.
    pub needs_signature: bool,
    /// The visit a visit step is for.
    pub visit: Option<VisitFacts>,
    /// The server's time, and how old a device's time may be (`visits.max_offline`).
    pub now: Secs,
    pub max_offline: Secs,
}

/// What happens to the ticket's timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerEffect {
    None,
    /// These timers are met now (late or in time).
    Meet(&'static [TimerKind]),
    /// Every running timer its policy pauses is paused (docs/sla.md §4).
    Pause,
    Resume,
    /// Unmet timers end with this outcome; breached ones stay breached (docs/sla.md §2).
    End(Outcome),
    /// Unmet, unbreached timers are re-targeted to the new level (docs/sla.md §5).
    Retarget {
        from: Level,
        to: Level,
    },
    /// A new cycle of the resolution timer starts now (docs/sla.md §6).
    NewResolutionCycle,
    /// What a visit does to the arrival (and resolution) clocks.
    Visit(VisitClock),
    /// A low (or a VIP's) rating: the callback timer starts, if the contract has one.
    StartCallback,
}

/// A visit's effect on the clocks (README: On-site visits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VisitClock {
    /// On-site service is asked for: the arrival timer starts, if the contract has one and the
    /// ticket's is not running or met already.
    StartArrival,
    /// The arrival and resolution timers pause for `reason` from `from` (until `to`, when known).
    Pause { reason: PauseReason, from: Secs, to: Option<Secs> },
    /// …and resume at `at`.
    Resume { reason: PauseReason, at: Secs },
    /// The engineer checked in: the arrival timer is met at `at`.
    MeetArrival { at: Secs },
    /// A visit cancelled: its customer window's pause is taken back from now on; the arrival
    /// timer ends `cancelled` when no other visit is open.
    Cancel { last_open: bool },
    /// A step that moves no clock (on my way, done, signed).
    Nothing,
}

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub status: Status,
    pub timers: TimerEffect,
    /// The ticket's log, in order.
    pub events: Vec<Event>,
    /// The rules that hear of it (`on = …`).
    pub announce: Option<On>,
    /// A visit step: the state the visit moves to, and the instant its check-in counts at.
    pub visit: Option<(VisitState, Option<Counted>)>,
}

/// Why a change cannot happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The actor may never make this change.
    Forbidden(String),
    /// Not in the ticket's status (409 with the actions that are possible).
    NotNow(String),
    /// A closed ticket past `tickets.reopen_window`.
    ReopenWindowPassed,
    /// Bad input: names the field.
    Invalid { field: &'static str, message: String },
    /// Not in the visit's state (409 with the visit actions that are possible).
    VisitNotNow { message: String, state: VisitState },
}

impl Change {
    /// The person's action this change is, if it is one.
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            Change::Respond { .. } => Action::Respond,
            Change::Plan { .. } => Action::Plan,
            Change::WaitCustomer { .. } => Action::WaitCustomer,
            Change::Resume => Action::Resume,
            Change::Resolve { .. } => Action::Resolve,
            Change::Confirm => Action::Confirm,
            Change::Close => Action::Close,
            Change::Reopen { .. } => Action::Reopen,
            Change::Cancel { .. } => Action::Cancel,
            Change::Level { .. } => Action::Level,
            Change::Assign { .. } => Action::Assign,
            Change::Link { .. } => Action::Link,
            Change::Comment { .. } => Action::Comment,
            Change::Attach(_) => Action::Attach,
            Change::PublicTitle { .. }
            | Change::Note { .. }
            | Change::Visit(_)
            | Change::Rate { .. }
            | Change::CallBack { .. } => return None,
        })
    }

    /// Checks what the change carries, before anything is read.
    pub fn validate(&self) -> Result<(), Refusal> {
        match self {
            Change::Respond { message } => text("message", message, MAX_TEXT),
            Change::Plan { plan } => text("plan", plan, MAX_TEXT),
            Change::Resolve { resolution } => text("resolution", resolution, MAX_TEXT),
            Change::Comment { body, .. } => text("body", body, MAX_TEXT),
            Change::WaitCustomer { reason }
            | Change::Reopen { reason }
            | Change::Cancel { reason }
            | Change::Level { reason, .. } => text("reason", reason, MAX_REASON),
            Change::PublicTitle { title: Some(t) } => line("public_title", t, MAX_TITLE),
            Change::Note { comment: Some(c), .. } => text("comment", c, MAX_TEXT),
            Change::Attach(f) if f.data.is_empty() => {
                Err(Refusal::Invalid { field: "file", message: "the file is empty".into() })
            }
            Change::Visit(v) => validate_visit(v),
            Change::Rate { score, comment, .. } => {
                if !(1..=5).contains(score) {
                    return Err(Refusal::Invalid { field: "score", message: "a score is 1 to 5".into() });
                }
                comment.as_ref().map_or(Ok(()), |c| text("comment", c, MAX_REASON))
            }
            Change::CallBack { note } => text("note", note, MAX_TEXT),
            _ => Ok(()),
        }
    }
}

/// Whether `actor` may make `change` to a ticket with these facts, and what it does.
pub fn decide(facts: Facts, actor: &Actor, change: &Change) -> Result<Decision, Refusal> {
    change.validate()?;
    permit(facts, actor, change)?;
    let status = facts.status;
    let keep = |timers: TimerEffect, event: Event, announce: Option<On>| Decision {
        status,
        timers,
        events: vec![event],
        announce,
        visit: None,
    };
    let to = |status: Status, timers: TimerEffect, event: Event, announce: Option<On>| Decision {
        status,
        timers,
        events: vec![event],
        announce,
        visit: None,
    };
    const RESPONSE: &[TimerKind] = &[TimerKind::Response];
    const RESPONSE_AND_PLAN: &[TimerKind] = &[TimerKind::Response, TimerKind::Plan];
    Ok(match change {
        Change::Respond { .. } => {
            to(Status::InProgress, TimerEffect::Meet(RESPONSE), Event::Responded, Some(On::Responded))
        }
        Change::Plan { .. } => {
            to(Status::InProgress, TimerEffect::Meet(RESPONSE_AND_PLAN), Event::Planned, Some(On::Planned))
        }
        Change::WaitCustomer { .. } => {
            if !facts.response_met {
                return Err(Refusal::NotNow(
                    "the ticket can wait for the customer only after the response is met".into(),
                ));
            }
            to(Status::WaitingCustomer, TimerEffect::Pause, Event::WaitingCustomer, None)
        }
        // Only Opsline's own resume (after `tickets.max_wait`) tells the rules: the assignee
        // learns the ticket is theirs again.
        Change::Resume => {
            to(Status::InProgress, TimerEffect::Resume, Event::Resumed, actor.is_system().then_some(On::Resumed))
        }
        Change::Resolve { .. } => {
            // A person's resolve meets every timer; Opsline's (a check recovered, an alert
            // resolved) meets none: they end auto-resolved (docs/sla.md §2).
            let timers = if actor.is_system() {
                TimerEffect::End(Outcome::AutoResolved)
            } else {
                TimerEffect::Meet(&TimerKind::TICKET)
            };
            to(Status::Resolved, timers, Event::Resolved, Some(On::Resolved))
        }
        Change::Confirm if facts.needs_signature => {
            return Err(Refusal::NotNow(
                "the ticket is confirmed once the customer has signed a visit's work order (tickets.require_signed_visit)"
                    .into(),
            ));
        }
        Change::Confirm => to(Status::Closed, TimerEffect::None, Event::Confirmed, Some(On::Closed)),
        Change::Close => to(Status::Closed, TimerEffect::None, Event::Closed, Some(On::Closed)),
        Change::Reopen { .. } => {
            to(Status::InProgress, TimerEffect::NewResolutionCycle, Event::Reopened, Some(On::Reopened))
        }
        Change::Cancel { .. } => to(Status::Cancelled, TimerEffect::End(Outcome::Cancelled), Event::Cancelled, None),
        Change::Level { level, .. } => {
            if *level == facts.level {
                return Err(Refusal::Invalid {
                    field: "level",
                    message: format!("the ticket is already level {}", facts.level),
                });
            }
            let timers = TimerEffect::Retarget { from: facts.level, to: *level };
            keep(timers, Event::LevelChanged, Some(On::LevelChanged))
        }
        Change::Assign { .. } => keep(TimerEffect::None, Event::Assigned, None),
        Change::Link { .. } => keep(TimerEffect::None, Event::Linked, None),
        Change::Comment { visibility, .. } => comment(facts, actor, *visibility),
        Change::Attach(_) => keep(TimerEffect::None, Event::AttachmentAdded, None),
        Change::PublicTitle { .. } => keep(TimerEffect::None, Event::PublicTitle, None),
        Change::Note { note, .. } => {
            let announce = (*note == Note::CheckFlapping).then_some(On::Flapping);
            keep(TimerEffect::None, note.event(), announce)
        }
        Change::Visit(v) => visit_decision(facts, actor, v)?,
        Change::Rate { callback, .. } => {
            let timers = if *callback { TimerEffect::StartCallback } else { TimerEffect::None };
            keep(timers, Event::Rated, None)
        }
        Change::CallBack { .. } => keep(TimerEffect::Meet(&[TimerKind::Callback]), Event::CalledBack, None),
    })
}

/// A staff public comment meets the response (and starts work on an open ticket); a contact's
/// public comment resumes a ticket waiting for them (docs/sla.md §2, §4).
fn comment(facts: Facts, actor: &Actor, visibility: Visibility) -> Decision {
    let public = visibility == Visibility::Public;
    let (status, timers, mut events) = match actor {
        Actor::Staff { .. } if public => {
            let status = if facts.status == Status::Open { Status::InProgress } else { facts.status };
            (status, TimerEffect::Meet(&[TimerKind::Response]), vec![])
        }
        Actor::Contact { .. } if facts.status == Status::WaitingCustomer => {
            (Status::InProgress, TimerEffect::Resume, vec![Event::Resumed])
        }
        _ => (facts.status, TimerEffect::None, vec![]),
    };
    events.push(Event::Commented);
    Decision { status, timers, events, announce: None, visit: None }
}

/// Who may make the change, from which status.
fn permit(facts: Facts, actor: &Actor, change: &Change) -> Result<(), Refusal> {
    let status = facts.status;
    let Some(action) = change.action() else {
        return match change {
            Change::Visit(v) => permit_visit(facts, actor, v),
            Change::PublicTitle { .. } => match actor {
                Actor::Staff { role, .. } if *role >= Role::Engineer => Ok(()),
                _ => Err(Refusal::Forbidden("the public title needs the engineer role or higher".into())),
            },
            Change::Rate { .. } if !actor.is_contact() => {
                Err(Refusal::Forbidden("the customer's contact rates a ticket".into()))
            }
            Change::Rate { .. } if status != Status::Closed => {
                Err(Refusal::NotNow(format!("a ticket is rated once it is closed; it is {status}")))
            }
            Change::Rate { .. } => Ok(()),
            Change::CallBack { .. } => match actor {
                Actor::Staff { role, .. } if *role >= Role::Engineer => Ok(()),
                _ => Err(Refusal::Forbidden("logging a callback needs the engineer role or higher".into())),
            },
            _ if actor.is_contact() => Err(Refusal::Forbidden("customers cannot add notes to a ticket".into())),
            _ => Ok(()),
        };
    };
    if !action.permitted(actor) {
        return Err(Refusal::Forbidden(match actor {
            Actor::Staff { role, .. } => format!("`{action}` is not allowed for the {role} role"),
            Actor::Contact { .. } => format!("customers cannot `{action}` a ticket"),
            Actor::System { .. } => format!("Opsline itself does not `{action}` a ticket"),
        }));
    }
    if actor.is_contact() {
        let internal = match change {
            Change::Comment { visibility, .. } => *visibility == Visibility::Internal,
            Change::Attach(f) => f.visibility == Visibility::Internal,
            _ => false,
        };
        if internal {
            let message = "customers add public comments and attachments only".into();
            return Err(Refusal::Invalid { field: "visibility", message });
        }
    }
    if !action.allowed_from(status) {
        return Err(Refusal::NotNow(match action {
            Action::Comment => format!("comments are closed: the ticket is {status}"),
            Action::Attach => format!("attachments are closed: the ticket is {status}"),
            _ => format!("`{action}` is not possible while the ticket is {status}"),
        }));
    }
    if action == Action::Reopen && status == Status::Closed && !facts.reopen_ok {
        return Err(Refusal::ReopenWindowPassed);
    }
    Ok(())
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
