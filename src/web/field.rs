//! On-site service pages: `/field`, the engineer's phone (today's and tomorrow's visits, "on my
//! way", "arrived", "done", the customer's signature; events made offline are sent later with
//! the device's time), the console's dispatch board (engineers × a week, booking by form) and
//! the printable work order.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{Viewer, console_form, console_page, redirect, same_token, session, staff};
use crate::domain::calendar::Secs;
use crate::domain::ticket::Role;
use crate::domain::visit::{NewVisit, Part, VisitOutcome, VisitState, VisitStep, WindowChooser};
use crate::http::error::ApiError;
use crate::services::visits::{self, BookingRequest, VisitView};
use crate::services::{Error, timers};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(field_page)
        .service(field_step)
        .service(field_work_order)
        .service(board)
        .service(book)
        .service(portal_visit)
        .service(portal_sign);
}

#[derive(Serialize)]
struct Card {
    id: i64,
    state: String,
    window: String,
    ticket_number: String,
    ticket_title: String,
    site_address: String,
    site_contact: String,
    site_phone: Option<String>,
    arrival: Option<String>,
}

/// The signed-in engineer's visits today and tomorrow (their calendar's zone), in order.
#[get("/field")]
async fn field_page(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let s = match staff(&state, &req, Role::Engineer).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let me = s.principal.user_id().unwrap_or_default();
    let engineer =
        visits::engineers(&state, &s.principal).await.ok().and_then(|es| es.into_iter().find(|e| e.id == me));
    let zone = state.config.zone_for(engineer.as_ref().map(|e| e.field.calendar.as_str()));
    let is_engineer = engineer.is_some();
    let v = Viewer::new(&req, Some(&s), &zone, "field");
    let now = state.clock.now();
    let start = day_start(&v, now);
    let list = match engineer {
        Some(_) => match visits::of_engineer(&state, me, start, start + 2 * 86_400).await {
            Ok(l) => l,
            Err(e) => return v.failed(e, "/field"),
        },
        None => vec![],
    };
    let mut cards = Vec::with_capacity(list.len());
    for x in list {
        let arrival = arrival_due(&state, &s.principal, x.ticket_id, &v).await;
        cards.push(Card {
            id: x.id,
            state: x.state.to_string(),
            window: window_text(&v, &x),
            ticket_number: x.ticket_number,
            ticket_title: x.ticket_title,
            site_address: x.site_address,
            site_contact: x.site_contact,
            site_phone: x.site_phone,
            arrival,
        });
    }
    v.page("field.html", StatusCode::OK, context! { visits => cards, engineer => is_engineer })
}

/// The arrival deadline of a ticket, in the viewer's zone, while it runs.
async fn arrival_due(state: &AppState, who: &crate::domain::actor::Actor, ticket: i64, v: &Viewer) -> Option<String> {
    let t = crate::services::tickets::get(state, who, &ticket.to_string(), state.clock.now()).await.ok()?;
    let a = t.sla.arrival?;
    match a.met_at {
        Some(m) => Some(format!("✓ {}", v.time(m))),
        None => a.due_at.map(|d| v.time(d)),
    }
}

fn window_text(v: &Viewer, x: &VisitView) -> String {
    let parse = |s: &Option<String>| {
        s.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.with_timezone(&Utc))
    };
    match (parse(&x.window_start), parse(&x.window_end)) {
        (Some(a), Some(b)) => format!("{}–{}", v.time(a), v.fmt(b, "%H:%M")),
        _ => "–".into(),
    }
}

/// Midnight starting today in the viewer's zone.
fn day_start(v: &Viewer, now: DateTime<Utc>) -> Secs {
    jiff::Timestamp::from_second(now.timestamp())
        .ok()
        .and_then(|ts| ts.to_zoned(v.zone.clone()).start_of_day().ok())
        .map_or(now.timestamp(), |z| z.timestamp().as_second())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    device_time: Option<DateTime<FixedOffset>>,
    work_summary: Option<String>,
    #[serde(default)]
    parts: Vec<Part>,
    outcome: Option<VisitOutcome>,
    signer: Option<String>,
    signature_png: Option<String>,
}

