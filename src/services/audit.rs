//! The administrative audit log: who changed users, tokens, customers, contacts and
//! configuration, and when. Written in the same transaction as the change.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::tickets::Page;
use crate::domain::actor::{Actor, ActorKind};
use crate::persistence::entities::audit_entry;

/// What an administrative action was done to: `user` 7, `token` 3, `configuration`.
pub struct Target<'a> {
    pub kind: &'a str,
    pub id: Option<i64>,
}

pub async fn record(
    db: &impl ConnectionTrait,
    by: &Actor,
    action: &str,
    target: Target<'_>,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    audit_entry::ActiveModel {
        actor_kind: Set(by.kind()),
        actor_id: Set(by.id()),
        actor_name: Set(by.name().to_string()),
        action: Set(action.into()),
        target_kind: Set(target.kind.into()),
        target_id: Set(target.id),
        detail: Set(Some(detail.to_string())),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// One administrative action.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    /// user | contact | system
    #[schema(value_type = String)]
    pub actor_kind: ActorKind,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<i64>,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub created_at: DateTime<Utc>,
}

/// The newest first, `limit` (1–200) at a time; `after` is the `next` of the previous page.
pub async fn list(db: &impl ConnectionTrait, after: Option<&str>, limit: Option<u64>) -> Result<Page<AuditView>> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "between 1 and 200"));
    }
    let mut q = audit_entry::Entity::find().order_by_desc(audit_entry::Column::Id).limit(limit + 1);
    if let Some(a) = after {
        let id: i64 = a.parse().map_err(|_| Error::invalid("after", "not a cursor from this list"))?;
        q = q.filter(audit_entry::Column::Id.lt(id));
    }
    let mut rows = q.all(db).await?;
    let next = (rows.len() as u64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.to_string()).unwrap_or_default()
    });
    let items = rows
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Value::Null),
            created_at: r.created_at,
        })
        .collect();
    Ok(Page { items, next })
}
