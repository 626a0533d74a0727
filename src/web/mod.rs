//! The pages people use in a browser, server-rendered (minijinja templates embedded in the
//! binary), with Opsline's own small CSS and JavaScript: the staff console, the customer portal
//! and the public status page. Sessions are cookies signed with `web.secret_key` whose id the
//! database knows; every form carries `csrf_token`; times are shown in the viewer's zone.

mod auth;
mod clocks;
mod console;
mod field;

mod i18n;
mod i18n_kb;
mod kb;
mod ops;
mod portal;
pub mod rating;
pub mod report;
mod report_pdf;
mod status;
mod ticket_page;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};

use minijinja::{Environment, Value, context};
use serde::Deserialize;

use self::i18n::{Lang, texts};
use crate::domain::ticket::Role;
use crate::http::multipart::Unreadable;
use crate::services::web_sessions::{self, Session};
use crate::services::{Error, customers};
use crate::signing::SignedFor;
use crate::state::AppState;

pub(crate) const SESSION_COOKIE: &str = "opsline_session";

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("message.html", include_str!("templates/message.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("link.html", include_str!("templates/link.html")),
    ("console.html", include_str!("templates/console.html")),
    ("new_ticket.html", include_str!("templates/new_ticket.html")),
    ("ticket.html", include_str!("templates/ticket.html")),
    ("checks.html", include_str!("templates/checks.html")),
    ("inspections.html", include_str!("templates/inspections.html")),
    ("inspection.html", include_str!("templates/inspection.html")),
    ("notifications.html", include_str!("templates/notifications.html")),
    ("portal.html", include_str!("templates/portal.html")),
    ("portal_ticket.html", include_str!("templates/portal_ticket.html")),
    ("portal_new.html", include_str!("templates/portal_new.html")),
    ("status.html", include_str!("templates/status.html")),
    ("field.html", include_str!("templates/field.html")),
    ("dispatch.html", include_str!("templates/dispatch.html")),
    ("work_order.html", include_str!("templates/work_order.html")),
    ("portal_visit.html", include_str!("templates/portal_visit.html")),
    ("portal_reports.html", include_str!("templates/portal_reports.html")),
    ("sign_form.html", include_str!("templates/sign_form.html")),
    ("timeline.html", include_str!("templates/timeline.html")),
    ("rate.html", include_str!("templates/rate.html")),
    ("kb_list.html", include_str!("templates/kb_list.html")),
    ("kb_article.html", include_str!("templates/kb_article.html")),
];

pub use field::work_order_page;

/// Templates and the key that signs session cookies and links, built once at start.
/// The page templates, compiled once per server (actix app data, beside the state).
pub struct Web {
    env: Environment<'static>,
}

impl Web {
    pub fn new() -> Result<Self, String> {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src).map_err(|e| format!("template {name}: {e}"))?;
        }
        Ok(Web { env })
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name).and_then(|t| t.render(ctx))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    auth::configure(cfg);
    console::configure(cfg);
    ticket_page::configure(cfg);
    ops::configure(cfg);
    portal::configure(cfg);
    rating::configure(cfg);
    status::configure(cfg);
    field::configure(cfg);
    kb::configure(cfg);
    cfg.service(report::answer_page)
        .service(report::answer_post)
        .service(report::portal_list)
        .service(report::portal_show)
        .service(report::portal_answer);
    cfg.route("/static/style.css", web::get().to(|| asset("text/css", include_str!("static/style.css"))))
        .route("/static/console.js", web::get().to(|| asset("text/javascript", include_str!("static/console.js"))))
        .route("/static/field.js", web::get().to(|| asset("text/javascript", include_str!("static/field.js"))))
        .route("/static/similar.js", web::get().to(|| asset("text/javascript", include_str!("static/similar.js"))))
        .route(
            "/static/new_ticket.js",
            web::get().to(|| asset("text/javascript", include_str!("static/new_ticket.js"))),
        )
        // Browsers ask for /favicon.ico whatever the page says; both answer the same icon.
        .route("/static/icon.svg", web::get().to(|| asset("image/svg+xml", include_str!("static/icon.svg"))))
        .route("/favicon.ico", web::get().to(|| asset("image/svg+xml", include_str!("static/icon.svg"))));
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format!("{content_type}; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

#[derive(Deserialize)]
struct ViewQuery {
    lang: Option<String>,
    tz: Option<String>,
}

/// Zones offered in the switch besides the calendar's (the browser's own is added by script).
const ZONES: &[&str] =
    &["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Europe/London", "America/New_York", "UTC"];

/// Who is looking, in which language and time zone; renders pages for them.
pub(crate) struct Viewer {
    pub lang: Lang,
    pub zone: jiff::tz::TimeZone,
    pub zone_name: String,
    cookies: Vec<Cookie<'static>>,
    who: Option<String>,
    csrf: String,
    area: &'static str,
    /// The templates (app data beside the state).
    pages: Option<web::Data<Web>>,
}

impl Viewer {
    /// `?lang=` and `?tz=` switch (and are remembered in cookies); else the cookies; else
    /// `Accept-Language` and `default_zone` (the calendar's).
    pub fn new(req: &HttpRequest, session: Option<&Session>, default_zone: &str, area: &'static str) -> Viewer {
        let q = web::Query::<ViewQuery>::from_query(req.query_string()).ok().map(|q| q.into_inner());
        let mut cookies = Vec::new();
        let remember = |name: &'static str, v: &str| {
            Cookie::build(name, v.to_string())
                .path("/")
                .same_site(SameSite::Lax)
                .http_only(true)
                .max_age(actix_web::cookie::time::Duration::days(365))
                .finish()
        };
        let lang = match q.as_ref().and_then(|q| q.lang.as_deref()) {
            Some(l @ ("en" | "zh-CN")) => {
                cookies.push(remember("lang", l));
                if l == "en" { Lang::En } else { Lang::ZhCn }
            }
            _ => Lang::of(req),
        };
        let asked = q.as_ref().and_then(|q| q.tz.clone());
        let valid = |z: &str| z.len() <= 64 && jiff::tz::TimeZone::get(z).is_ok();
        let zone_name = match asked {
            Some(z) if valid(&z) => {
                cookies.push(remember("tz", &z));
                z
            }
            _ => {
                req.cookie("tz").map(|c| c.value().to_string()).filter(|z| valid(z)).unwrap_or(default_zone.to_string())
            }
        };
        let zone = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
        Viewer {
            lang,
            zone,
            zone_name,
            cookies,
            who: session.map(|s| s.principal.name().to_string()),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            area,
            pages: req.app_data::<web::Data<Web>>().cloned(),
        }
    }

    pub fn t(&self, key: &'static str) -> &'static str {
        i18n::text(self.lang, key)
    }

    /// `2026-10-20 10:05` in the viewer's zone.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        self.fmt(t, "%Y-%m-%d %H:%M")
    }

    pub fn fmt(&self, t: DateTime<Utc>, pattern: &str) -> String {
        jiff::Timestamp::from_second(t.timestamp())
            .map(|ts| ts.to_zoned(self.zone.clone()).strftime(pattern).to_string())
            .unwrap_or_default()
    }

    pub fn add_cookie(&mut self, c: Cookie<'static>) {
        self.cookies.push(c);
    }

    /// A page: `extra` is merged into what every page has (texts, language, zone, who).
    pub fn page(self, name: &str, status: StatusCode, extra: Value) -> HttpResponse {
        let other = if self.lang == Lang::En { "zh-CN" } else { "en" };
        let mut zones: Vec<&str> = vec![self.zone_name.as_str()];
        zones.extend(ZONES.iter().copied().filter(|z| *z != self.zone_name));
        let ctx = context! {
            lang => self.lang.code(), other_lang => other, t => Value::from_serialize(texts(self.lang)),
            who => self.who, csrf_token => self.csrf, zone => self.zone_name, zones => zones, area => self.area,
            ..extra
        };
        let rendered = match &self.pages {
            Some(pages) => pages.render(name, ctx),
            None => Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "no page templates")),
        };
        let mut res = match rendered {
            Ok(html) => HttpResponse::build(status)
                .content_type(ContentType::html())
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(html),
            Err(e) => {
                tracing::error!(template = name, error = %crate::services::chain(&e), "a page could not be rendered");
                return HttpResponse::InternalServerError().content_type(ContentType::plaintext()).body("error\n");
            }
        };
        for c in &self.cookies {
            let _ = res.add_cookie(c);
        }
        res
    }

    /// A short page with a message and a way back.
    pub fn message(self, status: StatusCode, title: &str, detail: &str, back: &str) -> HttpResponse {
        self.page("message.html", status, context! { title => title, detail => detail, back => back })
    }

    /// The refusal of a form posted without its session's CSRF token (it changed nothing).
    pub fn expired_form(self, back: &str) -> HttpResponse {
        let (title, detail) = (self.t("could_not"), self.t("expired_form"));
        self.message(StatusCode::FORBIDDEN, title, detail, back)
    }

    /// The page for a multipart form that could not be read.
    pub fn unreadable(self, e: Unreadable, back: &str) -> HttpResponse {
        let (status, detail) = match e {
            Unreadable::TooLarge(_) | Unreadable::TooManyParts => (StatusCode::PAYLOAD_TOO_LARGE, self.t("too_large")),
            Unreadable::NotMultipart | Unreadable::Malformed => (StatusCode::BAD_REQUEST, self.t("expired_form")),
        };
        let title = self.t("could_not");
        self.message(status, title, detail, back)
    }

    /// The page for a service error: its status, and its message (500s say nothing internal).
    pub fn failed(self, e: Error, back: &str) -> HttpResponse {
        let (status, detail) = match &e {
            Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            Error::NotFound { .. } => (StatusCode::NOT_FOUND, self.t("not_found").to_string()),
            Error::Invalid { message, .. } => (StatusCode::UNPROCESSABLE_ENTITY, message.clone()),
            Error::InvalidTransition { message, .. } | Error::Conflict { message, .. } => {
                (StatusCode::CONFLICT, message.clone())
            }
            Error::VersionMismatch { .. } => (StatusCode::CONFLICT, self.t("changed_meanwhile").to_string()),
            Error::TooMany { .. } => (StatusCode::TOO_MANY_REQUESTS, self.t("too_many").to_string()),
            Error::Db(_) | Error::Internal(_) => {
                tracing::error!(error = %crate::services::chain(&e), "a page's request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, self.t("try_again").to_string())
            }
        };
        let title = self.t("could_not");
        self.message(status, title, &detail, back)
    }
}

