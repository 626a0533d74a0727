//! Signing in and out: staff by username and password; contacts by e-mail and password, or by an
//! e-mailed one-time link (sign in, or set a password). Forms shown before there is a session
//! carry a CSRF token that a signed cookie repeats. Every attempt counts against the sign-in
//! rate limit.

use crate::signing::SignedFor;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use minijinja::context;
use serde::Deserialize;

use super::{SESSION_COOKIE, Viewer, csrf_ok, redirect, secure, session};
use crate::limits::Limit;
use crate::services::contact_links::{self, Purpose};
use crate::services::web_sessions::{self, random_token};
use crate::services::{Error, Result};
use crate::state::AppState;

/// The CSRF token of forms shown before there is a session: a cookie the form repeats.
const FORM_COOKIE: &str = "opsline_form";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(staff_page)
        .service(staff_sign_in)
        .service(sign_out)
        .service(portal_page)
        .service(portal_sign_in)
        .service(request_link)
        .service(link_page)
        .service(use_link);
}

/// A page with a pre-session form: a fresh token in the page and, signed, in a cookie.
fn open_form(
    state: &AppState,
    req: &HttpRequest,
    mut v: Viewer,
    name: &str,
    status: StatusCode,
    extra: minijinja::Value,
) -> HttpResponse {
    let token = random_token();
    let c = Cookie::build(FORM_COOKIE, state.signer.sign(SignedFor::Form, &token))
        .path("/")
        .http_only(true)
        .secure(secure(req))
        .same_site(SameSite::Strict)
        .finish();
    v.add_cookie(c);
    v.page(name, status, minijinja::context! { form_token => token, ..extra })
}

fn form_token_ok(state: &AppState, req: &HttpRequest, token: &str) -> bool {
    let expected =
        req.cookie(FORM_COOKIE).and_then(|c| state.signer.verify(SignedFor::Form, c.value()).map(str::to_string));
    expected.is_some_and(|e| super::same_token(&e, token))
}

/// The sign-in rate limit, or the answer that says to wait.
fn limited(state: &AppState, req: &HttpRequest) -> Option<Option<u64>> {
    crate::http::client::limit(state, Limit::SignIn, req).err().map(|e| e.retry_after)
}

fn with_retry_after(mut res: HttpResponse, secs: Option<u64>) -> HttpResponse {
    if let Some(v) = secs.and_then(|s| header::HeaderValue::from_str(&s.to_string()).ok()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

fn session_cookie(state: &AppState, req: &HttpRequest, id: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, state.signer.sign(SignedFor::Session, id))
        .path("/")
        .http_only(true)
        .secure(secure(req))
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::hours(web_sessions::SESSION_HOURS))
        .finish()
}

fn signed_in(state: &AppState, req: &HttpRequest, id: &str, to: &str) -> HttpResponse {
    let mut res = redirect(to);
    let _ = res.add_cookie(&session_cookie(state, req, id));
    res
}

fn viewer(state: &AppState, req: &HttpRequest, area: &'static str) -> Viewer {
    Viewer::new(req, None, &state.config.zone_for(None), area)
}

fn staff_form(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&'static str>,
    username: &str,
) -> HttpResponse {
    let v = viewer(state, req, "console");
    let error = error.map(|k| v.t(k));
    open_form(state, req, v, "sign_in.html", status, context! { mode => "staff", error => error, username => username })
}

#[get("/sign-in")]
async fn staff_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match session(&state, &req).await {
        Some((_, s)) if s.principal.role().is_some() => redirect("/console"),
        Some(_) => redirect("/portal"),
        None => staff_form(&state, &req, StatusCode::OK, None, ""),
    }
}

#[derive(Deserialize)]
struct StaffForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
}

