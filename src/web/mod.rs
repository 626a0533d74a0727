//! The pages people use in a browser, server-rendered (minijinja templates embedded in the
//! binary), with Opsline's own small CSS and JavaScript: staff sign-in and the console queue.
//! Sessions are cookies signed with `web.secret_key` whose id the database knows; every form
//! carries `csrf_token`.

pub mod i18n;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use self::i18n::{Lang, texts};
use crate::domain::ticket::{Role, Status};
use crate::services::tickets::{self, ListQuery, Sort, TicketView, TimerView};
use crate::services::web_sessions::{self, Session, random_token};
use crate::state::AppState;

const SESSION_COOKIE: &str = "opsline_session";
/// The CSRF token of the sign-in form (before there is a session): a cookie the form repeats.
const SIGN_IN_CSRF: &str = "opsline_signin";

/// Templates and the key that signs session cookies, built once at start.
pub struct Web {
    env: Environment<'static>,
    key: Vec<u8>,
}

impl Web {
    /// `secret_key` is `web.secret_key`; without one (development only) a random key is used,
    /// so sessions end when the process does.
    pub fn new(secret_key: Option<&str>) -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("templates/base.html")),
            ("sign_in.html", include_str!("templates/sign_in.html")),
            ("console.html", include_str!("templates/console.html")),
        ] {
            env.add_template(name, src).map_err(|e| format!("template {name}: {e}"))?;
        }
        let key = secret_key.map_or_else(|| random_token().into_bytes(), |k| k.as_bytes().to_vec());
        Ok(Web { env, key })
    }

    /// `value.signature`; HMAC takes a key of any length, so there is always a signature.
    fn sign(&self, value: &str) -> String {
        match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(value.as_bytes());
                format!("{value}.{}", hex::encode(mac.finalize().into_bytes()))
            }
            Err(_) => value.to_string(),
        }
    }

    /// The value of a signed cookie, if the signature holds (compared in constant time).
    fn verify<'a>(&self, signed: &'a str) -> Option<&'a str> {
        let (value, sig) = signed.rsplit_once('.')?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(value.as_bytes());
        mac.verify_slice(&hex::decode(sig).ok()?).ok()?;
        Some(value)
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> HttpResponse {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => HttpResponse::Ok().content_type(ContentType::html()).body(html),
            Err(e) => {
                tracing::error!(template = name, error = %e, "a page could not be rendered");
                HttpResponse::InternalServerError().content_type(ContentType::plaintext()).body("error\n")
            }
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sign_in_page)
        .service(sign_in)
        .service(sign_out)
        .service(console)
        .route("/static/style.css", web::get().to(|| asset("text/css", include_str!("static/style.css"))))
        .route("/static/console.js", web::get().to(|| asset("text/javascript", include_str!("static/console.js"))));
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format!("{content_type}; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// Language from `?lang=` (also remembered in a cookie), the cookie, or `Accept-Language`.
fn language(req: &HttpRequest) -> (Lang, Option<Cookie<'static>>) {
    let asked = web::Query::<LangQuery>::from_query(req.query_string()).ok().and_then(|q| q.lang.clone());
    match asked.as_deref() {
        Some(l @ ("en" | "zh-CN")) => {
            let lang = if l == "en" { Lang::En } else { Lang::ZhCn };
            let c = Cookie::build("lang", l.to_string()).path("/").same_site(SameSite::Lax).http_only(true).finish();
            (lang, Some(c))
        }
        _ => (Lang::of(req), None),
    }
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

fn page_context(lang: Lang) -> (minijinja::Value, minijinja::Value) {
    let other = if lang == Lang::En { "zh-CN" } else { "en" };
    (minijinja::Value::from_serialize(texts(lang)), minijinja::Value::from(other))
}

fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn with_cookies(mut res: HttpResponse, cookies: impl IntoIterator<Item = Option<Cookie<'static>>>) -> HttpResponse {
    for c in cookies.into_iter().flatten() {
        let _ = res.add_cookie(&c);
    }
    res
}

/// The signed-in staff session of the request, if any.
async fn session(state: &AppState, req: &HttpRequest) -> Option<(String, Session)> {
    let web = &state.web;
    let cookie = req.cookie(SESSION_COOKIE)?;
    let id = web.verify(cookie.value())?.to_string();
    let s = web_sessions::find(state, &id, state.clock.now()).await.ok().flatten()?;
    Some((id, s))
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

fn sign_in_form(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    let (lang, lang_cookie) = language(req);
    let (t, other) = page_context(lang);
    let csrf = random_token();
    let error = error.map(|k| texts(lang).get(k).copied().unwrap_or(k).to_string());
    let mut res = state.web.render(
        "sign_in.html",
        context! { lang => lang.code(), other_lang => other, t => t, csrf_token => csrf, error => error, username => username },
    );
    *res.status_mut() = status;
    let c = Cookie::build(SIGN_IN_CSRF, state.web.sign(&csrf))
        .path("/sign-in")
        .http_only(true)
        .secure(secure(req))
        .same_site(SameSite::Strict)
        .finish();
    with_cookies(res, [Some(c), lang_cookie])
}

#[get("/sign-in")]
async fn sign_in_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if session(&state, &req).await.is_some() {
        return redirect("/console");
    }
    sign_in_form(&state, &req, StatusCode::OK, None, "")
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    csrf_token: String,
}

#[post("/sign-in")]
async fn sign_in(state: web::Data<AppState>, req: HttpRequest, form: web::Form<SignInForm>) -> HttpResponse {
    if let Err(e) = state.limits.take(crate::http::limits::Limit::SignIn, &req) {
        let mut res = sign_in_form(&state, &req, StatusCode::TOO_MANY_REQUESTS, Some("too_many"), &form.username);
        if let Some(secs) = e.retry_after
            && let Ok(v) = header::HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let expected = req.cookie(SIGN_IN_CSRF).and_then(|c| state.web.verify(c.value()).map(str::to_string));
    if expected.as_deref() != Some(form.csrf_token.as_str()) {
        return sign_in_form(&state, &req, StatusCode::FORBIDDEN, Some("expired_form"), &form.username);
    }
    match web_sessions::sign_in_staff(&state, &form.username, &form.password, state.clock.now()).await {
        Ok(id) => {
            let c = Cookie::build(SESSION_COOKIE, state.web.sign(&id))
                .path("/")
                .http_only(true)
                .secure(secure(&req))
                .same_site(SameSite::Lax)
                .max_age(actix_web::cookie::time::Duration::hours(web_sessions::SESSION_HOURS))
                .finish();
            with_cookies(redirect("/console"), [Some(c)])
        }
        Err(crate::services::Error::Unauthorized(_)) => {
            sign_in_form(&state, &req, StatusCode::UNAUTHORIZED, Some("bad_credentials"), &form.username)
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            HttpResponse::InternalServerError().content_type(ContentType::plaintext()).body("error\n")
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: String,
}

#[post("/sign-out")]
async fn sign_out(state: web::Data<AppState>, req: HttpRequest, form: web::Form<CsrfForm>) -> HttpResponse {
    let Some((id, s)) = session(&state, &req).await else { return redirect("/sign-in") };
    if s.csrf != form.csrf_token {
        return HttpResponse::Forbidden().content_type(ContentType::plaintext()).body("the form expired\n");
    }
    if let Err(e) = web_sessions::sign_out(&state, &id).await {
        tracing::error!(error = %e, "sign-out failed");
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    with_cookies(redirect("/sign-in"), [Some(gone)])
}

/// One SLA clock as the queue shows it.
#[derive(Serialize)]
struct Clock {
    state: String,
    due: Option<DateTime<Utc>>,
    /// The deadline in the calendar's zone, for readers without JavaScript.
    due_local: String,
    /// Seconds from start to deadline, for the "< 20 % left" colour.
    total: i64,
}

fn clock(t: Option<&TimerView>, zone: &jiff::tz::TimeZone) -> Clock {
    let Some(t) = t else { return Clock { state: "none".into(), due: None, due_local: String::new(), total: 0 } };
    let due_local = t
        .due_at
        .and_then(|d| jiff::Timestamp::from_second(d.timestamp()).ok())
        .map(|ts| ts.to_zoned(zone.clone()).strftime("%m-%d %H:%M").to_string())
        .unwrap_or_default();
    Clock {
        state: t.state.clone(),
        due: t.due_at,
        due_local,
        total: t.due_at.map_or(0, |d| (d - t.started_at).num_seconds()),
    }
}

#[derive(Serialize)]
struct Row {
    number: String,
    level: String,
    title: String,
    customer: String,
    status: String,
    clocks: Vec<Clock>,
}

fn row(v: &TicketView, zone: &jiff::tz::TimeZone) -> Row {
    Row {
        number: v.number.clone(),
        level: v.level.clone(),
        title: v.title.clone(),
        customer: v.customer.name.clone(),
        status: v.status.clone(),
        clocks: vec![
            clock(v.sla.response.as_ref(), zone),
            clock(v.sla.plan.as_ref(), zone),
            clock(v.sla.resolution.as_ref(), zone),
        ],
    }
}

/// The queue: open tickets, most urgent first, with live countdowns.
#[get("/console")]
async fn console(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some((_, s)) = session(&state, &req).await else { return redirect("/sign-in") };
    if s.principal.require(Role::Agent).is_err() {
        return redirect("/sign-in");
    }
    let (lang, lang_cookie) = language(&req);
    let (t, other) = page_context(lang);
    let q = ListQuery {
        status: vec![Status::Open, Status::InProgress, Status::WaitingCustomer],
        sort: Sort::Urgency,
        limit: 200,
        ..Default::default()
    };
    let page = match tickets::list(&state, &s.principal, q, state.clock.now()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "the queue could not be read");
            return HttpResponse::InternalServerError().content_type(ContentType::plaintext()).body("error\n");
        }
    };
    let zone_name = state.config.settings.calendars.get("business").map_or("Asia/Shanghai", |c| c.timezone.as_str());
    let zone = jiff::tz::TimeZone::get(zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let rows: Vec<Row> = page.items.iter().map(|v| row(v, &zone)).collect();
    let res = state.web.render(
        "console.html",
        context! {
            lang => lang.code(), other_lang => other, t => t, who => s.principal.name(),
            csrf_token => s.csrf, tickets => rows, zone => zone_name,
        },
    );
    with_cookies(res, [lang_cookie])
}
