//! A ticket's log (`GET /api/v1/tickets/{id}/events`): one row per event, with who did it, what
//! it was before and after, and a note. Written only by the change path (and by opening, and by a
//! calendar change moving deadlines), in their transactions.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use serde_json::Value;

use super::super::error::Result;
use crate::domain::actor::Actor;
use crate::domain::ticket::Event;
use crate::persistence::entities::ticket_event;

/// What an event records besides who and when.
#[derive(Debug, Default, Clone)]
pub(crate) struct Entry {
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub note: Option<String>,
}

pub(crate) async fn write(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    actor: &Actor,
    event: Event,
    entry: Entry,
    now: DateTime<Utc>,
) -> Result<()> {
    ticket_event::ActiveModel {
        ticket_id: Set(ticket_id),
        actor_kind: Set(actor.kind()),
        actor_id: Set(actor.id()),
        actor_name: Set(actor.name().into()),
        action: Set(event),
        old_value: Set(entry.old.map(|v| v.to_string())),
        new_value: Set(entry.new.map(|v| v.to_string())),
        note: Set(entry.note),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
