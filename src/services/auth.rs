//! Who is calling: API tokens (stored hashed, compared in constant time) resolved to a staff user
//! or a customer contact; passwords hashed with argon2.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{Error, Result};
use crate::domain::actor::Actor;
use crate::domain::ticket::Role;
use crate::persistence::entities::{api_token, contact, user};
use crate::state::AppState;

/// A staff user or a customer contact, as authenticated for one request: an [`Actor`] that is
/// never Opsline itself.
pub type Principal = Actor;

/// A new token's parts: what the caller sees once, and what is stored.
pub struct NewToken {
    pub token: String,
    pub public_id: String,
    pub secret_hash: String,
}

const PREFIX: &str = "opl_";

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `<prefix><public id>_<secret>`: the public id finds the row, the secret's hash is compared in
/// constant time. Secrets are 256 random bits, so a fast hash is enough.
pub fn generate_key(prefix: &str) -> NewToken {
    let public_id = random_b64(9).replace(['-', '_'], "x");
    let secret = random_b64(32);
    NewToken { token: format!("{prefix}{public_id}_{secret}"), secret_hash: hash_secret(&secret), public_id }
}

/// An API token, `opl_…`.
pub fn generate_token() -> NewToken {
    generate_key(PREFIX)
}

/// (public id, secret) of a key made by [`generate_key`] with `prefix`.
pub fn split_key<'a>(prefix: &str, key: &'a str) -> Option<(&'a str, &'a str)> {
    key.strip_prefix(prefix)?.split_once('_')
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    bool::from(hash_secret(secret).as_bytes().ct_eq(stored_hash.as_bytes()))
}

/// What authenticating needs of a token's row, and of its user's when it acts as one.
struct TokenRow {
    secret_hash: String,
    revoked: bool,
    expires_at: Option<DateTime<Utc>>,
    contact_id: Option<i64>,
    /// Set when the token acts as a user: the user, if that row exists.
    staff: Option<Option<Staff>>,
}

struct Staff {
    id: i64,
    username: String,
    display_name: String,
    role: Role,
    active: bool,
}

/// Resolves a bearer token. Missing, malformed, unknown, expired and revoked tokens, and tokens of
/// inactive users or contacts, are all the same 401. Every request reads the token again (no
/// cache), so a revoked token stops working on every instance at once.
pub async fn authenticate(state: &AppState, token: &str, now: DateTime<Utc>) -> Result<Principal> {
    let denied = || Error::Unauthorized("a valid API token is required (Authorization: Bearer opl_…)".into());
    let (public_id, secret) = split_key(PREFIX, token).ok_or_else(denied)?;
    let row = match &state.tokens {
        Some(reader) => reader.read(public_id).await?,
        None => read(&state.db, public_id).await?,
    };
    let row = row.ok_or_else(denied)?;
    if !secret_matches(secret, &row.secret_hash) {
        return Err(denied());
    }
    if row.revoked || row.expires_at.is_some_and(|e| e <= now) {
        return Err(denied());
    }
    if let Some(staff) = row.staff {
        let u = staff.filter(|u| u.active).ok_or_else(denied)?;
        return Ok(Principal::Staff {
            user_id: u.id,
            username: u.username,
            display_name: u.display_name,
            role: u.role,
        });
    }
    if let Some(cid) = row.contact_id {
        let c = contact::Entity::find_by_id(cid).one(&state.db).await?.filter(|c| c.active).ok_or_else(denied)?;
        return Ok(Principal::Contact { contact_id: c.id, customer_id: c.customer_id, name: c.name });
    }
    Err(denied())
}

/// The token and its user in one read, through the pool.
async fn read(db: &impl ConnectionTrait, public_id: &str) -> Result<Option<TokenRow>> {
    let found = api_token::Entity::find()
        .filter(api_token::Column::PublicId.eq(public_id))
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    Ok(found.map(|(t, u)| TokenRow {
        secret_hash: t.secret_hash,
        revoked: t.revoked_at.is_some(),
        expires_at: t.expires_at,
        contact_id: t.contact_id,
        staff: t.user_id.map(|_| {
            u.map(|u| Staff {
                id: u.id,
                username: u.username,
                display_name: u.display_name,
                role: u.role,
                active: u.active,
            })
        }),
    }))
}

/// Token reads on PostgreSQL, on connections of their own rather than the pool's. Every API
/// request reads its token; through the pool that read costs a checkout and, when the connection
/// goes back, a ping (sqlx tests every connection it takes back): two round trips and a task for
/// one indexed read, a quarter of what opening a ticket over HTTP cost. Each of the few
/// connections here serves one read at a time; one is opened on first use, and again after an
/// error (a read that fails on a connection kept from before is tried once more on a new one).
pub struct TokenReader {
    options: PgConnectOptions,
    /// How long opening a connection may take: the pool's bound on a checkout.
    connect_within: std::time::Duration,
    slots: Vec<tokio::sync::Mutex<Option<PgConnection>>>,
    next: AtomicUsize,
}

