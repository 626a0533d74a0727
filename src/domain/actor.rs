//! Who did something to Opsline's records: a staff member, a customer's contact, or Opsline itself
//! (a check, an integration, a scheduled job, the command line). The one type for "who": the
//! ticket log, comments, the audit log and the role rules (README: Roles) all take it.

use super::ticket::Role;

crate::text_enum! {
    /// What kind of actor did something, as the logs store it.
    pub enum ActorKind ("kind of actor") {
        /// A staff member.
        User = "user",
        Contact = "contact",
        /// Opsline itself.
        System = "system",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Staff {
        user_id: i64,
        username: String,
        display_name: String,
        role: Role,
    },
    Contact {
        contact_id: i64,
        customer_id: i64,
        name: String,
    },
    /// Opsline itself, named for what acted: `check:web`, `integration:alertmanager`,
    /// `maintenance`, `command line`.
    System {
        name: String,
    },
}

/// A role the actor does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub String);

impl Actor {
    pub fn system(name: impl Into<String>) -> Self {
        Actor::System { name: name.into() }
    }

    /// An operator at the command line (`opsline user create`, `opsline token create`).
    pub fn command_line() -> Self {
        Actor::system("command line")
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Staff { role, .. } => Some(*role),
            _ => None,
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Actor::Staff { .. })
    }

    pub fn is_contact(&self) -> bool {
        matches!(self, Actor::Contact { .. })
    }

    pub fn is_system(&self) -> bool {
        matches!(self, Actor::System { .. })
    }

    /// Staff with at least `role`.
    pub fn require(&self, role: Role) -> Result<(), Forbidden> {
        match self {
            Actor::Staff { role: r, .. } if *r >= role => Ok(()),
            Actor::Staff { role: r, .. } => {
                Err(Forbidden(format!("this needs the {role} role or higher; you are {r}")))
            }
            Actor::Contact { .. } => Err(Forbidden("customer contacts cannot do this".into())),
            Actor::System { .. } => Err(Forbidden("Opsline itself cannot do this".into())),
        }
    }

    /// The display name: a person's name, or what acted for Opsline.
    pub fn name(&self) -> &str {
        match self {
            Actor::Staff { display_name, .. } => display_name,
            Actor::Contact { name, .. } => name,
            Actor::System { name } => name,
        }
    }

    /// What the logs store as the actor's kind.
    pub fn kind(&self) -> ActorKind {
        match self {
            Actor::Staff { .. } => ActorKind::User,
            Actor::Contact { .. } => ActorKind::Contact,
            Actor::System { .. } => ActorKind::System,
        }
    }

    /// The user's or contact's id; none for Opsline itself.
    pub fn id(&self) -> Option<i64> {
        match self {
            Actor::Staff { user_id, .. } => Some(*user_id),
            Actor::Contact { contact_id, .. } => Some(*contact_id),
            Actor::System { .. } => None,
        }
    }

    /// A stable key for per-caller records such as idempotency keys.
    pub fn key(&self) -> String {
        match self {
            Actor::System { name } => format!("system:{name}"),
            _ => format!("{}:{}", self.kind(), self.id().unwrap_or_default()),
        }
    }

    /// The customer a contact belongs to; staff and Opsline see every customer.
    pub fn customer_id(&self) -> Option<i64> {
        match self {
            Actor::Contact { customer_id, .. } => Some(*customer_id),
            _ => None,
        }
    }

    /// The user who acted, if a staff member did.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Actor::Staff { user_id, .. } => Some(*user_id),
            _ => None,
        }
    }

    /// The contact who acted, if a customer's contact did.
    pub fn contact_id(&self) -> Option<i64> {
        match self {
            Actor::Contact { contact_id, .. } => Some(*contact_id),
            _ => None,
        }
    }
}
