//! The administrative audit log: who changed users, tokens, customers, contacts and
//! configuration, and when. Written in the same transaction as the change.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use serde_json::Value;

use super::auth::Principal;
use super::error::Result;
use crate::persistence::entities::audit_entry;

/// Who acted: a principal, or the system / command line when there is none.
pub enum By<'a> {
    Principal(&'a Principal),
    Cli,
    System,
}

pub async fn record(
    db: &impl ConnectionTrait,
    by: By<'_>,
    action: &str,
    target_kind: &str,
    target_id: Option<i64>,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let (kind, id, name) = match by {
        By::Principal(p) => (p.kind().to_string(), Some(p.id()), p.name().to_string()),
        By::Cli => ("cli".to_string(), None, "command line".to_string()),
        By::System => ("system".to_string(), None, "system".to_string()),
    };
    audit_entry::ActiveModel {
        actor_kind: Set(kind),
        actor_id: Set(id),
        actor_name: Set(name),
        action: Set(action.into()),
        target_kind: Set(target_kind.into()),
        target_id: Set(target_id),
        detail: Set(Some(detail.to_string())),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