#[post("/sign-in")]
async fn staff_sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<StaffForm>) -> HttpResponse {
    if let Some(wait) = limited(&state, &req) {
        let res = staff_form(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), &form.username);
        return with_retry_after(res, wait);
    }
    if !form_token_ok(&state, &req, &form.csrf_token) {
        return staff_form(&state, &req, StatusCode::FORBIDDEN, Some("expired_form"), &form.username);
    }
    match web_sessions::sign_in_staff(&state, &form.username, &form.password, state.clock.now()).await {
        Ok(id) => signed_in(&state, &req, &id, "/console"),
        Err(Error::Unauthorized(_)) => {
            staff_form(&state, &req, StatusCode::UNAUTHORIZED, Some("bad_credentials"), &form.username)
        }
        Err(Error::TooMany { retry_after_secs, .. }) => with_retry_after(
            staff_form(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), &form.username),
            Some(retry_after_secs),
        ),
        Err(e) => viewer(&state, &req, "console").failed(e, "/sign-in"),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

#[post("/sign-out")]
async fn sign_out(state: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    let Some((id, s)) = session(&state, &req).await else { return redirect("/sign-in") };
    if !csrf_ok(&s, &form.csrf_token) {
        return Viewer::new(&req, Some(&s), &state.config.zone_for(None), "console").expired_form("/");
    }
    if let Err(e) = web_sessions::sign_out(&state, &id).await {
        tracing::error!(error = %crate::services::chain(&e), "sign-out failed");
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    let mut res = redirect(if s.principal.role().is_some() { "/sign-in" } else { "/portal/sign-in" });
    let _ = res.add_cookie(&gone);
    res
}

fn portal_form(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    email: &str,
) -> HttpResponse {
    let v = viewer(state, req, "portal");
    let (error, notice) = (error.map(|k| v.t(k)), notice.map(|k| v.t(k)));
    open_form(
        state,
        req,
        v,
        "sign_in.html",
        status,
        context! { mode => "portal", error => error, notice => notice, username => email },
    )
}

#[get("/portal/sign-in")]
async fn portal_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    match session(&state, &req).await {
        Some((_, s)) if s.principal.role().is_some() => redirect("/console"),
        Some(_) => redirect("/portal"),
        None => portal_form(&state, &req, StatusCode::OK, None, None, ""),
    }
}

#[derive(Deserialize)]
struct ContactForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf_token: String,
}

#[post("/portal/sign-in")]
async fn portal_sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<ContactForm>) -> HttpResponse {
    if let Some(wait) = limited(&state, &req) {
        let res = portal_form(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), None, &form.email);
        return with_retry_after(res, wait);
    }
    if !form_token_ok(&state, &req, &form.csrf_token) {
        return portal_form(&state, &req, StatusCode::FORBIDDEN, Some("expired_form"), None, &form.email);
    }
    match web_sessions::sign_in_contact(&state, &form.email, &form.password, state.clock.now()).await {
        Ok(id) => signed_in(&state, &req, &id, "/portal"),
        Err(Error::Unauthorized(_)) => {
            portal_form(&state, &req, StatusCode::UNAUTHORIZED, Some("bad_contact_credentials"), None, &form.email)
        }
        Err(Error::TooMany { retry_after_secs, .. }) => with_retry_after(
            portal_form(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), None, &form.email),
            Some(retry_after_secs),
        ),
        Err(e) => viewer(&state, &req, "portal").failed(e, "/portal/sign-in"),
    }
}

#[derive(Deserialize)]
struct LinkRequest {
    email: String,
    purpose: String,
    #[serde(default)]
    csrf_token: String,
}

