//! Customers, contacts, users and tokens.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use crate::domain::ticket::Role;

use super::responses as errors;
use crate::services::customers::{self, ContactView, CustomerPatch, CustomerView, NewContact, NewCustomer};
use crate::services::users::{self, NewTokenRequest, NewUser, TokenPatch, TokenView, UserPatch, UserView};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Part of the name or key.
    q: Option<String>,
}

/// Customers, by name.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, description = "Customers", body = Vec<CustomerView>),
        (status = 400, description = "Bad query", body = ErrorBody), errors::Staff),
    security(("bearer" = [])))]
#[get("/customers")]
pub async fn list_customers(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<CustomerQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(customers::list(&state, q.q.as_deref()).await?))
}

/// Add a customer; the contract defaults from the tier.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", request_body = NewCustomer,
    responses((status = 201, description = "Created", body = CustomerView), errors::Admin, errors::JsonBody,
        (status = 409, description = "Key taken", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/customers")]
pub async fn create_customer(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<NewCustomer>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Created().json(customers::create(&state, p, body.into_inner()?, state.clock.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, description = "The customer", body = CustomerView), errors::Staff,
        (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/customers/{id}")]
pub async fn get_customer(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(customers::get(&state, *id).await?))
}

/// Change a customer's name or contract; running timers keep their versions.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path, description = "Customer id")),
    request_body = CustomerPatch,
    responses((status = 200, description = "Updated", body = CustomerView), errors::Admin, errors::JsonBody,
        (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[patch("/customers/{id}")]
pub async fn patch_customer(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<CustomerPatch>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(customers::patch(&state, p, *id, body.into_inner()?, state.clock.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}/contacts", tag = "customers", params(("id" = i64, Path, description = "Customer id")),
    responses((status = 200, description = "Contacts", body = Vec<ContactView>), errors::Staff,
        (status = 404, description = "No such customer", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/customers/{id}/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Agent)?;
    Ok(HttpResponse::Ok().json(customers::list_contacts(&state, *id).await?))
}

/// Add a contact; the answer includes the contact's API token, once.
#[utoipa::path(post, path = "/api/v1/customers/{id}/contacts", tag = "customers", params(("id" = i64, Path, description = "Customer id")),
    request_body = NewContact,
    responses((status = 201, description = "Created, with `token`", body = ContactView), errors::Staff, errors::JsonBody,
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 409, description = "E-mail taken", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/customers/{id}/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<NewContact>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Agent)?;
    Ok(HttpResponse::Created()
        .json(customers::create_contact(&state, p, *id, body.into_inner()?, state.clock.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, description = "Users", body = Vec<UserView>), errors::Admin),
    security(("bearer" = [])))]
#[get("/users")]
pub async fn list_users(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(users::list(&state).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Created", body = UserView), errors::Admin, errors::JsonBody,
        (status = 409, description = "Username taken", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    auth: Auth,
    body: Body<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Created().json(users::create(&state, p, body.into_inner()?, false, state.clock.now()).await?))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView), errors::Admin,
        (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/users/{id}")]
pub async fn get_user(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(users::get(&state, *id).await?))
}

/// Change a user; `active: false` revokes all their tokens.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    request_body = UserPatch,
    responses((status = 200, description = "Updated", body = UserView), errors::Admin, errors::JsonBody,
        (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
#[patch("/users/{id}")]
pub async fn patch_user(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(users::patch(&state, p, *id, body.into_inner()?, state.clock.now()).await?))
}

/// Deactivate a user (users are kept for the record) and revoke their tokens.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path, description = "User id")),
    responses((status = 204, description = "Deactivated"), errors::Admin,
        (status = 404, description = "No such user", body = ErrorBody)),
    security(("bearer" = [])))]
#[delete("/users/{id}")]
pub async fn delete_user(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    // Users are never deleted: tickets and events refer to them.
    let deactivate = UserPatch { active: Some(false), ..Default::default() };
    users::patch(&state, p, *id, deactivate, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "users",
    responses((status = 200, description = "Tokens (never their secrets)", body = Vec<TokenView>), errors::Admin),
    security(("bearer" = [])))]
#[get("/tokens")]
pub async fn list_tokens(state: web::Data<AppState>, auth: Auth) -> Result<HttpResponse, ApiError> {
    auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(users::list_tokens(&state).await?))
}

/// Create a token for a user, or with `role` + `name` for a service user; the token is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "users", request_body = NewTokenRequest,
    responses((status = 201, description = "Created, with `token`", body = TokenView), errors::Admin, errors::JsonBody,
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Name taken or user inactive", body = ErrorBody),
        (status = 429, description = "Too many token requests from this address", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    auth: Auth,
    body: Body<NewTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    crate::http::client::limit(&state, crate::limits::Limit::TokenCreation, &req)?;
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Created().json(users::create_token(&state, p, body.into_inner()?, state.clock.now()).await?))
}

#[utoipa::path(patch, path = "/api/v1/tokens/{id}", tag = "users", params(("id" = i64, Path, description = "Token id")),
    request_body = TokenPatch,
    responses((status = 200, description = "Updated", body = TokenView), errors::Admin, errors::JsonBody,
        (status = 404, description = "No such token", body = ErrorBody)),
    security(("bearer" = [])))]
#[patch("/tokens/{id}")]
pub async fn patch_token(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<TokenPatch>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    Ok(HttpResponse::Ok().json(users::patch_token(&state, p, *id, body.into_inner()?, state.clock.now()).await?))
}

/// Revoke a token, effective on every instance at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "users", params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), errors::Admin,
        (status = 404, description = "No such token", body = ErrorBody)),
    security(("bearer" = [])))]
#[delete("/tokens/{id}")]
pub async fn delete_token(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let p = auth.require(Role::Admin)?;
    users::revoke_token(&state, p, *id, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}
