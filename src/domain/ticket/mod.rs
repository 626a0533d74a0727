//! The ticket state machine (README: Tickets, statuses and actions), who may do what (README:
//! Roles), and what each change does to a ticket (`change`).

mod change;
mod change_visit;
mod text;

pub use change::{
    Change, Decision, Event, Facts, MAX_REASON, MAX_TEXT, MAX_TITLE, NewFile, Note, Refusal, TimerEffect, VisitClock,
    decide,
};
pub use text::{cleaned, line, one_line, plain, text};

use super::actor::Actor;

crate::text_enum! {
    /// Where a ticket is in its life (README: Tickets, statuses and actions).
    pub enum Status ("ticket status") {
        Open = "open",
        InProgress = "in_progress",
        WaitingCustomer = "waiting_customer",
        Resolved = "resolved",
        Closed = "closed",
        Cancelled = "cancelled",
    }
}

impl Status {
    /// The statuses of a ticket still being worked: not yet resolved.
    pub const UNRESOLVED: [Status; 3] = [Status::Open, Status::InProgress, Status::WaitingCustomer];

    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }

    pub fn is_unresolved(self) -> bool {
        Status::UNRESOLVED.contains(&self)
    }
}

crate::text_enum! {
    /// Where a ticket came from.
    pub enum Source ("ticket source") {
        Hotline = "hotline",
        Portal = "portal",
        Email = "email",
        Check = "check",
        Integration = "integration",
        /// A customer disputed a service report.
        Report = "report",
    }
}

crate::text_enum! {
    /// A staff member's role; each includes the rights of those before it.
    #[derive(PartialOrd, Ord)]
    pub enum Role ("role") {
        Agent = "agent",
        Engineer = "engineer",
        Lead = "lead",
        Admin = "admin",
    }
}

crate::text_enum! {
    /// Who may read a comment or an attachment.
    #[derive(Default)]
    pub enum Visibility ("visibility") {
        #[default]
        Public = "public",
        Internal = "internal",
    }
}

crate::text_enum! {
    /// What a person can ask of a ticket: the path segment of `POST /api/v1/tickets/{id}/…`.
    pub enum Action ("ticket action") {
        Respond = "respond",
        Plan = "plan",
        WaitCustomer = "wait-customer",
        Resume = "resume",
        Resolve = "resolve",
        Confirm = "confirm",
        Close = "close",
        Reopen = "reopen",
        Cancel = "cancel",
        Level = "level",
        Assign = "assign",
        Link = "link",
        Comment = "comments",
        Attach = "attachments",
    }
}

impl Action {
    /// The statuses the action is allowed from. `reopen` from `closed` also needs the ticket to
    /// have closed within the reopen window, which the caller checks.
    pub fn allowed_from(self, status: Status) -> bool {
        use Status::*;
        match self {
            Action::Respond => status == Open,
            Action::Plan => matches!(status, Open | InProgress),
            Action::WaitCustomer => status == InProgress,
            Action::Resume => status == WaitingCustomer,
            Action::Resolve => matches!(status, Open | InProgress | WaitingCustomer),
            Action::Confirm | Action::Close => status == Resolved,
            Action::Reopen => matches!(status, Resolved | Closed),
            Action::Cancel | Action::Level | Action::Assign | Action::Link | Action::Comment | Action::Attach => {
                !status.is_final()
            }
        }
    }

    /// Whether the actor may take the action at all (README: Roles). Opsline itself resolves,
    /// reopens, resumes and closes tickets on its own schedule and intakes, and assigns the ticket
    /// a disputed report opens to the customer's account lead.
    pub fn permitted(self, actor: &Actor) -> bool {
        match actor {
            Actor::Contact { .. } => {
                matches!(self, Action::Comment | Action::Attach | Action::Confirm | Action::Reopen)
            }
            Actor::System { .. } => {
                matches!(self, Action::Resolve | Action::Reopen | Action::Resume | Action::Close | Action::Assign)
            }
            Actor::Staff { role, .. } => {
                let needs = match self {
                    Action::Respond
                    | Action::WaitCustomer
                    | Action::Resume
                    | Action::Assign
                    | Action::Link
                    | Action::Comment
                    | Action::Attach => Role::Agent,
                    Action::Plan | Action::Resolve | Action::Reopen | Action::Level => Role::Engineer,
                    Action::Close | Action::Cancel => Role::Lead,
                    Action::Confirm => return false,
                };
                *role >= needs
            }
        }
    }
}

/// The actions `actor` could take on a ticket in `status` now; `reopen_allowed` says whether a
/// closed ticket is still within its reopen window.
pub fn allowed_actions(status: Status, actor: &Actor, reopen_allowed: bool) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| a.permitted(actor) && a.allowed_from(status))
        .filter(|a| *a != Action::Reopen || status != Status::Closed || reopen_allowed)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn staff(role: Role) -> Actor {
        Actor::Staff { user_id: 1, username: "u".into(), display_name: "U".into(), role }
    }

    pub(super) fn contact() -> Actor {
        Actor::Contact { contact_id: 1, customer_id: 1, name: "C".into() }
    }

    #[test]
    fn every_action_allows_exactly_the_statuses_of_the_design_table() {
        use Status::*;
        let table: &[(Action, &[Status])] = &[
            (Action::Respond, &[Open]),
            (Action::Plan, &[Open, InProgress]),
            (Action::WaitCustomer, &[InProgress]),
            (Action::Resume, &[WaitingCustomer]),
            (Action::Resolve, &[Open, InProgress, WaitingCustomer]),
            (Action::Confirm, &[Resolved]),
            (Action::Close, &[Resolved]),
            (Action::Reopen, &[Resolved, Closed]),
            (Action::Cancel, &[Open, InProgress, WaitingCustomer, Resolved]),
            (Action::Level, &[Open, InProgress, WaitingCustomer, Resolved]),
            (Action::Assign, &[Open, InProgress, WaitingCustomer, Resolved]),
            (Action::Link, &[Open, InProgress, WaitingCustomer, Resolved]),
            (Action::Comment, &[Open, InProgress, WaitingCustomer, Resolved]),
            (Action::Attach, &[Open, InProgress, WaitingCustomer, Resolved]),
        ];
        for (action, allowed) in table {
            for status in Status::ALL {
                assert_eq!(action.allowed_from(status), allowed.contains(&status), "{action} from {status}");
            }
        }
    }

    #[test]
    fn roles_are_cumulative_and_contacts_have_their_own_rights() {
        assert!(!Action::Plan.permitted(&staff(Role::Agent)));
        assert!(Action::Plan.permitted(&staff(Role::Engineer)));
        assert!(!Action::Close.permitted(&staff(Role::Engineer)));
        assert!(Action::Cancel.permitted(&staff(Role::Admin)));
        assert!(!Action::Confirm.permitted(&staff(Role::Admin)));
        assert!(Action::Confirm.permitted(&contact()));
        assert!(Action::Reopen.permitted(&contact()));
        assert!(!Action::Respond.permitted(&contact()));
    }

    #[test]
    fn a_closed_ticket_offers_reopen_only_within_the_window() {
        assert!(allowed_actions(Status::Closed, &staff(Role::Engineer), true).contains(&Action::Reopen));
        assert!(allowed_actions(Status::Closed, &staff(Role::Engineer), false).is_empty());
    }
}
