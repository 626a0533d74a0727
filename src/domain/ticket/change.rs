//! What a change does to a ticket: whether it may happen, the status it moves to, what happens to
//! the ticket's timers (docs/sla.md §2, §4–§6), what the ticket's log records, and which rules hear
//! of it. Pure: `services::tickets::change` loads the facts, asks [`decide`], and carries the
//! decision out in one transaction. A new kind of change is a new [`Change`] variant here.

use super::text::{line, text};
use serde_json::Value;

use super::{Action, Role, Status, Visibility};
use crate::domain::actor::Actor;
use crate::domain::escalation::On;
use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind};

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
            Change::PublicTitle { .. } | Change::Note { .. } => return None,
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
    };
    let to = |status: Status, timers: TimerEffect, event: Event, announce: Option<On>| Decision {
        status,
        timers,
        events: vec![event],
        announce,
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
                TimerEffect::Meet(&TimerKind::ALL)
            };
            to(Status::Resolved, timers, Event::Resolved, Some(On::Resolved))
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
    Decision { status, timers, events, announce: None }
}

/// Who may make the change, from which status.
fn permit(facts: Facts, actor: &Actor, change: &Change) -> Result<(), Refusal> {
    let status = facts.status;
    let Some(action) = change.action() else {
        return match change {
            Change::PublicTitle { .. } => match actor {
                Actor::Staff { role, .. } if *role >= Role::Engineer => Ok(()),
                _ => Err(Refusal::Forbidden("the public title needs the engineer role or higher".into())),
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
mod tests {
    use super::super::tests::{contact, staff};
    use super::*;

    fn system() -> Actor {
        Actor::system("check:web")
    }

    fn facts(status: Status) -> Facts {
        Facts { status, level: Level::II, response_met: true, reopen_ok: true }
    }

    /// One sample of every change a person can ask for.
    fn samples() -> Vec<Change> {
        let s = |x: &str| x.to_string();
        vec![
            Change::Respond { message: s("on it") },
            Change::Plan { plan: s("fail over") },
            Change::WaitCustomer { reason: s("logs") },
            Change::Resume,
            Change::Resolve { resolution: s("fixed") },
            Change::Confirm,
            Change::Close,
            Change::Reopen { reason: s("again") },
            Change::Cancel { reason: s("duplicate") },
            Change::Level { level: Level::I, reason: s("worse") },
            Change::Assign { assignee: Some(1), team: None },
            Change::Link { parent_id: Some(2) },
            Change::Comment { body: s("hello"), visibility: Visibility::Public },
            Change::Attach(Box::new(NewFile {
                filename: s("a.log"),
                content_type: s("text/plain"),
                visibility: Visibility::Public,
                data: vec![1],
            })),
        ]
    }

    /// What each change does, from a status it is allowed in, for an admin: (to, timers, event,
    /// announce). `None` for the status: unchanged.
    fn expected(change: &Change, from: Status) -> (Status, TimerEffect, Vec<Event>, Option<On>) {
        use Status::*;
        use TimerEffect as T;
        match change {
            Change::Respond { .. } => {
                (InProgress, T::Meet(&[TimerKind::Response]), vec![Event::Responded], Some(On::Responded))
            }
            Change::Plan { .. } => {
                (InProgress, T::Meet(&[TimerKind::Response, TimerKind::Plan]), vec![Event::Planned], Some(On::Planned))
            }
            Change::WaitCustomer { .. } => (WaitingCustomer, T::Pause, vec![Event::WaitingCustomer], None),
            Change::Resume => (InProgress, T::Resume, vec![Event::Resumed], None),
            Change::Resolve { .. } => (Resolved, T::Meet(&TimerKind::ALL), vec![Event::Resolved], Some(On::Resolved)),
            Change::Confirm => (Closed, T::None, vec![Event::Confirmed], Some(On::Closed)),
            Change::Close => (Closed, T::None, vec![Event::Closed], Some(On::Closed)),
            Change::Reopen { .. } => (InProgress, T::NewResolutionCycle, vec![Event::Reopened], Some(On::Reopened)),
            Change::Cancel { .. } => (Cancelled, T::End(Outcome::Cancelled), vec![Event::Cancelled], None),
            Change::Level { .. } => {
                (from, T::Retarget { from: Level::II, to: Level::I }, vec![Event::LevelChanged], Some(On::LevelChanged))
            }
            Change::Assign { .. } => (from, T::None, vec![Event::Assigned], None),
            Change::Link { .. } => (from, T::None, vec![Event::Linked], None),
            Change::Comment { .. } => {
                let to = if from == Open { InProgress } else { from };
                (to, T::Meet(&[TimerKind::Response]), vec![Event::Commented], None)
            }
            Change::Attach(_) => (from, T::None, vec![Event::AttachmentAdded], None),
            _ => unreachable!("not a sample"),
        }
    }

    #[test]
    fn every_change_from_every_status_is_allowed_or_refused_as_the_design_table_says() {
        for change in samples() {
            let action = change.action().unwrap();
            // Staff cannot confirm (a contact does); everything else is the admin's to try.
            let actor = if change == Change::Confirm { contact() } else { staff(Role::Admin) };
            for status in Status::ALL {
                let got = decide(facts(status), &actor, &change);
                if action.allowed_from(status) {
                    let d = got.unwrap_or_else(|r| panic!("{action} from {status}: refused {r:?}"));
                    let (to, timers, events, announce) = if actor.is_contact() {
                        (Status::Closed, TimerEffect::None, vec![Event::Confirmed], Some(On::Closed))
                    } else {
                        expected(&change, status)
                    };
                    assert_eq!(
                        (d.status, d.timers, d.events, d.announce),
                        (to, timers, events, announce),
                        "{action} from {status}"
                    );
                } else {
                    assert!(matches!(got, Err(Refusal::NotNow(_))), "{action} from {status}: {got:?}");
                }
            }
        }
    }

    #[test]
    fn roles_refuse_before_statuses() {
        let plan = Change::Plan { plan: "x".into() };
        assert!(matches!(decide(facts(Status::Closed), &staff(Role::Agent), &plan), Err(Refusal::Forbidden(_))));
        assert!(matches!(
            decide(facts(Status::Open), &contact(), &Change::Respond { message: "x".into() }),
            Err(Refusal::Forbidden(_))
        ));
        let title = Change::PublicTitle { title: Some("Portal slow".into()) };
        assert!(matches!(decide(facts(Status::Open), &staff(Role::Agent), &title), Err(Refusal::Forbidden(_))));
        assert!(decide(facts(Status::Open), &staff(Role::Engineer), &title).is_ok());
    }

    #[test]
    fn opsline_resolves_without_meeting_and_tells_the_same_rules_as_a_person() {
        let resolve = Change::Resolve { resolution: "check recovered".into() };
        for status in [Status::Open, Status::InProgress, Status::WaitingCustomer] {
            let by_system = decide(facts(status), &system(), &resolve).unwrap();
            let by_person = decide(facts(status), &staff(Role::Engineer), &resolve).unwrap();
            assert_eq!(by_system.timers, TimerEffect::End(Outcome::AutoResolved));
            assert_eq!(by_person.timers, TimerEffect::Meet(&TimerKind::ALL));
            assert_eq!((by_system.status, by_system.announce), (by_person.status, by_person.announce));
        }
        assert!(matches!(decide(facts(Status::Resolved), &system(), &resolve), Err(Refusal::NotNow(_))));
        assert!(matches!(
            decide(facts(Status::Open), &system(), &Change::Respond { message: "x".into() }),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn only_opsline_resuming_by_itself_tells_the_rules() {
        let waiting = facts(Status::WaitingCustomer);
        assert_eq!(decide(waiting, &system(), &Change::Resume).unwrap().announce, Some(On::Resumed));
        assert_eq!(decide(waiting, &staff(Role::Agent), &Change::Resume).unwrap().announce, None);
    }

    #[test]
    fn comments_meet_the_response_or_resume_by_who_writes_them() {
        let public = Change::Comment { body: "hi".into(), visibility: Visibility::Public };
        let internal = Change::Comment { body: "hi".into(), visibility: Visibility::Internal };
        let d = decide(facts(Status::WaitingCustomer), &contact(), &public).unwrap();
        assert_eq!(
            (d.status, d.timers, d.events),
            (Status::InProgress, TimerEffect::Resume, vec![Event::Resumed, Event::Commented])
        );
        let d = decide(facts(Status::InProgress), &contact(), &public).unwrap();
        assert_eq!((d.status, d.timers), (Status::InProgress, TimerEffect::None));
        let d = decide(facts(Status::Open), &staff(Role::Agent), &internal).unwrap();
        assert_eq!((d.status, d.timers), (Status::Open, TimerEffect::None));
        assert!(matches!(
            decide(facts(Status::Open), &contact(), &internal),
            Err(Refusal::Invalid { field: "visibility", .. })
        ));
    }

    #[test]
    fn waiting_needs_the_response_met_and_reopening_a_closed_ticket_needs_the_window() {
        let unmet = Facts { response_met: false, ..facts(Status::InProgress) };
        assert!(matches!(
            decide(unmet, &staff(Role::Agent), &Change::WaitCustomer { reason: "x".into() }),
            Err(Refusal::NotNow(_))
        ));
        let late = Facts { reopen_ok: false, ..facts(Status::Closed) };
        let reopen = Change::Reopen { reason: "x".into() };
        assert_eq!(decide(late, &contact(), &reopen), Err(Refusal::ReopenWindowPassed));
        assert!(decide(Facts { reopen_ok: false, ..facts(Status::Resolved) }, &contact(), &reopen).is_ok());
    }

    #[test]
    fn bad_input_names_its_field_and_a_level_must_change() {
        let empty = Change::Resolve { resolution: "  ".into() };
        assert!(matches!(
            decide(facts(Status::Open), &staff(Role::Lead), &empty),
            Err(Refusal::Invalid { field: "resolution", .. })
        ));
        let same = Change::Level { level: Level::II, reason: "x".into() };
        assert!(matches!(
            decide(facts(Status::Open), &staff(Role::Lead), &same),
            Err(Refusal::Invalid { field: "level", .. })
        ));
    }

    #[test]
    fn notes_change_nothing_and_flapping_tells_its_rules() {
        let note = |note| Change::Note { note, detail: Value::Null, comment: None };
        for status in Status::ALL {
            let d = decide(facts(status), &system(), &note(Note::CheckFailed)).unwrap();
            assert_eq!((d.status, d.timers, d.announce), (status, TimerEffect::None, None));
        }
        assert_eq!(
            decide(facts(Status::Open), &system(), &note(Note::CheckFlapping)).unwrap().announce,
            Some(On::Flapping)
        );
        assert!(matches!(
            decide(facts(Status::Open), &contact(), &note(Note::AlertFiring)),
            Err(Refusal::Forbidden(_))
        ));
    }
}
