//! Attachments: stored in the database with their SHA-256 (so every instance serves them), public
//! or internal, always served as downloads.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::error::{Error, Result};
use super::change::{ChangeRequest, TicketRef, change, load_visible};
use crate::domain::actor::Actor;
use crate::domain::ticket::{Change, NewFile, Visibility};
use crate::persistence::entities::attachment;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema, FromQueryResult)]
pub struct AttachmentView {
    pub id: i64,
    pub ticket_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub visibility: String,
    pub uploader_name: String,
    pub created_at: DateTime<Utc>,
}

pub struct AttachmentContent {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A file name safe to store and to put in `Content-Disposition`: no paths, no control or quote
/// characters.
pub(crate) fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String =
        base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | ';' | '\\')).take(200).collect();
    if cleaned.trim().is_empty() || cleaned == "." || cleaned == ".." { "attachment".into() } else { cleaned }
}

/// A content type as given, if it looks like one.
pub(crate) fn clean_content_type(ct: &str) -> String {
    if ct.len() > 200 || !ct.contains('/') { "application/octet-stream".to_string() } else { ct.to_string() }
}

/// Attaches a file through the change path.
pub async fn add_attachment(
    state: &AppState,
    actor: &Actor,
    r: &str,
    input: NewFile,
    now: DateTime<Utc>,
) -> Result<AttachmentView> {
    let req = ChangeRequest::new(r, Change::Attach(Box::new(input)));
    let a = change(state, actor, req, now)
        .await?
        .attachment
        .ok_or_else(|| Error::Internal("an attachment change wrote no attachment".into()))?;
    Ok(AttachmentView {
        id: a.id,
        ticket_id: a.ticket_id,
        filename: a.filename,
        content_type: a.content_type,
        size_bytes: a.size_bytes,
        sha256: a.sha256,
        visibility: a.visibility.to_string(),
        uploader_name: a.uploader_name,
        created_at: a.created_at,
    })
}

pub async fn list_attachments(state: &AppState, actor: &Actor, r: &str) -> Result<Vec<AttachmentView>> {
    let t = load_visible(&state.db, actor, &TicketRef::from(r)).await?;
    let mut q = attachment::Entity::find().filter(attachment::Column::TicketId.eq(t.id));
    if actor.is_contact() {
        q = q.filter(attachment::Column::Visibility.eq(Visibility::Public));
    }
    Ok(q.select_only()
        .columns([
            attachment::Column::Id,
            attachment::Column::TicketId,
            attachment::Column::Filename,
            attachment::Column::ContentType,
            attachment::Column::SizeBytes,
            attachment::Column::Sha256,
            attachment::Column::Visibility,
            attachment::Column::UploaderName,
            attachment::Column::CreatedAt,
        ])
        .order_by_asc(attachment::Column::Id)
        .into_model::<AttachmentView>()
        .all(&state.db)
        .await?)
}

pub async fn attachment_content(state: &AppState, actor: &Actor, r: &str, id: i64) -> Result<AttachmentContent> {
    let t = load_visible(&state.db, actor, &TicketRef::from(r)).await?;
    let a = attachment::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|a| a.ticket_id == t.id)
        .filter(|a| !(actor.is_contact() && a.visibility != Visibility::Public))
        .ok_or_else(|| Error::not_found("attachment_not_found", "attachment"))?;
    Ok(AttachmentContent { filename: a.filename, content_type: a.content_type, data: a.data })
}

#[cfg(test)]
mod tests {
    use super::clean_filename;

    #[test]
    fn filenames_lose_paths_and_quotes() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\logs\\app.log"), "app.log");
        assert_eq!(clean_filename("a\"b;c.txt"), "abc.txt");
        assert_eq!(clean_filename(".."), "attachment");
    }
}
