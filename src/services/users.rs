//! Staff users and their API tokens (README: Roles).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit;
use super::auth::{NewToken, generate_token, hash_password};
use super::error::{Error, OrTaken, Result};
use super::web_sessions::{self, Holder};
use crate::domain::actor::Actor;
use crate::domain::customer::{Language, valid_email};
use crate::domain::ticket::Role;
use crate::persistence::entities::{api_token, team, user};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    #[schema(value_type = String, example = "engineer")]
    pub role: Role,
    #[schema(example = "zh-CN")]
    pub language: String,
    /// Team name.
    pub team: Option<String>,
    pub active: bool,
    /// Created by `opsline token create --role`; not a person.
    pub service: bool,
    /// Always `***` when a password is set; passwords are write-only.
    pub password: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = String, example = "agent", pattern = "^(agent|engineer|lead|admin)$")]
    pub role: Role,
    #[schema(value_type = Option<String>, example = "zh-CN", pattern = "^(zh-CN|en)$")]
    pub language: Option<Language>,
    pub team: Option<String>,
    #[schema(write_only)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[schema(value_type = Option<String>, pattern = "^(agent|engineer|lead|admin)$")]
    pub role: Option<Role>,
    #[schema(value_type = Option<String>, pattern = "^(zh-CN|en)$")]
    pub language: Option<Language>,
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    pub active: Option<bool>,
    #[schema(write_only)]
    pub password: Option<String>,
}

pub fn valid_username(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

pub fn check_password(p: &str) -> Result<()> {
    if p.chars().count() < 10 || p.len() > 1024 {
        return Err(Error::invalid("password", "passwords have 10 to 1024 characters"));
    }
    Ok(())
}

async fn team_id(db: &impl ConnectionTrait, name: &str) -> Result<i64> {
    team::Entity::find()
        .filter(team::Column::Name.eq(name))
        .one(db)
        .await?
        .map(|t| t.id)
        .ok_or_else(|| Error::invalid("team", format!("no team named `{name}` (teams are configured in [teams])")))
}

pub async fn view(db: &impl ConnectionTrait, u: user::Model) -> Result<UserView> {
    let team = match u.team_id {
        Some(id) => team::Entity::find_by_id(id).one(db).await?.map(|t| t.name),
        None => None,
    };
    Ok(UserView {
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        email: u.email,
        role: u.role,
        language: u.language,
        team,
        active: u.active,
        service: u.service,
        password: u.password_hash.map(|_| "***".into()),
        created_at: u.created_at,
    })
}

pub async fn create(
    state: &AppState,
    by: &Actor,
    input: NewUser,
    service: bool,
    now: DateTime<Utc>,
) -> Result<UserView> {
    if !valid_username(&input.username) {
        return Err(Error::invalid(
            "username",
            "1–64 characters: letters, digits, `.`, `_` or `-`, starting with a letter or digit",
        ));
    }
    if let Some(e) = &input.email
        && !valid_email(e)
    {
        return Err(Error::invalid("email", "not an e-mail address"));
    }
    if let Some(p) = &input.password {
        check_password(p)?;
    }
    let display_name = input.display_name.clone().unwrap_or_else(|| input.username.clone());
    if display_name.trim().is_empty() || display_name.chars().count() > 200 {
        return Err(Error::invalid("display_name", "1–200 characters"));
    }
    let txn = state.db.begin().await?;
    let team_id = match &input.team {
        Some(t) => Some(team_id(&txn, t).await?),
        None => None,
    };
    let u = user::ActiveModel {
        username: Set(input.username.clone()),
        display_name: Set(display_name),
        email: Set(input.email.clone()),
        role: Set(input.role),
        language: Set(input.language.unwrap_or(Language::ZhCn).as_str().into()),
        team_id: Set(team_id),
        active: Set(true),
        service: Set(service),
        password_hash: Set(input.password.as_deref().map(hash_password).transpose()?),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .or_taken(|| Error::conflict("username_taken", format!("a user named `{}` exists", input.username)))?;
    audit::record(
        &txn,
        by,
        "user.created",
        audit::Target { kind: "user", id: Some(u.id) },
        json!({"username": u.username, "role": u.role}),
        now,
    )
    .await?;
    let v = view(&txn, u).await?;
    txn.commit().await?;
    Ok(v)
}

pub async fn list(state: &AppState) -> Result<Vec<UserView>> {
    let mut out = Vec::new();
    for u in user::Entity::find().order_by_asc(user::Column::Id).all(&state.db).await? {
        out.push(view(&state.db, u).await?);
    }
    Ok(out)
}

pub async fn get(state: &AppState, id: i64) -> Result<UserView> {
    let u =
        user::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| Error::not_found("user_not_found", "user"))?;
    view(&state.db, u).await
}

pub async fn find_by_username(db: &impl ConnectionTrait, username: &str) -> Result<user::Model> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("user_not_found", &format!("user `{username}`")))
}

