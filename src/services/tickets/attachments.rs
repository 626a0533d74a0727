//! Attachments: stored in the database with their SHA-256 (so every instance serves them), public
//! or internal, always served as downloads.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::{Error, Result};
use super::comments::Visibility;
use super::writes::save;
use super::{Who, event, load_visible};
use crate::domain::ticket::{Action, Status, allowed_actions};
use crate::persistence::entities::attachment;
use crate::state::AppState;

pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub visibility: Visibility,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
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
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String =
        base.chars().filter(|c| !c.is_control() && !matches!(c, '"' | ';' | '\\')).take(200).collect();
    if cleaned.trim().is_empty() || cleaned == "." || cleaned == ".." { "attachment".into() } else { cleaned }
}

pub async fn add_attachment(
    state: &AppState,
    principal: &Principal,
    r: &str,
    input: NewAttachment,
    now: DateTime<Utc>,
) -> Result<AttachmentView> {
    if input.data.is_empty() {
        return Err(Error::invalid("file", "the file is empty"));
    }
    let max = state.config.settings.attachments.max_bytes;
    if input.data.len() as u64 > max {
        return Err(Error::Invalid {
            code: "payload_too_large",
            field: Some("file".into()),
            message: format!("attachments are at most {max} bytes"),
        });
    }
    if matches!(principal, Principal::Contact { .. }) && input.visibility == Visibility::Internal {
        return Err(Error::invalid("visibility", "customers add public attachments only"));
    }
    let filename = clean_filename(&input.filename);
    let content_type = if input.content_type.len() > 200 || !input.content_type.contains('/') {
        "application/octet-stream".to_string()
    } else {
        input.content_type.clone()
    };
    let sha = hex::encode(Sha256::digest(&input.data));
    let size = input.data.len() as i64;
    let txn = state.db.begin().await?;
    let t = load_visible(&txn, principal, r).await?;
    let status: Status = t.status.parse().map_err(Error::Internal)?;
    if !Action::Attach.allowed_from(status) {
        return Err(Error::InvalidTransition {
            message: format!("attachments are closed: the ticket is {status}"),
            status: status.to_string(),
            allowed_actions: allowed_actions(status, principal.actor(), false).iter().map(|a| a.to_string()).collect(),
        });
    }
    let (kind, user, contact) = match principal {
        Principal::Staff { user_id, .. } => ("user", Some(*user_id), None),
        Principal::Contact { contact_id, .. } => ("contact", None, Some(*contact_id)),
    };
    let a = attachment::ActiveModel {
        ticket_id: Set(t.id),
        filename: Set(filename),
        content_type: Set(content_type),
        size_bytes: Set(size),
        sha256: Set(sha),
        visibility: Set(input.visibility.as_str().into()),
        data: Set(input.data),
        uploader_kind: Set(kind.into()),
        uploader_user_id: Set(user),
        uploader_contact_id: Set(contact),
        uploader_name: Set(principal.name().to_string()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    event(
        &txn,
        t.id,
        Who::Principal(principal),
        "attachment_added",
        None,
        Some(json!({"attachment_id": a.id, "filename": a.filename, "sha256": a.sha256, "visibility": a.visibility})),
        None,
        now,
    )
    .await?;
    if !save(&txn, t.clone().into_active_model(), &t, &mut [], now, &mut crate::metrics::Tally::default()).await? {
        return Err(Error::conflict("concurrent_update", "the ticket changed meanwhile; try again"));
    }
    txn.commit().await?;
    Ok(view(
        a.id,
        a.ticket_id,
        a.filename,
        a.content_type,
        a.size_bytes,
        a.sha256,
        a.visibility,
        a.uploader_name,
        a.created_at,
    ))
}

#[allow(clippy::too_many_arguments)]
fn view(
    id: i64,
    ticket_id: i64,
    filename: String,
    content_type: String,
    size_bytes: i64,
    sha256: String,
    visibility: String,
    uploader_name: String,
    created_at: DateTime<Utc>,
) -> AttachmentView {
    AttachmentView { id, ticket_id, filename, content_type, size_bytes, sha256, visibility, uploader_name, created_at }
}

type Row = (i64, i64, String, String, i64, String, String, String, DateTime<Utc>);

pub async fn list_attachments(state: &AppState, principal: &Principal, r: &str) -> Result<Vec<AttachmentView>> {
    let t = load_visible(&state.db, principal, r).await?;
    let mut q = attachment::Entity::find().filter(attachment::Column::TicketId.eq(t.id));
    if matches!(principal, Principal::Contact { .. }) {
        q = q.filter(attachment::Column::Visibility.eq("public"));
    }
    let rows: Vec<Row> = q
        .select_only()
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
        .into_tuple()
        .all(&state.db)
        .await?;
    Ok(rows.into_iter().map(|(a, b, c, d, e, f, g, h, i)| view(a, b, c, d, e, f, g, h, i)).collect())
}

pub async fn attachment_content(
    state: &AppState,
    principal: &Principal,
    r: &str,
    id: i64,
) -> Result<AttachmentContent> {
    let t = load_visible(&state.db, principal, r).await?;
    let a = attachment::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .filter(|a| a.ticket_id == t.id)
        .filter(|a| !(matches!(principal, Principal::Contact { .. }) && a.visibility != "public"))
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
