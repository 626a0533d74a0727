//! Tickets: opening them, reading and listing them, and every action of DESIGN.md §5. Each use
//! case is one transaction that writes the ticket, its timers, its events and any comment
//! together.

mod actions;
mod attachments;
mod comments;
mod create;
mod public;
mod query;
mod system;
mod view;
mod writes;

pub use actions::{ActionRequest, perform};
pub use attachments::{
    AttachmentContent, AttachmentView, NewAttachment, add_attachment, attachment_content, list_attachments,
};
pub(crate) use comments::insert_comment;
pub use comments::{CommentView, NewComment, Visibility, add_comment, list_comments};
pub use create::{NewTicket, create, create_view};
pub(crate) use create::{Opening, insert_new, open_ticket};
pub use public::{PublicIncident, public_incidents, set_public_title};
pub use query::{AssigneeFilter, EventView, ListQuery, Page, Sort, get, list, list_events, timer_views};
pub use system::{Automatic, reopen_by_system, resolve_by_system, transition_by_system};
pub use view::{ClassificationView, ExplainView, SlaSet, StepView, TicketView, TimerView, timer_view};

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Principal;
use super::error::{Error, Result};
use crate::persistence::entities::{ticket, ticket_event};

/// Where a ticket came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Hotline,
    Portal,
    Email,
    Check,
    Integration,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Hotline => "hotline",
            Source::Portal => "portal",
            Source::Email => "email",
            Source::Check => "check",
            Source::Integration => "integration",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        [Source::Hotline, Source::Portal, Source::Email, Source::Check, Source::Integration]
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a source"))
    }
}

/// Who did something to a ticket: a principal, or the system (checks, integrations, workers).
#[derive(Clone, Copy)]
pub enum Who<'a> {
    Principal(&'a Principal),
    System(&'a str),
}

impl Who<'_> {
    fn parts(&self) -> (String, Option<i64>, String) {
        match self {
            Who::Principal(p) => (p.kind().to_string(), Some(p.id()), p.name().to_string()),
            Who::System(name) => ("system".to_string(), None, name.to_string()),
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Who::Principal(Principal::Staff { .. }))
    }
}

/// Appends to a ticket's event log.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn event(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    who: Who<'_>,
    action: &str,
    old: Option<Value>,
    new: Option<Value>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    let (kind, id, name) = who.parts();
    ticket_event::ActiveModel {
        ticket_id: Set(ticket_id),
        actor_kind: Set(kind),
        actor_id: Set(id),
        actor_name: Set(name),
        action: Set(action.into()),
        old_value: Set(old.map(|v| v.to_string())),
        new_value: Set(new.map(|v| v.to_string())),
        note: Set(note),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// `42` or `INC-000042` (any case).
pub fn parse_ref(r: &str) -> Option<i64> {
    let digits = r.strip_prefix("INC-").or_else(|| r.strip_prefix("inc-")).unwrap_or(r);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|id| *id > 0)
}

pub fn number_for(id: i64) -> String {
    format!("INC-{id:06}")
}

/// The ticket if `principal` may see it; another customer's ticket is "not found", exactly as a
/// missing one.
pub(crate) async fn load_visible(db: &impl ConnectionTrait, principal: &Principal, r: &str) -> Result<ticket::Model> {
    let not_found = || Error::not_found("ticket_not_found", "ticket");
    let id = parse_ref(r).ok_or_else(not_found)?;
    let t = ticket::Entity::find_by_id(id).one(db).await?.ok_or_else(not_found)?;
    match principal.customer_id() {
        Some(c) if c != t.customer_id => Err(not_found()),
        _ => Ok(t),
    }
}

/// Text fields: required, at most `max` characters.
pub(crate) fn check_text(field: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() {
        return Err(Error::invalid(field, format!("`{field}` must not be empty")));
    }
    if s.chars().count() > max {
        return Err(Error::invalid(field, format!("`{field}` has at most {max} characters")));
    }
    Ok(())
}

pub const MAX_TEXT: usize = 20_000;

/// Appends an event by a named actor outside the ticket actions (acknowledgements, workers).
pub async fn record_event(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    by: &str,
    action: &str,
    new_value: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    event(db, ticket_id, Who::System(by), action, None, Some(new_value), None, now).await
}
