//! Comments: public or internal, written by a person or by Opsline. Adding one is a ticket change
//! (a staff public comment meets the response; a contact's resumes a ticket waiting for them).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::error::{Error, Result};
use super::change::{ChangeRequest, TicketRef, change, load_visible};
use super::seen_by::SeenBy;
use crate::domain::actor::{Actor, ActorKind};
use crate::domain::ticket::{Change, Visibility};
use crate::persistence::entities::comment;
use crate::state::AppState;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    pub body: String,
    #[serde(default)]
    #[schema(value_type = String, example = "public")]
    pub visibility: Visibility,
    /// Also add this public comment to every child of this parent incident.
    #[serde(default)]
    pub copy_to_children: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommentView {
    pub id: i64,
    pub ticket_id: i64,
    /// user | contact | system
    #[schema(value_type = String)]
    pub author_kind: ActorKind,
    pub author_name: String,
    pub body: String,
    /// public | internal
    #[schema(value_type = String)]
    pub visibility: Visibility,
    pub created_at: DateTime<Utc>,
}

impl From<comment::Model> for CommentView {
    fn from(c: comment::Model) -> Self {
        Self {
            id: c.id,
            ticket_id: c.ticket_id,
            author_kind: c.author_kind,
            author_name: c.author_name,
            body: c.body,
            visibility: c.visibility,
            created_at: c.created_at,
        }
    }
}

/// The comment row, in the change's transaction.
pub(crate) async fn insert(
    db: &impl ConnectionTrait,
    ticket_id: i64,
    actor: &Actor,
    body: &str,
    visibility: Visibility,
    now: DateTime<Utc>,
) -> Result<comment::Model> {
    Ok(comment::ActiveModel {
        ticket_id: Set(ticket_id),
        author_kind: Set(actor.kind()),
        author_user_id: Set(actor.user_id()),
        author_contact_id: Set(actor.contact_id()),
        author_name: Set(actor.name().to_string()),
        body: Set(body.to_string()),
        visibility: Set(visibility),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Adds a comment through the change path.
pub async fn add_comment(
    state: &AppState,
    actor: &Actor,
    r: &str,
    input: NewComment,
    if_match: Option<i32>,
    now: DateTime<Utc>,
) -> Result<CommentView> {
    let req = ChangeRequest {
        ticket: TicketRef::from(r),
        change: Change::Comment { body: input.body, visibility: input.visibility },
        if_match,
        copy_to_children: input.copy_to_children,
    };
    change(state, actor, req, now)
        .await?
        .comment
        .map(Into::into)
        .ok_or_else(|| Error::Internal("a comment change wrote no comment".into()))
}

pub async fn list_comments(state: &AppState, actor: &Actor, r: &str) -> Result<Vec<CommentView>> {
    let t = load_visible(&state.db, actor, &TicketRef::from(r)).await?;
    let mut q = comment::Entity::find().filter(comment::Column::TicketId.eq(t.id));
    if actor.is_contact() {
        q = q.filter(comment::Column::Visibility.eq(Visibility::Public));
    }
    let rows = q.order_by_asc(comment::Column::Id).all(&state.db).await?;
    let seen = SeenBy::load(&state.db, actor, rows.iter().filter_map(|c| c.author_user_id).collect()).await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let id = c.author_user_id.or(c.author_contact_id);
            let who = seen.actor(c.author_kind, id, c.author_name.clone());
            CommentView { author_kind: who.kind, author_name: who.name, ..c.into() }
        })
        .collect())
}
