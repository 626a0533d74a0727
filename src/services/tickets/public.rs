//! What the public status page may say about tickets: a title staff write for the public, and
//! the open tickets that have one. Never customer names, numbers or descriptions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait};
use serde::Serialize;
use serde_json::json;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::{Who, check_text, event, load_visible};
use crate::domain::ticket::Role;
use crate::persistence::entities::ticket;
use crate::state::AppState;

/// Sets (or, with an empty title, clears) the title the status page shows while the ticket is
/// open; engineer or higher. Recorded in the ticket's events.
pub async fn set_public_title(
    state: &AppState,
    principal: &Principal,
    r: &str,
    title: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    principal.require(Role::Engineer)?;
    let title = title.trim();
    let new = if title.is_empty() {
        None
    } else {
        check_text("public_title", title, 200)?;
        Some(title.to_string())
    };
    let txn = state.db.begin().await?;
    let t = load_visible(&txn, principal, r).await?;
    if t.public_title == new {
        return Ok(());
    }
    let updated = ticket::Entity::update_many()
        .col_expr(ticket::Column::PublicTitle, Expr::value(new.clone()))
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now))
        .filter(ticket::Column::Id.eq(t.id))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::not_found("ticket_not_found", "ticket"));
    }
    let (old, new) = (json!({"public_title": t.public_title}), json!({"public_title": new}));
    event(&txn, t.id, Who::Principal(principal), "public_title", Some(old), Some(new), None, now).await?;
    txn.commit().await?;
    Ok(())
}

/// An open incident as the public sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PublicIncident {
    pub title: String,
    pub level: String,
    pub since: DateTime<Utc>,
    pub status: String,
}

/// Open tickets with a public title, newest first.
pub async fn public_incidents(state: &AppState) -> Result<Vec<PublicIncident>> {
    let rows = ticket::Entity::find()
        .filter(ticket::Column::PublicTitle.is_not_null())
        .filter(ticket::Column::Status.is_in(["open", "in_progress", "waiting_customer"]))
        .order_by_desc(ticket::Column::ReportedAt)
        .limit(50)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|t| {
            Some(PublicIncident { title: t.public_title?, level: t.level, since: t.reported_at, status: t.status })
        })
        .collect())
}