const TOKEN_SQL: &str = "SELECT t.secret_hash, t.revoked_at IS NOT NULL, t.expires_at, t.user_id, t.contact_id, \
                         u.id, u.username, u.display_name, u.role, u.active \
                         FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.public_id = $1";

type Fetched = (
    String,
    bool,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
);

impl TokenReader {
    /// `None` unless `db` is PostgreSQL. `slots` connections at the most.
    pub fn for_db(db: &DatabaseConnection, slots: usize) -> Option<TokenReader> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool();
        let options = pool.connect_options().as_ref().clone();
        let connect_within = pool.options().get_acquire_timeout();
        let slots = (0..slots.max(1)).map(|_| tokio::sync::Mutex::new(None)).collect();
        Some(TokenReader { options, connect_within, slots, next: AtomicUsize::new(0) })
    }

    async fn read(&self, public_id: &str) -> Result<Option<TokenRow>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        // A connection kept from before may have been closed by the server meanwhile: its
        // failure is tried once more on a new one. A new connection's failure is the answer.
        let mut kept = slot.is_some();
        let fetched = loop {
            let conn = match slot.as_mut() {
                Some(c) => c,
                None => {
                    let connect = PgConnection::connect_with(&self.options);
                    let opened = tokio::time::timeout(self.connect_within, connect).await.map_err(|_| {
                        DbErr::Conn(sea_orm::RuntimeErr::Internal(format!(
                            "no connection for token reads within {} ms",
                            self.connect_within.as_millis()
                        )))
                    })?;
                    slot.insert(opened.map_err(db_err)?)
                }
            };
            match sqlx::query_as::<_, Fetched>(TOKEN_SQL).bind(public_id).fetch_optional(&mut *conn).await {
                Ok(f) => break f,
                Err(e) => {
                    *slot = None;
                    if !kept {
                        return Err(db_err(e).into());
                    }
                    kept = false;
                }
            }
        };
        drop(slot);
        let Some((secret_hash, revoked, expires_at, user_id, contact_id, uid, username, display_name, role, active)) =
            fetched
        else {
            return Ok(None);
        };
        let staff = match (uid, username, display_name, role, active) {
            (Some(id), Some(username), Some(display_name), Some(role), Some(active)) => {
                let role = Role::parse(&role).ok_or_else(|| {
                    Error::Db(DbErr::Type(format!("users, row {id}: `role` holds `{role}`, which is not a role")))
                })?;
                Some(Staff { id, username, display_name, role, active })
            }
            _ => None,
        };
        Ok(Some(TokenRow { secret_hash, revoked, expires_at, contact_id, staff: user_id.map(|_| staff) }))
    }
}

fn db_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into()))
}

pub fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(e.to_string()))
}

/// An argon2 hash with `hash_password`'s parameters and a random output that no password is known
/// to produce: what an account without a password (or no account at all) is checked against.
const NO_PASSWORD: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$b3BzbGluZS1uby1hY2NvdW50$k/Hx8S6maeUXnPL/JLLEI4jg17EXYmqFOG8IUVFVRmI";

/// Whether `password` matches the `stored` hash. With nothing stored it still runs argon2, on a
/// stand-in hash, and says no: how long it takes tells nothing about whether an account exists.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let hash = stored.unwrap_or(NO_PASSWORD);
    let matched =
        PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
    matched && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_account_costs_what_an_account_does() {
        // The stand-in is a real argon2 hash with the parameters of every stored one, so
        // verifying against it does the same work; it matches nothing anyone is told.
        let fresh = hash_password("anything at all").unwrap();
        let params = |h: &str| PasswordHash::new(h).unwrap().params.to_string();
        let stand_in = PasswordHash::new(NO_PASSWORD).expect("the stand-in parses");
        assert_eq!(stand_in.params.to_string(), params(&fresh));
        assert_eq!(stand_in.algorithm, PasswordHash::new(&fresh).unwrap().algorithm);
        assert!(stand_in.hash.is_some_and(|h| h.len() == 32));
        assert!(!verify_password("", None));
        assert!(!verify_password("opsline", None));
    }

    #[test]
    fn tokens_split_into_public_id_and_secret() {
        let t = generate_token();
        let (id, secret) = split_key(PREFIX, &t.token).unwrap();
        assert_eq!(id, t.public_id);
        assert_eq!(hash_secret(secret), t.secret_hash);
        assert!(split_key(PREFIX, "Bearer nonsense").is_none());
    }

    #[test]
    fn passwords_verify_only_with_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
    }
}
