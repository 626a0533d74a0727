//! The ticket state machine (DESIGN.md §5) and who may do what (DESIGN.md §6).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    WaitingCustomer,
    Resolved,
    Closed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Open,
        Status::InProgress,
        Status::WaitingCustomer,
        Status::Resolved,
        Status::Closed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::WaitingCustomer => "waiting_customer",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
            format!("`{s}` is not a status: use open, in_progress, waiting_customer, resolved, closed or cancelled")
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Engineer,
    Lead,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Engineer, Role::Lead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Engineer => "engineer",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a role: use agent, engineer, lead or admin"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting on a ticket, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Staff(Role),
    Contact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Respond,
    Plan,
    WaitCustomer,
    Resume,
    Resolve,
    Confirm,
    Close,
    Reopen,
    Cancel,
    Level,
    Assign,
    Link,
    Comment,
    Attach,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Action::Respond,
        Action::Plan,
        Action::WaitCustomer,
        Action::Resume,
        Action::Resolve,
        Action::Confirm,
        Action::Close,
        Action::Reopen,
        Action::Cancel,
        Action::Level,
        Action::Assign,
        Action::Link,
        Action::Comment,
        Action::Attach,
    ];

    /// The path segment of `POST /api/v1/tickets/{id}/…`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Respond => "respond",
            Action::Plan => "plan",
            Action::WaitCustomer => "wait-customer",
            Action::Resume => "resume",
            Action::Resolve => "resolve",
            Action::Confirm => "confirm",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::Cancel => "cancel",
            Action::Level => "level",
            Action::Assign => "assign",
            Action::Link => "link",
            Action::Comment => "comments",
            Action::Attach => "attachments",
        }
    }

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

    /// Whether the actor's role may take the action at all (DESIGN.md §6).
    pub fn permitted(self, actor: Actor) -> bool {
        match actor {
            Actor::Contact => {
                matches!(self, Action::Comment | Action::Attach | Action::Confirm | Action::Reopen)
            }
            Actor::Staff(role) => {
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
                role >= needs
            }
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actions `actor` could take on a ticket in `status` now; `reopen_allowed` says whether a
/// closed ticket is still within its reopen window.
pub fn allowed_actions(status: Status, actor: Actor, reopen_allowed: bool) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| a.permitted(actor) && a.allowed_from(status))
        .filter(|a| *a != Action::Reopen || status != Status::Closed || reopen_allowed)
        .collect()
}

/// What a successful action moves the ticket to.
pub fn next_status(action: Action, status: Status) -> Status {
    match action {
        Action::Respond | Action::Plan | Action::Resume | Action::Reopen => Status::InProgress,
        Action::WaitCustomer => Status::WaitingCustomer,
        Action::Resolve => Status::Resolved,
        Action::Confirm | Action::Close => Status::Closed,
        Action::Cancel => Status::Cancelled,
        Action::Level | Action::Assign | Action::Link | Action::Comment | Action::Attach => status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!Action::Plan.permitted(Actor::Staff(Role::Agent)));
        assert!(Action::Plan.permitted(Actor::Staff(Role::Engineer)));
        assert!(!Action::Close.permitted(Actor::Staff(Role::Engineer)));
        assert!(Action::Cancel.permitted(Actor::Staff(Role::Admin)));
        assert!(!Action::Confirm.permitted(Actor::Staff(Role::Admin)));
        assert!(Action::Confirm.permitted(Actor::Contact));
        assert!(Action::Reopen.permitted(Actor::Contact));
        assert!(!Action::Respond.permitted(Actor::Contact));
    }

    #[test]
    fn a_closed_ticket_offers_reopen_only_within_the_window() {
        assert!(allowed_actions(Status::Closed, Actor::Staff(Role::Engineer), true).contains(&Action::Reopen));
        assert!(allowed_actions(Status::Closed, Actor::Staff(Role::Engineer), false).is_empty());
    }
}
