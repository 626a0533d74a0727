//! Web sign-in: staff by username and password, contacts by e-mail and password (argon2) or an
//! e-mailed one-time link (`contact_links`). Sessions are kept in the database (only a hash of
//! their id), each with the CSRF token its forms must carry. A session ends when signed out,
//! after `SESSION_HOURS`, and — through `end_all` — when its user's or contact's password changes
//! or the user is deactivated (a later reactivation revives none of them).

use std::time::Instant;

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
/// users, service users, inactive users and wrong passwords are all the same refusal, and cost
/// the same time.
pub async fn sign_in_staff(state: &AppState, username: &str, password: &str, now: DateTime<Utc>) -> Result<String> {
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(username.trim()))
        .one(&state.db)
        .await?
        .filter(|u| u.active && !u.service);
    let stored = u.as_ref().and_then(|u| u.password_hash.clone());
    let Some(u) = verified(state, username, password, stored).await?.and(u) else {
        return Err(Error::Unauthorized("wrong username or password".into()));
    };
    let id = open(&state.db, Some(u.id), None, now).await?;
    tracing::info!(user = %u.username, "signed in");
    Ok(id)
}

/// Checks a contact's password (set through an e-mailed link) and opens a session. Unknown
/// addresses, inactive contacts or customers, contacts without a password and wrong passwords are
/// all the same refusal, and cost the same time.
pub async fn sign_in_contact(state: &AppState, email: &str, password: &str, now: DateTime<Utc>) -> Result<String> {
    let c = contact::Entity::find()
        .filter(contact::Column::EmailLower.eq(email.trim().to_lowercase()))
        .one(&state.db)
        .await?
        .filter(|c| c.active);
    let stored = c.as_ref().and_then(|c| c.password_hash.clone());
    let Some(c) = verified(state, email, password, stored).await?.and(c) else {
        return Err(Error::Unauthorized("wrong e-mail address or password".into()));
    };
    let id = open(&state.db, None, Some(c.id), now).await?;
    tracing::info!(contact = c.id, "contact signed in");
    Ok(id)
}

/// The one check of a sign-in: the account's budget of failures first (429 once spent, the right
/// password included), then the password — on a blocking thread, and against a stand-in hash
/// when the account has none, so that an unknown account costs what a known one does. `Some(())`
/// when it matched; a failure counts against `account`.
async fn verified(state: &AppState, account: &str, password: &str, stored: Option<String>) -> Result<Option<()>> {
    state.limits.failed_sign_ins.check(account, Instant::now())?;
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, stored.as_deref()))
        .await
        .map_err(Error::internal)?;
    if !ok {
        state.limits.failed_sign_ins.failed(account, Instant::now());
    }
    Ok(ok.then_some(()))
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

/// Whose sessions `end_all` ends.
#[derive(Debug, Clone, Copy)]
pub enum Holder {
    User(i64),
    Contact(i64),
}

/// Ends every session of a user or a contact: every change of a password and every deactivation
/// calls this, in the transaction that makes the change. Returns how many ended.
pub async fn end_all(db: &impl sea_orm::ConnectionTrait, holder: Holder) -> Result<u64> {
    let which = match holder {
        Holder::User(id) => web_session::Column::UserId.eq(id),
        Holder::Contact(id) => web_session::Column::ContactId.eq(id),
    };
    Ok(web_session::Entity::delete_many().filter(which).exec(db).await?.rows_affected)
}

pub async fn sign_out(state: &AppState, id: &str) -> Result<()> {
    web_session::Entity::delete_by_id(hash(id)).exec(&state.db).await?;
    Ok(())
}
