//! Rating a closed ticket: the page a rating mail's link opens (no sign-in: the signed link is
//! the key; `?score=N` from the mail's one-click links comes chosen) and the portal's form on the
//! ticket. GET never rates — mail scanners follow links — the page's one button does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use minijinja::context;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};

use super::{Viewer, portal_form};
use crate::domain::actor::Actor;
use crate::persistence::entities::{contact, rating, ticket};
use crate::services::Error;
use crate::services::ratings::{self, Closed};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(link_page).service(link_post).service(portal_post);
}

/// The rating, its ticket and contact a token names.
async fn by_token(
    state: &AppState,
    token: &str,
) -> Result<Option<(rating::Model, ticket::Model, contact::Model)>, Error> {
    let Some(id) = state.signer.rating_of(token) else {
        return Ok(None);
    };
    let Some(r) = rating::Entity::find_by_id(id).one(&state.db).await? else { return Ok(None) };
    let t = ticket::Entity::find_by_id(r.ticket_id).one(&state.db).await?;
    let c = contact::Entity::find_by_id(r.contact_id).one(&state.db).await?.filter(|c| c.active);
    Ok(t.zip(c).map(|(t, c)| (r, t, c)))
}

#[derive(Debug, Deserialize)]
pub struct ScoreQuery {
    score: Option<u8>,
}

#[derive(Debug, Deserialize)]
pub struct RatingForm {
    #[serde(default)]
    csrf_token: String,
    score: u8,
    #[serde(default)]
    comment: Option<String>,
}

fn viewer(state: &AppState, req: &HttpRequest) -> Viewer {
    Viewer::new(req, None, &state.config.zone_for(None), "portal")
}

/// What the page shows instead of the form once the rating no longer takes one.
fn closed_page(v: Viewer, r: &rating::Model, why: Closed, back: &str) -> HttpResponse {
    match why {
        Closed::Expired => {
            let detail = format!("{} {}", v.t("rt_expired_detail"), v.time(r.expires_at));
            let title = v.t("rt_expired");
            v.message(StatusCode::GONE, title, &detail, back)
        }
        Closed::Rated => {
            let detail = format!("{} {}", v.t("rt_your_score"), r.score.unwrap_or_default());
            let title = v.t("rt_rated");
            v.message(StatusCode::OK, title, &detail, back)
        }
    }
}

fn form(v: Viewer, status: StatusCode, r: &rating::Model, t: &ticket::Model, f: FormParts) -> HttpResponse {
    let until = v.time(r.expires_at);
    v.page(
        "rate.html",
        status,
        context! {
            action => f.action, form_csrf => f.csrf, number => t.number, title => t.title, score => f.score,
            until => until, error => f.error,
        },
    )
}

#[derive(Serialize, Default)]
struct FormParts {
    action: String,
    csrf: Option<String>,
    score: Option<u8>,
    error: Option<String>,
}

fn thanks(v: Viewer, done: &ratings::RatingView, back: &str) -> HttpResponse {
    let mut detail = format!("{} {} {}", v.t("rt_thanks_detail"), v.t("rt_your_score"), done.score.unwrap_or_default());
    if done.callback {
        detail = format!("{detail} {}", v.t("rt_callback"));
    }
    let title = v.t("rt_thanks");
    v.message(StatusCode::OK, title, &detail, back)
}

fn invalid(v: Viewer) -> HttpResponse {
    let (title, detail) = (v.t("rt_invalid"), v.t("rt_invalid_detail"));
    v.message(StatusCode::NOT_FOUND, title, detail, "/portal")
}

/// The page of a rating mail's link: the form, the score clicked in the mail chosen.
#[get("/ratings/{token}")]
async fn link_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    q: web::Query<ScoreQuery>,
) -> HttpResponse {
    let v = viewer(&state, &req);
    match by_token(&state, &token).await {
        Ok(Some((r, t, _))) => match ratings::closed(&r, state.clock.now()) {
            Some(why) => closed_page(v, &r, why, "/portal"),
            None => {
                let score = q.score.filter(|s| crate::domain::rating::SCORES.contains(s));
                let parts = FormParts { action: format!("/ratings/{token}"), score, ..Default::default() };
                form(v, StatusCode::OK, &r, &t, parts)
            }
        },
        Ok(None) => invalid(v),
        Err(e) => v.failed(e, "/portal"),
    }
}

