//! What a reader is told about who did what on a ticket. Staff read the log as recorded. A
//! customer's contact reads a staff member's display name, its own people by name, and "Opsline"
//! for Opsline itself and for service accounts (an API token's user, a check, an integration) —
//! never usernames or user ids — and of an event's values only those meant for customers.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::Value;

use super::super::error::Result;
use crate::domain::actor::{Actor, ActorKind};
use crate::persistence::entities::user;

/// What contacts see as the name of Opsline and its service accounts.
pub const OPSLINE: &str = "Opsline";

/// The keys of an event's old and new values a contact sees: the ticket's own state. Assignees,
/// teams, links to other tickets, classification rules and who resolved are staff's.
const PUBLIC_KEYS: &[&str] = &[
    "status",
    "level",
    "due",
    "timers",
    "resolution",
    "resolution_cycle",
    "plan",
    "message",
    "public_title",
    "reported_at",
    "created_at",
    "comment_id",
    "attachment_id",
    "filename",
    "sha256",
    "visibility",
];

/// An actor as a reader sees it.
pub struct Named {
    pub kind: ActorKind,
    pub id: Option<i64>,
    pub name: String,
}

/// How actors are named to one reader.
pub struct SeenBy {
    contact: bool,
    service_users: HashSet<i64>,
}

impl SeenBy {
    /// For `reader`, knowing which of `user_ids` (the users a log names) are service accounts.
    pub async fn load(db: &impl ConnectionTrait, reader: &Actor, user_ids: Vec<i64>) -> Result<Self> {
        let contact = reader.is_contact();
        let service_users = if contact && !user_ids.is_empty() {
            user::Entity::find()
                .select_only()
                .column(user::Column::Id)
                .filter(user::Column::Id.is_in(user_ids))
                .filter(user::Column::Service.eq(true))
                .into_tuple::<i64>()
                .all(db)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        Ok(SeenBy { contact, service_users })
    }

    /// The actor recorded as `kind`, `id`, `name`, as this reader sees it.
    pub fn actor(&self, kind: ActorKind, id: Option<i64>, name: String) -> Named {
        if !self.contact {
            return Named { kind, id, name };
        }
        let service = kind == ActorKind::User && id.is_some_and(|i| self.service_users.contains(&i));
        match kind {
            ActorKind::Contact => Named { kind, id, name },
            ActorKind::User if !service => Named { kind, id: None, name },
            _ => Named { kind: ActorKind::System, id: None, name: OPSLINE.into() },
        }
    }

    /// An event's old or new value as this reader sees it.
    pub fn value(&self, v: Option<Value>) -> Option<Value> {
        if !self.contact {
            return v;
        }
        match v? {
            Value::Object(mut m) => {
                m.retain(|k, _| PUBLIC_KEYS.contains(&k.as_str()));
                (!m.is_empty()).then_some(Value::Object(m))
            }
            _ => None,
        }
    }
}
