//! What the public status page may say about tickets: a title staff write for the public, and
//! the open tickets that have one. Never customer names, numbers or descriptions.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::super::error::Result;
use super::change::{ChangeRequest, change};
use crate::domain::actor::Actor;
use crate::domain::level::Level;
use crate::domain::ticket::{Change, Status};
use crate::persistence::entities::ticket;
use crate::state::AppState;

/// Sets (or, with an empty title, clears) the title the status page shows while the ticket is
/// open; engineer or higher. A ticket change like any other.
pub async fn set_public_title(state: &AppState, actor: &Actor, r: &str, title: &str, now: DateTime<Utc>) -> Result<()> {
    let title = title.trim();
    let title = (!title.is_empty()).then(|| title.to_string());
    change(state, actor, ChangeRequest::new(r, Change::PublicTitle { title }), now).await?;
    Ok(())
}

/// An open incident as the public sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PublicIncident {
    pub title: String,
    pub level: Level,
    pub since: DateTime<Utc>,
    pub status: Status,
}

/// Open tickets with a public title, newest first.
pub async fn public_incidents(state: &AppState) -> Result<Vec<PublicIncident>> {
    let rows = ticket::Entity::find()
        .filter(ticket::Column::PublicTitle.is_not_null())
        .filter(ticket::Column::Status.is_in(Status::UNRESOLVED))
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