pub(crate) fn secure(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

pub(crate) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// The signed-in session of the request, if any.
pub(crate) async fn session(state: &AppState, req: &HttpRequest) -> Option<(String, Session)> {
    let cookie = req.cookie(SESSION_COOKIE)?;
    let id = state.signer.verify(SignedFor::Session, cookie.value())?.to_string();
    let s = web_sessions::find(state, &id, state.clock.now()).await.ok().flatten()?;
    Some((id, s))
}

/// A staff session with at least `role`, or the response that sends the visitor elsewhere:
/// sign-in when there is none, the portal for contacts, a refusal for a lower role.
pub(crate) async fn staff(state: &AppState, req: &HttpRequest, role: Role) -> Result<Session, HttpResponse> {
    let Some((_, s)) = session(state, req).await else { return Err(redirect("/sign-in")) };
    if s.principal.role().is_none() {
        return Err(redirect("/portal"));
    }
    if let Err(e) = s.principal.require(role) {
        let v = Viewer::new(req, Some(&s), &state.config.zone_for(None), "console");
        return Err(v.failed(e.into(), "/console"));
    }
    Ok(s)
}

/// A contact's session, and a viewer in the zone of their customer's calendar; staff go to the
/// console.
pub(crate) async fn portal_page(state: &AppState, req: &HttpRequest) -> Result<(Session, Viewer), HttpResponse> {
    let Some((_, s)) = session(state, req).await else { return Err(redirect("/portal/sign-in")) };
    let Some(customer_id) = s.principal.customer_id() else { return Err(redirect("/console")) };
    let calendar = customers::find(&state.db, customer_id).await.ok().map(|c| c.calendar);
    let v = Viewer::new(req, Some(&s), &state.config.zone_for(calendar.as_deref()), "portal");
    Ok((s, v))
}

/// [`portal_page`] for a posted form: also the form's CSRF token, else the "expired form" page
/// linking `back`.
pub(crate) async fn portal_form(
    state: &AppState,
    req: &HttpRequest,
    csrf_token: &str,
    back: &str,
) -> Result<(Session, Viewer), HttpResponse> {
    let (s, v) = portal_page(state, req).await?;
    if csrf_ok(&s, csrf_token) { Ok((s, v)) } else { Err(v.expired_form(back)) }
}

/// Whether a posted form carries the session's CSRF token.
pub(crate) fn csrf_ok(s: &Session, token: &str) -> bool {
    same_token(&s.csrf, token)
}

/// Whether a posted token is the expected one (compared in constant time).
pub(crate) fn same_token(expected: &str, given: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()))
}

/// A console page's staff session with at least `role`, and its viewer; or the response that
/// sends the visitor elsewhere (see [`staff`]).
pub(crate) async fn console_page(
    state: &AppState,
    req: &HttpRequest,
    role: Role,
) -> Result<(Session, Viewer), HttpResponse> {
    let s = staff(state, req, role).await?;
    let v = Viewer::new(req, Some(&s), &state.config.zone_for(None), "console");
    Ok((s, v))
}

/// [`console_page`] for a posted form: also the form's CSRF token, else the "expired form" page
/// linking `back`.
pub(crate) async fn console_form(
    state: &AppState,
    req: &HttpRequest,
    role: Role,
    csrf_token: &str,
    back: &str,
) -> Result<(Session, Viewer), HttpResponse> {
    let (s, v) = console_page(state, req, role).await?;
    if csrf_ok(&s, csrf_token) { Ok((s, v)) } else { Err(v.expired_form(back)) }
}