/// A button on the phone: the step, with the device's time, as the signed-in engineer. The
/// session's CSRF token comes in `X-CSRF-Token`. Answers JSON, as the API does.
#[post("/field/visits/{id}/{action}")]
async fn field_step(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    body: web::Json<StepBody>,
) -> Result<HttpResponse, ApiError> {
    let Some((_, s)) = session(&state, &req).await else {
        return Err(Error::Unauthorized("sign in again".into()).into());
    };
    let token = req.headers().get("x-csrf-token").and_then(|h| h.to_str().ok()).unwrap_or("");
    if !same_token(&s.csrf, token) {
        return Err(Error::forbidden("the page expired; reload it").into());
    }
    let (id, action) = path.into_inner();
    let b = body.into_inner();
    let check = visits::check_in(b.device_time);
    let step = match action.as_str() {
        "depart" => VisitStep::Depart(check),
        "arrive" => VisitStep::Arrive(check),
        "no-access" => VisitStep::NoAccess(check),
        "complete" => VisitStep::Complete {
            check,
            summary: b.work_summary.unwrap_or_default(),
            parts: b.parts,
            outcome: match b.outcome {
                Some(VisitOutcome::Partial) => VisitOutcome::Partial,
                _ => VisitOutcome::Fixed,
            },
        },
        "sign" => VisitStep::Sign {
            signer: b.signer.unwrap_or_default(),
            image_png: visits::signature_png(b.signature_png.as_deref().unwrap_or(""))?,
        },
        other => return Err(Error::invalid("action", format!("`{other}` is not a step of the phone page")).into()),
    };
    Ok(HttpResponse::Ok().json(visits::step(&state, &s.principal, id, step, state.clock.now()).await?))
}

