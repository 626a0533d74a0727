//! Satisfaction ratings: a contact rates their customer's closed ticket; staff read ratings and
//! log the follow-up call a low (or a VIP's) rating asks for.

use actix_web::{HttpResponse, get, post, web};

use super::auth::Auth;
use super::body::Body;
use super::error::{ApiError, ErrorBody};
use super::responses as errors;
use crate::domain::actor::Actor;
use crate::persistence::entities::contact;
use crate::services::Error;
use crate::services::ratings::{self, NewCallback, NewRating, RatingFilter, RatingView};
use crate::state::AppState;
use sea_orm::EntityTrait;

/// Ratings, newest first (at most 500): staff see every customer's, a contact their customer's.
#[utoipa::path(get, path = "/api/v1/ratings", tag = "ratings", params(RatingFilter),
    responses((status = 200, description = "Ratings", body = Vec<RatingView>), errors::Caller,
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 422, description = "Unknown callback filter", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/ratings")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Auth,
    q: web::Query<RatingFilter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ratings::list(&state, &auth.0, q.into_inner()).await?))
}

#[utoipa::path(get, path = "/api/v1/ratings/{id}", tag = "ratings",
    params(("id" = i64, Path, description = "Rating id")),
    responses((status = 200, description = "The rating", body = RatingView), errors::Caller,
        (status = 404, description = "No such rating", body = ErrorBody)),
    security(("bearer" = [])))]
#[get("/ratings/{id:\\d+}")]
pub async fn get_one(state: web::Data<AppState>, auth: Auth, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ratings::get(&state, &auth.0, *id).await?))
}

/// The contact rates a closed ticket they were asked about (once; until `ratings.expire_after`).
#[utoipa::path(post, path = "/api/v1/ratings", tag = "ratings", request_body = NewRating,
    responses((status = 200, description = "The rating recorded", body = RatingView), errors::JsonBody,
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a contact: only the customer rates", body = ErrorBody),
        (status = 404, description = "No rating asked of the contact for this ticket", body = ErrorBody),
        (status = 409, description = "Rated already, expired, or the ticket is no longer closed", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/ratings")]
pub async fn rate(state: web::Data<AppState>, auth: Auth, body: Body<NewRating>) -> Result<HttpResponse, ApiError> {
    let Actor::Contact { contact_id, .. } = &auth.0 else {
        return Err(Error::forbidden("only the customer's contact rates a ticket").into());
    };
    let who = contact::Entity::find_by_id(*contact_id)
        .one(&state.db)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| Error::not_found("not_found", "rating"))?;
    Ok(HttpResponse::Ok().json(ratings::rate_ticket(&state, &who, body.into_inner()?, state.clock.now()).await?))
}

/// Log the follow-up call a rating asked for: the ticket's callback timer is met.
#[utoipa::path(post, path = "/api/v1/ratings/{id}/callback", tag = "ratings", request_body = NewCallback,
    params(("id" = i64, Path, description = "Rating id")),
    responses((status = 200, description = "The rating with its callback", body = RatingView), errors::Engineer,
        errors::JsonBody, (status = 404, description = "No such rating", body = ErrorBody),
        (status = 409, description = "No callback asked for, or logged already", body = ErrorBody)),
    security(("bearer" = [])))]
#[post("/ratings/{id:\\d+}/callback")]
pub async fn callback(
    state: web::Data<AppState>,
    auth: Auth,
    id: web::Path<i64>,
    body: Body<NewCallback>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ratings::call_back(&state, &auth.0, *id, body.into_inner()?, state.clock.now()).await?))
}
