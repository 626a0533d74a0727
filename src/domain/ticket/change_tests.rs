//! The decision table's tests: who may make which change from which status, and what it does.

use super::super::tests::{contact, staff};
use super::*;

fn system() -> Actor {
    Actor::system("check:web")
}

fn facts(status: Status) -> Facts {
    Facts {
        status,
        level: Level::II,
        response_met: true,
        reopen_ok: true,
        needs_signature: false,
        visit: None,
        now: 0,
        max_offline: 12 * 3600,
    }
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
        Change::Resolve { .. } => (Resolved, T::Meet(&TimerKind::TICKET), vec![Event::Resolved], Some(On::Resolved)),
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
        assert_eq!(by_person.timers, TimerEffect::Meet(&TimerKind::TICKET));
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
    assert!(matches!(decide(facts(Status::Open), &contact(), &note(Note::AlertFiring)), Err(Refusal::Forbidden(_))));
}

#[test]
fn the_contact_rates_a_closed_ticket_and_a_callback_starts_its_timer_until_staff_log_the_call() {
    let rate = |score, callback| Change::Rate { score, comment: None, callback };
    for status in Status::ALL {
        let d = decide(facts(status), &contact(), &rate(1, true));
        if status == Status::Closed {
            let d = d.unwrap();
            assert_eq!(
                (d.status, d.timers, d.events),
                (Status::Closed, TimerEffect::StartCallback, vec![Event::Rated])
            );
        } else {
            assert!(matches!(d, Err(Refusal::NotNow(_))), "{status}: {d:?}");
        }
    }
    let d = decide(facts(Status::Closed), &contact(), &rate(4, false)).unwrap();
    assert_eq!(d.timers, TimerEffect::None, "no callback asked for: no timer");
    for who in [staff(Role::Admin), system()] {
        assert!(matches!(decide(facts(Status::Closed), &who, &rate(5, false)), Err(Refusal::Forbidden(_))));
    }
    for score in [0, 6] {
        let d = decide(facts(Status::Closed), &contact(), &rate(score, false));
        assert!(matches!(d, Err(Refusal::Invalid { field: "score", .. })), "{score}: {d:?}");
    }

    let call = Change::CallBack { note: "客户接受".into() };
    for status in Status::ALL {
        let d = decide(facts(status), &staff(Role::Engineer), &call).unwrap();
        assert_eq!(
            (d.status, d.timers, d.events),
            (status, TimerEffect::Meet(&[TimerKind::Callback]), vec![Event::CalledBack])
        );
    }
    for who in [staff(Role::Agent), contact(), system()] {
        assert!(matches!(decide(facts(Status::Closed), &who, &call), Err(Refusal::Forbidden(_))));
    }
    let empty = Change::CallBack { note: " ".into() };
    assert!(matches!(
        decide(facts(Status::Closed), &staff(Role::Lead), &empty),
        Err(Refusal::Invalid { field: "note", .. })
    ));
}