/// A visit's work order in the portal, where the customer's contact signs it (the one-time link
/// of `POST /api/v1/visits/{id}/sign-link` opens it).
#[get("/portal/visits/{id}")]
async fn portal_visit(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let (s, v) = match super::portal_page(&state, &req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match visits::get(&state, &s.principal, *id).await {
        Ok(x) => {
            let time = |d: Option<DateTime<Utc>>| d.map(|d| v.time(d));
            let ctx = context! {
                window => window_text(&v, &x), arrived => time(x.arrived_at), completed => time(x.completed_at),
                signed => time(x.signed_at), x => minijinja::Value::from_serialize(&x),
            };
            v.page("portal_visit.html", StatusCode::OK, ctx)
        }
        Err(e) => v.failed(e, "/portal"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    signer: String,
    signature_png: String,
}

/// The contact's signature from the portal page (session, `X-CSRF-Token`); JSON as the API.
#[post("/portal/visits/{id}/sign")]
async fn portal_sign(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Json<SignBody>,
) -> Result<HttpResponse, ApiError> {
    let Some((_, s)) = session(&state, &req).await.filter(|(_, s)| s.principal.is_contact()) else {
        return Err(Error::Unauthorized("sign in again".into()).into());
    };
    let token = req.headers().get("x-csrf-token").and_then(|h| h.to_str().ok()).unwrap_or("");
    if !same_token(&s.csrf, token) {
        return Err(Error::forbidden("the page expired; reload it").into());
    }
    let b = body.into_inner();
    let step = VisitStep::Sign { signer: b.signer, image_png: visits::signature_png(&b.signature_png)? };
    Ok(HttpResponse::Ok().json(visits::step(&state, &s.principal, *id, step, state.clock.now()).await?))
}

/// The work order from the phone (the engineer's session rather than a token).
#[get("/field/visits/{id}/work-order")]
async fn field_work_order(state: web::Data<AppState>, req: HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let s = match staff(&state, &req, Role::Agent).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match visits::work_order(&state, &s.principal, *id).await {
        Ok((v, sig)) => work_order_page(&req, &v, sig.as_deref()),
        Err(e) => Viewer::new(&req, Some(&s), &state.config.zone_for(None), "field").failed(e, "/field"),
    }
}

/// The printable work order: ticket, visit times, work, parts, signer, time, signature, SHA-256.
pub fn work_order_page(req: &HttpRequest, v: &VisitView, signature: Option<&[u8]>) -> HttpResponse {
    let viewer = Viewer::new(req, None, &v.timezone, "work_order");
    let time = |d: Option<DateTime<Utc>>| d.map(|d| viewer.time(d));
    let ctx = context! {
        window => window_text(&viewer, v),
        departed => time(v.departed_at), arrived => time(v.arrived_at), completed => time(v.completed_at),
        signed => time(v.signed_at),
        outcome => v.outcome.map(|o| match o {
            VisitOutcome::Fixed => viewer.t("v_fixed"),
            VisitOutcome::Partial => viewer.t("v_partial"),
            VisitOutcome::NoAccess => viewer.t("v_no_access"),
        }),
        signature => signature.map(|s| base64::engine::general_purpose::STANDARD.encode(s)),
        v => minijinja::Value::from_serialize(v),
    };
    viewer.page("work_order.html", StatusCode::OK, ctx)
}

#[derive(Deserialize, Default)]
struct BoardQuery {
    from: Option<String>,
    region: Option<String>,
    skill: Option<String>,
}

#[derive(Serialize)]
struct BoardBlock {
    ticket: String,
    title: String,
    time: String,
    level: String,
    risk: String,
}

#[derive(Serialize, Default)]
struct BoardCell {
    visits: Vec<BoardBlock>,
    free: Vec<String>,
}

#[derive(Serialize)]
struct BoardLine {
    id: i64,
    name: String,
    region: String,
    skills: Vec<String>,
    free_hours: i64,
    cells: Vec<BoardCell>,
}

/// Engineers × the days of a week: their visits, coloured by the ticket's level and the arrival
/// clock's risk, and their free windows; the booking form below suggests engineers by free time.
#[get("/console/dispatch")]
async fn board(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = web::Query::<BoardQuery>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    let now = state.clock.now();
    let start = q
        .from
        .as_deref()
        .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        .and_then(|d| d.to_zoned(v.zone.clone()).ok())
        .map_or_else(|| day_start(&v, now), |z| z.timestamp().as_second());
    // Local midnights: eight of them bound the seven days (a day may be 23 or 25 hours long).
    let bounds: Vec<Secs> = std::iter::successors(Some(start), |d| {
        jiff::Timestamp::from_second(*d + 26 * 3600)
            .ok()
            .and_then(|t| t.to_zoned(v.zone.clone()).start_of_day().ok())
            .map(|z| z.timestamp().as_second())
    })
    .take(8)
    .collect();
    let days: Vec<Secs> = bounds.iter().take(7).copied().collect();
    let end = bounds.last().copied().unwrap_or(start + 7 * 86_400);
    let region = q.region.as_deref().filter(|r| !r.is_empty());
    let skill = q.skill.as_deref().filter(|r| !r.is_empty());
    let all = visits::engineers(&state, &s.principal).await.unwrap_or_default();
    let mut regions: Vec<String> = all.iter().map(|e| e.field.region.clone()).collect();
    let mut skills: Vec<String> = all.iter().flat_map(|e| e.field.skills.clone()).collect();
    regions.sort();
    regions.dedup();
    skills.sort();
    skills.dedup();
    let rows = match visits::board(&state, &s.principal, start, end, region, skill).await {
        Ok(r) => r,
        Err(e) => return v.failed(e, "/console"),
    };
    let labels: Vec<String> = days.iter().map(|d| v.fmt(timers::utc(*d), "%m-%d %a")).collect();
    let mut lines: Vec<BoardLine> = rows
        .into_iter()
        .map(|r| {
            let mut cells: Vec<BoardCell> = (0..7).map(|_| BoardCell::default()).collect();
            for f in &r.engineer.free {
                let (a, b) = (f.start.timestamp(), f.end.timestamp());
                for (i, w) in bounds.windows(2).enumerate() {
                    let (from, to) = (a.max(w[0]), b.min(w[1]));
                    if from < to {
                        let until = if to == w[1] { "24:00".to_string() } else { v.fmt(timers::utc(to), "%H:%M") };
                        cells[i].free.push(format!("{}–{until}", v.fmt(timers::utc(from), "%H:%M")));
                    }
                }
            }
            for b in r.visits {
                let start = b.window_start.timestamp();
                if let Some(i) = bounds.windows(2).position(|w| w[0] <= start && start < w[1]) {
                    cells[i].visits.push(BoardBlock {
                        ticket: b.ticket_number,
                        title: format!("{} · {}", b.ticket_title, b.site_address),
                        time: v.fmt(b.window_start, "%H:%M"),
                        level: b.level,
                        risk: b.arrival_risk,
                    });
                }
            }
            BoardLine {
                id: r.engineer.engineer_id,
                name: r.engineer.display_name,
                region: r.engineer.region,
                skills: r.engineer.skills,
                free_hours: r.engineer.free_secs / 3600,
                cells,
            }
        })
        .collect();
    // Suggested first: the most free time this week.
    lines.sort_by_key(|l| std::cmp::Reverse(l.free_hours));
    let unbooked = visits::unbooked(&state).await.unwrap_or_default();
    let fmt_day = |t: Secs| v.fmt(timers::utc(t), "%Y-%m-%d");
    let week = format!("{} – {}", fmt_day(start), fmt_day(end - 1));
    let (prev, next) = (fmt_day(start - 7 * 86_400), fmt_day(end));
    v.page(
        "dispatch.html",
        StatusCode::OK,
        context! {
            rows => lines, days => labels, unbooked => unbooked, week => week, prev => prev, next => next,
            regions => regions, skills => skills, region => region, skill => skill,
        },
    )
}

#[derive(Deserialize)]
struct BookForm {
    #[serde(default)]
    csrf_token: String,
    ticket: String,
    site_address: String,
    site_contact: String,
    engineer_id: i64,
    window_start: String,
    window_end: String,
    offered_start: Option<String>,
    chosen_by: Option<String>,
    travel_minutes: Option<i64>,
}

/// Books from the board: the ticket's proposed visit if it has one, else a new one proposed and
/// booked at once; times are in the viewer's zone.
#[post("/console/dispatch")]
async fn book(state: web::Data<AppState>, req: HttpRequest, form: web::Form<BookForm>) -> HttpResponse {
    let (s, v) = match console_form(&state, &req, Role::Engineer, &form.csrf_token, "/console/dispatch").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form.into_inner();
    match book_from_form(&state, &s.principal, &v, f).await {
        Ok(visit) => redirect(&format!("/console/tickets/{}", visit.ticket_number)),
        Err(e) => v.failed(e, "/console/dispatch"),
    }
}

async fn book_from_form(
    state: &AppState,
    who: &crate::domain::actor::Actor,
    v: &Viewer,
    f: BookForm,
) -> crate::services::Result<VisitView> {
    let local = |field: &str, s: &str| -> crate::services::Result<DateTime<FixedOffset>> {
        let civil: jiff::civil::DateTime =
            s.parse().map_err(|_| Error::invalid(field, "a date and time such as 2026-10-26T09:00"))?;
        let z = civil.to_zoned(v.zone.clone()).map_err(|_| Error::invalid(field, "not a time in this zone"))?;
        DateTime::parse_from_rfc3339(&z.timestamp().to_string()).map_err(|_| Error::invalid(field, "out of range"))
    };
    let now = state.clock.now();
    let existing =
        visits::for_ticket(state, who, &f.ticket).await?.into_iter().find(|x| x.state == VisitState::Proposed);
    let proposed = match existing {
        Some(p) => p,
        None => {
            let n =
                NewVisit { site_address: f.site_address, site_contact: f.site_contact, site_phone: None, note: None };
            visits::propose(state, who, &f.ticket, n, now).await?
        }
    };
    let req = BookingRequest {
        engineer_id: f.engineer_id,
        window_start: local("window_start", &f.window_start)?,
        window_end: local("window_end", &f.window_end)?,
        offered_start: match f.offered_start.as_deref().filter(|s| !s.is_empty()) {
            Some(o) => Some(local("offered_start", o)?),
            None => None,
        },
        chosen_by: if f.chosen_by.as_deref() == Some("customer") {
            WindowChooser::Customer
        } else {
            WindowChooser::Dispatcher
        },
        travel_minutes: f.travel_minutes.unwrap_or(30),
        override_clash: false,
    };
    visits::step(state, who, proposed.id, VisitStep::Book(req.booking()), now).await
}