pub async fn patch(state: &AppState, by: &Actor, id: i64, p: UserPatch, now: DateTime<Utc>) -> Result<UserView> {
    if let Some(Some(e)) = &p.email
        && !valid_email(e)
    {
        return Err(Error::invalid("email", "not an e-mail address"));
    }
    if let Some(pw) = &p.password {
        check_password(pw)?;
    }
    if let Some(d) = &p.display_name
        && (d.trim().is_empty() || d.chars().count() > 200)
    {
        return Err(Error::invalid("display_name", "1–200 characters"));
    }
    let txn = state.db.begin().await?;
    let u = user::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| Error::not_found("user_not_found", "user"))?;
    let mut am: user::ActiveModel = u.clone().into();
    if let Some(d) = p.display_name {
        am.display_name = Set(d);
    }
    if let Some(e) = p.email {
        am.email = Set(e);
    }
    if let Some(r) = p.role {
        am.role = Set(r);
    }
    if let Some(l) = p.language {
        am.language = Set(l.as_str().into());
    }
    if let Some(t) = p.team {
        am.team_id = Set(match t {
            Some(name) => Some(team_id(&txn, &name).await?),
            None => None,
        });
    }
    if let Some(pw) = &p.password {
        am.password_hash = Set(Some(hash_password(pw)?));
    }
    let deactivated = p.active == Some(false) && u.active;
    if let Some(a) = p.active {
        am.active = Set(a);
    }
    am.updated_at = Set(now);
    let u = am.update(&txn).await?;
    if deactivated || p.password.is_some() {
        web_sessions::end_all(&txn, Holder::User(u.id)).await?;
    }
    if deactivated {
        revoke_all_for_user(&txn, u.id, now).await?;
    }
    audit::record(
        &txn,
        by,
        "user.updated",
        audit::Target { kind: "user", id: Some(u.id) },
        json!({"deactivated": deactivated}),
        now,
    )
    .await?;
    let v = view(&txn, u).await?;
    txn.commit().await?;
    Ok(v)
}