/// E-mails a one-time link; the answer is the same whether or not the address is known.
#[post("/portal/link")]
async fn request_link(state: web::Data<AppState>, req: HttpRequest, form: web::Form<LinkRequest>) -> HttpResponse {
    if let Some(wait) = limited(&state, &req) {
        let res = portal_form(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), None, &form.email);
        return with_retry_after(res, wait);
    }
    if !form_token_ok(&state, &req, &form.csrf_token) {
        return portal_form(&state, &req, StatusCode::FORBIDDEN, Some("expired_form"), None, &form.email);
    }
    let purpose = if form.purpose == "password" { Purpose::Password } else { Purpose::SignIn };
    match contact_links::request(&state, &form.email, purpose, state.clock.now()).await {
        Ok(_) => portal_form(&state, &req, StatusCode::OK, None, Some("link_sent"), &form.email),
        Err(Error::Invalid { .. }) => {
            portal_form(&state, &req, StatusCode::UNPROCESSABLE_ENTITY, Some("bad_email"), None, &form.email)
        }
        Err(e) => viewer(&state, &req, "portal").failed(e, "/portal/sign-in"),
    }
}

async fn link_form(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Result<HttpResponse> {
    let v = viewer(state, req, "portal");
    let Some((link, c)) = contact_links::check(state, token, state.clock.now()).await? else {
        let (title, detail) = (v.t("link_dead"), v.t("link_dead_detail"));
        return Ok(v.message(StatusCode::GONE, title, detail, "/portal/sign-in"));
    };
    let error = error.map(|k| v.t(k));
    Ok(open_form(
        state,
        req,
        v,
        "link.html",
        status,
        context! { purpose => link.purpose, name => c.name, email => c.email, error => error },
    ))
}

/// The link's page: a button (or a password form) whose POST uses the link, because mail
/// scanners fetch GET links.
#[get("/portal/link/{token}")]
async fn link_page(state: web::Data<AppState>, req: HttpRequest, token: web::Path<String>) -> HttpResponse {
    match link_form(&state, &req, &token, StatusCode::OK, None).await {
        Ok(r) => r,
        Err(e) => viewer(&state, &req, "portal").failed(e, "/portal/sign-in"),
    }
}

/// The link's form again, with what went wrong.
async fn link_again(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
    status: StatusCode,
    error: &'static str,
) -> HttpResponse {
    match link_form(state, req, token, status, Some(error)).await {
        Ok(r) => r,
        Err(e) => viewer(state, req, "portal").failed(e, "/portal/sign-in"),
    }
}

#[derive(Deserialize)]
struct UseLink {
    #[serde(default)]
    csrf_token: String,
    password: Option<String>,
    password_again: Option<String>,
}

#[post("/portal/link/{token}")]
async fn use_link(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<UseLink>,
) -> HttpResponse {
    if let Some(wait) = limited(&state, &req) {
        let v = viewer(&state, &req, "portal");
        let (title, detail) = (v.t("could_not"), v.t("too_many"));
        return with_retry_after(v.message(StatusCode::TOO_MANY_REQUESTS, title, detail, "/portal/sign-in"), wait);
    }
    if !form_token_ok(&state, &req, &form.csrf_token) {
        return link_again(&state, &req, &token, StatusCode::FORBIDDEN, "expired_form").await;
    }
    if form.password.is_some() && form.password != form.password_again {
        return link_again(&state, &req, &token, StatusCode::UNPROCESSABLE_ENTITY, "passwords_differ").await;
    }
    match contact_links::redeem(&state, &token, form.password.as_deref(), state.clock.now()).await {
        Ok(Some((id, Some(visit)))) => signed_in(&state, &req, &id, &format!("/portal/visits/{visit}")),
        Ok(Some((id, None))) => signed_in(&state, &req, &id, "/portal"),
        Ok(None) => {
            let v = viewer(&state, &req, "portal");
            let (title, detail) = (v.t("link_dead"), v.t("link_dead_detail"));
            v.message(StatusCode::GONE, title, detail, "/portal/sign-in")
        }
        Err(Error::Invalid { .. }) => {
            link_again(&state, &req, &token, StatusCode::UNPROCESSABLE_ENTITY, "password_rules").await
        }
        Err(e) => viewer(&state, &req, "portal").failed(e, "/portal/sign-in"),
    }
}
