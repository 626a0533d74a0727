//! The deliveries as people see them: the list with every attempt (`GET /api/v1/notifications`,
//! the console's notifications page) and putting a dead letter back in the queue.

use crate::domain::delivery::{Channel, DeliveryStatus};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{Error, Result};
use crate::persistence::entities::{delivery_attempt, outbox};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// delivered | failed | rejected
    pub outcome: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub escalation_id: Option<i64>,
    /// email | webhook | none
    pub channel: String,
    pub target: String,
    /// notification | digest | acknowledged
    pub kind: String,
    /// pending | delivered | dead | folded
    pub status: String,
    pub event_type: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub dead_reason: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempt_log: Vec<AttemptView>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// pending | delivered | dead | folded
    pub status: Option<String>,
    pub ticket_id: Option<i64>,
    /// Show rows with an id below this (newest first).
    pub before: Option<i64>,
    /// 1–200, default 50.
    pub limit: Option<u64>,
}

fn view(o: outbox::Model, attempts: Vec<delivery_attempt::Model>) -> NotificationView {
    let event_type = serde_json::from_str::<serde_json::Value>(&o.payload)
        .ok()
        .and_then(|p| p.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default();
    NotificationView {
        id: o.id,
        ticket_id: o.ticket_id,
        escalation_id: o.escalation_id,
        channel: o.channel.to_string(),
        target: o.target,
        kind: o.kind.to_string(),
        event_type,
        next_attempt_at: (o.status == DeliveryStatus::Pending).then_some(o.next_attempt_at),
        status: o.status.to_string(),
        attempts: o.attempts,
        dead_reason: o.dead_reason,
        last_error: o.last_error,
        created_at: o.created_at,
        delivered_at: o.delivered_at,
        attempt_log: attempts
            .into_iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                attempted_at: a.attempted_at,
                duration_ms: a.duration_ms,
                outcome: a.outcome,
                http_status: a.http_status,
                error: a.error,
            })
            .collect(),
    }
}

pub async fn list(state: &AppState, q: NotificationQuery) -> Result<Vec<NotificationView>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::invalid("limit", "1–200"));
    }
    let mut query = outbox::Entity::find().order_by_desc(outbox::Column::Id).limit(limit);
    if let Some(s) = q.status {
        let s: DeliveryStatus = s.parse().map_err(|e: String| Error::invalid("status", e))?;
        query = query.filter(outbox::Column::Status.eq(s));
    }
    if let Some(t) = q.ticket_id {
        query = query.filter(outbox::Column::TicketId.eq(t));
    }
    if let Some(b) = q.before {
        query = query.filter(outbox::Column::Id.lt(b));
    }
    let rows = query.all(&state.db).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut attempts = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::OutboxId.is_in(ids))
        .order_by_asc(delivery_attempt::Column::Id)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mine: Vec<_> = attempts.extract_if(.., |a| a.outbox_id == r.id).collect();
            view(r, mine)
        })
        .collect())
}

/// Puts a dead letter back in the queue, due now.
pub async fn retry(state: &AppState, id: i64, now: DateTime<Utc>) -> Result<NotificationView> {
    let row = outbox::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("notification_not_found", "notification"))?;
    if row.status != DeliveryStatus::Dead {
        return Err(Error::conflict("not_dead", format!("only dead letters are retried; this one is {}", row.status)));
    }
    if row.channel == Channel::None {
        return Err(Error::conflict(
            "no_recipient",
            "this notification had nobody to go to; fix the rule or the users and let it fire again",
        ));
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Status, Expr::value(DeliveryStatus::Pending))
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now))
        .col_expr(outbox::Column::Attempts, Expr::value(0))
        .col_expr(outbox::Column::DeadReason, Expr::value(Option::<String>::None))
        .col_expr(outbox::Column::UpdatedAt, Expr::value(now))
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::Status.eq(DeliveryStatus::Dead))
        .exec(&state.db)
        .await?;
    state.wake_delivery.notify_one();
    let row = outbox::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("notification_not_found", "notification"))?;
    let attempts =
        delivery_attempt::Entity::find().filter(delivery_attempt::Column::OutboxId.eq(id)).all(&state.db).await?;
    Ok(view(row, attempts))
}
