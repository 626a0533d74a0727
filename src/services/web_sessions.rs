//! Web sign-in: staff by username and password, contacts by e-mail and password (argon2) or an
//! e-mailed one-time link (`contact_links`). Sessions are kept in the database (only a hash of
//! their id), each with the CSRF token its forms must carry. A session ends when signed out,
//! after `SESSION_HOURS`, or when its user or contact is deactivated.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use super::auth::{Principal, verify_password};
use super::error::{Error, Result};
use crate::persistence::entities::{contact, user, web_session};
use crate::state::AppState;

/// How long a session lasts.
pub const SESSION_HOURS: i64 = 12;

pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// A signed-in visitor: who, and the CSRF token of their forms.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

/// Checks a staff member's password and opens a session; returns its id (for the cookie). Unknown
/// users, service users, inactive users and wrong passwords are all the same refusal.
pub async fn sign_in_staff(state: &AppState, username: &str, password: &str, now: DateTime<Utc>) -> Result<String> {
    let denied = || Error::Unauthorized("wrong username or password".into());
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(username.trim()))
        .one(&state.db)
        .await?
        .filter(|u| u.active && !u.service)
        .ok_or_else(denied)?;
    let ok = u.password_hash.as_deref().is_some_and(|h| verify_password(password, h));
    if !ok {
        return Err(denied());
    }
    let id = open(&state.db, Some(u.id), None, now).await?;
    tracing::info!(user = %u.username, "signed in");
    Ok(id)
}

/// Checks a contact's password (set through an e-mailed link) and opens a session. Unknown
/// addresses, inactive contacts or customers, contacts without a password and wrong passwords are
/// all the same refusal.
pub async fn sign_in_contact(state: &AppState, email: &str, password: &str, now: DateTime<Utc>) -> Result<String> {
    let denied = || Error::Unauthorized("wrong e-mail address or password".into());
    let c = contact::Entity::find()
        .filter(contact::Column::EmailLower.eq(email.trim().to_lowercase()))
        .one(&state.db)
        .await?
        .filter(|c| c.active)
        .ok_or_else(denied)?;
    let ok = c.password_hash.as_deref().is_some_and(|h| verify_password(password, h));
    if !ok {
        return Err(denied());
    }
    let id = open(&state.db, None, Some(c.id), now).await?;
    tracing::info!(contact = c.id, "contact signed in");
    Ok(id)
}

/// Stores a new session for a user or a contact; returns its id (for the cookie).
pub(crate) async fn open(
    db: &impl sea_orm::ConnectionTrait,
    user_id: Option<i64>,
    contact_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = random_token();
    web_session::ActiveModel {
        id_hash: Set(hash(&id)),
        user_id: Set(user_id),
        contact_id: Set(contact_id),
        csrf: Set(random_token()),
        created_at: Set(now),
        expires_at: Set(now + Duration::hours(SESSION_HOURS)),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// The session behind a cookie's id, if it is current and its user still active.
pub async fn find(state: &AppState, id: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
    let Some(s) = web_session::Entity::find_by_id(hash(id)).one(&state.db).await?.filter(|s| s.expires_at > now) else {
        return Ok(None);
    };
    if let Some(cid) = s.contact_id {
        let Some(c) = contact::Entity::find_by_id(cid).one(&state.db).await?.filter(|c| c.active) else {
            return Ok(None);
        };
        let principal = Principal::Contact { contact_id: c.id, customer_id: c.customer_id, name: c.name };
        return Ok(Some(Session { principal, csrf: s.csrf }));
    }
    let Some(uid) = s.user_id else { return Ok(None) };
    let Some(u) = user::Entity::find_by_id(uid).one(&state.db).await?.filter(|u| u.active) else {
        return Ok(None);
    };
    let principal =
        Principal::Staff { user_id: u.id, username: u.username, display_name: u.display_name, role: u.role };
    Ok(Some(Session { principal, csrf: s.csrf }))
}

pub async fn sign_out(state: &AppState, id: &str) -> Result<()> {
    web_session::Entity::delete_by_id(hash(id)).exec(&state.db).await?;
    Ok(())
}