/// The link's form, sent: the rating is recorded once.
#[post("/ratings/{token}")]
async fn link_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    f: web::Form<RatingForm>,
) -> HttpResponse {
    let v = viewer(&state, &req);
    let (r, t, who) = match by_token(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return invalid(v),
        Err(e) => return v.failed(e, "/portal"),
    };
    let f = f.into_inner();
    let action = format!("/ratings/{token}");
    answer(&state, v, (&r, &t, &who), f, action, None, "/portal").await
}

/// Records a rating from either form and shows what became of it.
async fn answer(
    state: &AppState,
    v: Viewer,
    (r, t, who): (&rating::Model, &ticket::Model, &contact::Model),
    f: RatingForm,
    action: String,
    csrf: Option<String>,
    back: &str,
) -> HttpResponse {
    let now = state.clock.now();
    if let Some(why) = ratings::closed(r, now) {
        return closed_page(v, r, why, back);
    }
    match ratings::rate(state, who, r.id, f.score, f.comment, now).await {
        Ok(done) => thanks(v, &done, back),
        Err(Error::Invalid { message, .. }) => {
            let parts = FormParts { action, csrf, score: None, error: Some(message) };
            form(v, StatusCode::UNPROCESSABLE_ENTITY, r, t, parts)
        }
        Err(Error::Conflict { .. }) => match rating::Entity::find_by_id(r.id).one(&state.db).await {
            Ok(Some(now_r)) => closed_page(v, &now_r, ratings::closed(&now_r, now).unwrap_or(Closed::Rated), back),
            _ => closed_page(v, r, Closed::Rated, back),
        },
        Err(e) => v.failed(e, back),
    }
}

/// The portal ticket page's rating: the form while the rating is open, else what was given.
pub async fn portal_section(state: &AppState, who: &Actor, ticket_id: i64) -> Result<Option<minijinja::Value>, Error> {
    let Actor::Contact { contact_id, .. } = who else { return Ok(None) };
    let Some(c) = contact::Entity::find_by_id(*contact_id).one(&state.db).await? else { return Ok(None) };
    let Some(r) = ratings::open_for(state, &c, ticket_id).await? else { return Ok(None) };
    let closed = ratings::closed(&r, state.clock.now());
    Ok(Some(context! {
        open => closed.is_none(), expired => closed == Some(Closed::Expired), score => r.score,
    }))
}

/// The portal ticket page's rating form (session and CSRF token).
#[post("/portal/tickets/{r}/rating")]
async fn portal_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    r: web::Path<String>,
    f: web::Form<RatingForm>,
) -> HttpResponse {
    let back = format!("/portal/tickets/{r}");
    let (s, v) = match portal_form(&state, &req, &f.csrf_token, &back).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let found = async {
        let given = crate::services::tickets::TicketRef::Given(r.to_string());
        let t = crate::services::tickets::load_visible(&state.db, &s.principal, &given).await?;
        let Actor::Contact { contact_id, .. } = &s.principal else { return Ok(None) };
        let Some(c) = contact::Entity::find_by_id(*contact_id).one(&state.db).await? else { return Ok(None) };
        let rt = ratings::open_for(&state, &c, t.id).await?;
        Ok::<_, Error>(rt.map(|rt| (rt, t, c)))
    };
    let (rt, t, who) = match found.await {
        Ok(Some(x)) => x,
        Ok(None) => return v.failed(Error::not_found("not_found", "rating"), &back),
        Err(e) => return v.failed(e, &back),
    };
    let csrf = Some(s.csrf.clone());
    answer(&state, v, (&rt, &t, &who), f.into_inner(), format!("{back}/rating"), csrf, &back).await
}