async fn revoke_all_for_user(db: &impl ConnectionTrait, user_id: i64, now: DateTime<Utc>) -> Result<()> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(now))
        .filter(api_token::Column::UserId.eq(user_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_password(state: &AppState, username: &str, password: &str, now: DateTime<Utc>) -> Result<()> {
    check_password(password)?;
    let u = find_by_username(&state.db, username).await?;
    let txn = state.db.begin().await?;
    let mut am: user::ActiveModel = u.clone().into();
    am.password_hash = Set(Some(hash_password(password)?));
    am.updated_at = Set(now);
    am.update(&txn).await?;
    web_sessions::end_all(&txn, Holder::User(u.id)).await?;
    audit::record(
        &txn,
        &Actor::command_line(),
        "user.password_set",
        audit::Target { kind: "user", id: Some(u.id) },
        json!({"username": username}),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

// ---- tokens ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub user_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The token itself, shown once when it is created; `***` afterwards.
    pub token: String,
}

impl TokenView {
    fn of(t: api_token::Model, secret: Option<String>) -> Self {
        Self {
            id: t.id,
            name: t.name,
            user_id: t.user_id,
            contact_id: t.contact_id,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            token: secret.unwrap_or_else(|| "***".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// The user the token acts as; or give `role` to create a service user named `name`.
    pub user_id: Option<i64>,
    #[schema(value_type = Option<String>, pattern = "^(agent|engineer|lead|admin)$")]
    pub role: Option<Role>,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenPatch {
    pub name: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub(crate) async fn insert_token(
    db: &impl ConnectionTrait,
    name: &str,
    user_id: Option<i64>,
    contact_id: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<TokenView> {
    let NewToken { token, public_id, secret_hash } = generate_token();
    let row = api_token::ActiveModel {
        public_id: Set(public_id),
        secret_hash: Set(secret_hash),
        name: Set(name.into()),
        user_id: Set(user_id),
        contact_id: Set(contact_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(TokenView::of(row, Some(token)))
}

/// Creates a token for an existing user, or for a service user of `role` named `name` (created
/// when missing).
pub async fn create_token(state: &AppState, by: &Actor, req: NewTokenRequest, now: DateTime<Utc>) -> Result<TokenView> {
    if req.name.trim().is_empty() || req.name.chars().count() > 200 {
        return Err(Error::invalid("name", "1–200 characters"));
    }
    if req.expires_at.is_some_and(|e| e <= now) {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    let user_id = match (req.user_id, req.role) {
        (Some(id), None) => {
            let u = user::Entity::find_by_id(id)
                .one(&state.db)
                .await?
                .ok_or_else(|| Error::not_found("user_not_found", "user"))?;
            if !u.active {
                return Err(Error::conflict("user_inactive", "the user is deactivated"));
            }
            u.id
        }
        (None, Some(role)) => {
            match user::Entity::find().filter(user::Column::Username.eq(&req.name)).one(&state.db).await? {
                Some(u) if u.service && u.role == role && u.active => u.id,
                Some(_) => {
                    return Err(Error::conflict(
                        "username_taken",
                        format!("a user named `{}` exists and is not a service user with role {role}", req.name),
                    ));
                }
                None => {
                    let new = NewUser {
                        username: req.name.clone(),
                        display_name: None,
                        email: None,
                        role,
                        language: None,
                        team: None,
                        password: None,
                    };
                    create(state, &Actor::system("system"), new, true, now).await?.id
                }
            }
        }
        _ => return Err(Error::invalid("user_id", "give either user_id or role (with name), not both or neither")),
    };
    let txn = state.db.begin().await?;
    let t = insert_token(&txn, &req.name, Some(user_id), None, req.expires_at, now).await?;
    audit::record(
        &txn,
        by,
        "token.created",
        audit::Target { kind: "token", id: Some(t.id) },
        json!({"user_id": user_id, "name": req.name}),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(t)
}

pub async fn list_tokens(state: &AppState) -> Result<Vec<TokenView>> {
    Ok(api_token::Entity::find()
        .order_by_asc(api_token::Column::Id)
        .limit(1000)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|t| TokenView::of(t, None))
        .collect())
}

pub async fn patch_token(
    state: &AppState,
    by: &Actor,
    id: i64,
    p: TokenPatch,
    now: DateTime<Utc>,
) -> Result<TokenView> {
    if let Some(n) = &p.name
        && (n.trim().is_empty() || n.chars().count() > 200)
    {
        return Err(Error::invalid("name", "1–200 characters"));
    }
    let txn = state.db.begin().await?;
    let t = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("token_not_found", "token"))?;
    let mut am: api_token::ActiveModel = t.into();
    if let Some(n) = p.name {
        am.name = Set(n);
    }
    if let Some(e) = p.expires_at {
        am.expires_at = Set(Some(e));
    }
    let t = am.update(&txn).await?;
    audit::record(&txn, by, "token.updated", audit::Target { kind: "token", id: Some(t.id) }, json!({}), now).await?;
    txn.commit().await?;
    Ok(TokenView::of(t, None))
}

/// Revokes a token; every instance checks the database on each request, so it stops working at
/// once everywhere.
pub async fn revoke_token(state: &AppState, by: &Actor, id: i64, now: DateTime<Utc>) -> Result<()> {
    let txn = state.db.begin().await?;
    let t = api_token::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("token_not_found", "token"))?;
    if t.revoked_at.is_none() {
        let mut am: api_token::ActiveModel = t.into();
        am.revoked_at = Set(Some(now));
        am.update(&txn).await?;
    }
    audit::record(&txn, by, "token.revoked", audit::Target { kind: "token", id: Some(id) }, json!({}), now).await?;
    txn.commit().await?;
    Ok(())
}
