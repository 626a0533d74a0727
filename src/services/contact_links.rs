//! One-time portal links for contacts: "sign me in", "set my password" and "sign this visit's
//! work order" (which opens the visit in the portal). Asking for one writes
//! the link's row and its e-mail's outbox row in one transaction; the e-mail carries a token
//! signed with `web.secret_key` (made when the mail is sent, so no usable secret is stored). A
//! link works once, for `LINK_MINUTES`, and only while its contact is active.

use crate::domain::delivery::MessageKind;
use crate::signing::SignedFor;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::auth::hash_password;
use super::error::{Error, Result};
use super::web_sessions;
use crate::persistence::entities::{contact, contact_link};
use crate::state::AppState;

/// How long an e-mailed link works.
pub const LINK_MINUTES: i64 = 60;
/// The outbox `kind` of link mails.
pub const KIND: &str = "portal_link";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    SignIn,
    Password,
    /// Sign a visit's work order: the link signs the contact in and opens the visit.
    SignVisit,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign_in",
            Purpose::Password => "password",
            Purpose::SignVisit => "sign_visit",
        }
    }
}

/// What the outbox keeps for a link mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkMail {
    #[serde(rename = "type")]
    pub kind: String,
    pub link_id: i64,
    pub purpose: Purpose,
    pub expires_at: DateTime<Utc>,
    pub name: String,
    pub language: String,
    /// For a `sign_visit` link: the ticket the visit is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
}

/// The value signed into a link's token.
pub fn token_value(link_id: i64, expires_at: DateTime<Utc>) -> String {
    format!("link-{link_id}-{}", expires_at.timestamp())
}

/// Queues a link for the active contact with this address. Says nothing about whether one exists:
/// `Ok(None)` for an unknown address, so the page answers the same either way.
pub async fn request(state: &AppState, email: &str, purpose: Purpose, now: DateTime<Utc>) -> Result<Option<i64>> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 {
        return Err(Error::invalid("email", "an e-mail address"));
    }
    let Some(c) = contact::Entity::find()
        .filter(contact::Column::EmailLower.eq(email))
        .one(&state.db)
        .await?
        .filter(|c| c.active)
    else {
        return Ok(None);
    };
    let txn = state.db.begin().await?;
    let link = queue(&txn, &c, purpose, None, now).await?;
    txn.commit().await?;
    state.wake_delivery.notify_one();
    tracing::info!(contact = c.id, purpose = purpose.as_str(), "portal link queued");
    Ok(Some(link))
}

/// Queues a link to sign visit `visit_id` (of ticket `ticket_number`) for contact `c`; returns
/// when it expires.
pub async fn request_signature(
    state: &AppState,
    c: &contact::Model,
    visit_id: i64,
    ticket_number: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>> {
    let txn = state.db.begin().await?;
    queue(&txn, c, Purpose::SignVisit, Some((visit_id, ticket_number)), now).await?;
    txn.commit().await?;
    state.wake_delivery.notify_one();
    tracing::info!(contact = c.id, visit = visit_id, "visit signature link queued");
    Ok(now + Duration::minutes(LINK_MINUTES))
}

/// The link's row and its mail's outbox row, in the caller's transaction; returns the link's id.
async fn queue(
    txn: &impl ConnectionTrait,
    c: &contact::Model,
    purpose: Purpose,
    visit: Option<(i64, &str)>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let expires_at = now + Duration::minutes(LINK_MINUTES);
    let link = contact_link::ActiveModel {
        contact_id: Set(c.id),
        purpose: Set(purpose.as_str().into()),
        visit_id: Set(visit.map(|(id, _)| id)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    let mail = LinkMail {
        kind: format!("portal.{}", purpose.as_str()),
        link_id: link.id,
        purpose,
        expires_at,
        name: c.name.clone(),
        language: c.language.clone(),
        ticket_number: visit.map(|(_, n)| n.to_string()),
    };
    let payload = serde_json::to_string(&mail).map_err(|e| Error::Internal(e.to_string()))?;
    let key = format!("portal-link:{}", link.id);
    super::delivery::queue_mail(txn, key, c.email.clone(), MessageKind::PortalLink, payload, now).await?;
    Ok(link.id)
}

/// The link a token names, if the token is genuine, unexpired and unused, and its contact active.
pub async fn check(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(contact_link::Model, contact::Model)>> {
    let Some(value) = state.signer.verify(SignedFor::PortalLink, token) else { return Ok(None) };
    let Some((id, expires)) = value.strip_prefix("link-").and_then(|v| v.split_once('-')) else { return Ok(None) };
    let (Ok(id), Ok(expires)) = (id.parse::<i64>(), expires.parse::<i64>()) else { return Ok(None) };
    if now.timestamp() >= expires {
        return Ok(None);
    }
    let Some(link) = contact_link::Entity::find_by_id(id).one(&state.db).await? else { return Ok(None) };
    if link.used_at.is_some() || link.expires_at <= now || link.expires_at.timestamp() != expires {
        return Ok(None);
    }
    let Some(c) = contact::Entity::find_by_id(link.contact_id).one(&state.db).await?.filter(|c| c.active) else {
        return Ok(None);
    };
    Ok(Some((link, c)))
}

/// Uses a link: marks it used (once, whichever request is first), sets the password when the link
/// is for one, and opens a session — one transaction. Returns the session id and the visit a
/// `sign_visit` link opens, or `None` when the link no longer works.
pub async fn redeem(
    state: &AppState,
    token: &str,
    password: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<(String, Option<i64>)>> {
    let Some((link, c)) = check(state, token, now).await? else { return Ok(None) };
    let new_hash = match (link.purpose.as_str(), password) {
        ("password", Some(p)) => {
            if p.chars().count() < 10 || p.len() > 1024 {
                return Err(Error::invalid("password", "a password has 10 to 1024 characters"));
            }
            Some(hash_password(p)?)
        }
        ("password", None) => return Err(Error::invalid("password", "choose a password")),
        _ => None,
    };
    let txn = state.db.begin().await?;
    let used = contact_link::Entity::update_many()
        .col_expr(contact_link::Column::UsedAt, Expr::value(Some(now)))
        .filter(contact_link::Column::Id.eq(link.id))
        .filter(contact_link::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Ok(None);
    }
    if let Some(h) = new_hash {
        contact::Entity::update_many()
            .col_expr(contact::Column::PasswordHash, Expr::value(Some(h)))
            .col_expr(contact::Column::UpdatedAt, Expr::value(now))
            .filter(contact::Column::Id.eq(c.id))
            .exec(&txn)
            .await?;
        web_sessions::end_all(&txn, web_sessions::Holder::Contact(c.id)).await?;
    }
    let id = web_sessions::open(&txn, None, Some(c.id), now).await?;
    txn.commit().await?;
    tracing::info!(contact = c.id, purpose = %link.purpose, "portal link used");
    Ok(Some((id, link.visit_id)))
}
