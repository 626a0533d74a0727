//! A service report as one standalone HTML document — the mail body, the page its e-mailed link
//! opens (no sign-in: the signed link is the key) and what prints (`@media print`) — and its table
//! of missed deadlines as CSV.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

pub use super::report_pdf::{Pdf, pdf_data};

use super::i18n::{Lang, text, texts};
use crate::domain::customer::Language;
use crate::domain::report::{Content, Decision};
use crate::domain::sla::format_hms;
use crate::persistence::entities::contact;
use crate::services::Error;
use crate::services::reports::{self, NewDecision, ReportView};
use crate::state::AppState;
use sea_orm::EntityTrait;

/// The report's answer section: a link to answer (in the mail), the two forms (on the page), or
/// the answer given.
#[derive(Debug, Default, Serialize)]
pub struct Answer {
    pub link: Option<String>,
    pub action: Option<String>,
    pub csrf: Option<String>,
    pub decision: Option<Decision>,
    pub by: Option<String>,
    pub at: Option<String>,
    pub reason: Option<String>,
    pub error: Option<String>,
}

impl Answer {
    /// The answer given, when there is one; else `open`.
    pub fn of(v: &ReportView, open: Answer) -> Answer {
        match v.decision {
            Some(d) => Answer {
                decision: Some(d),
                by: v.decided_by.clone(),
                at: v.decided_at.map(|t| t.to_rfc3339()),
                reason: v.dispute_reason.clone(),
                ..Default::default()
            },
            None => open,
        }
    }
}

/// The report's documents as services ask for them: [`html`] and the [`Pdf`].
#[derive(Default)]
pub struct Documents {
    pdf: Pdf,
}

impl reports::ReportDocuments for Documents {
    fn html(&self, content: &Content, sha256: &str, base: &str, answer_link: Option<&str>) -> Result<String, String> {
        let answer = answer_link.map(|l| Answer { link: Some(l.to_string()), ..Default::default() });
        html(content, sha256, base, answer.as_ref()).map_err(|e| e.to_string())
    }

    fn pdf(&self, content: &Content, sha256: &str) -> Option<Result<Vec<u8>, String>> {
        self.pdf.render(content, sha256)
    }
}

const TEMPLATE: &str = include_str!("templates/report.html");

pub(super) fn lang(l: Language) -> Lang {
    match l {
        Language::En => Lang::En,
        Language::ZhCn => Lang::ZhCn,
    }
}

/// The report in its language; `base` (the public URL) prefixes its links; `sha256` is printed
/// in the footer; `answer`, when given, is the section to acknowledge or dispute it.
pub fn html(content: &Content, sha256: &str, base: &str, answer: Option<&Answer>) -> Result<String, minijinja::Error> {
    page(content, sha256, base, answer, None)
}

/// [`html`] with a link back to `back` (the portal's list).
fn page(
    content: &Content,
    sha256: &str,
    base: &str,
    answer: Option<&Answer>,
    back: Option<&str>,
) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let rows: Vec<_> = content
        .compliance
        .iter()
        .filter(|r| r.in_time + r.late + r.breached + r.auto_resolved + r.cancelled > 0)
        .collect();
    let breaches: Vec<_> = content
        .breaches
        .iter()
        .map(|b| {
            let mut v = serde_json::to_value(b).unwrap_or_default();
            v["late"] = format_hms(b.late_secs).into();
            v["due_at"] = b.due_at.as_deref().map(|d| local(d, &content.period.timezone)).into();
            v["ended_at"] = local(&b.ended_at, &content.period.timezone).into();
            v
        })
        .collect();
    let mut r = serde_json::to_value(content)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, format!("report content: {e}")))?;
    r["breaches"] = breaches.into();
    let ctx = context! {
        r,
        rows,
        t => texts(lang(content.language)),
        opened_total => content.opened.iter().map(|o| o.tickets).sum::<u64>(),
        closed_total => content.closed.iter().map(|c| c.tickets).sum::<u64>(),
        sha256,
        base => base.trim_end_matches('/'),
        ack => answer,
        back,
    };
    env.get_template("report.html")?.render(ctx)
}

/// An RFC 3339 instant of the content as the customer reads it: `2026-11-23 09:48` in `zone`.
pub(super) fn local(ts: &str, zone: &str) -> String {
    let (Ok(t), Ok(tz)) = (ts.parse::<jiff::Timestamp>(), jiff::tz::TimeZone::get(zone)) else { return ts.to_string() };
    t.to_zoned(tz).strftime("%Y-%m-%d %H:%M").to_string()
}

pub(super) fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_string(), |r| format!("{:.1} %", r * 100.0))
}

/// The report and contact a link's token names, while it works.
async fn link(state: &AppState, token: &str) -> Result<Option<(ReportView, contact::Model)>, Error> {
    let now = state.clock.now().timestamp();
    let Some((r, c)) = state.signer.report_answer_of(token, now) else { return Ok(None) };
    let Some(who) = contact::Entity::find_by_id(c).one(&state.db).await?.filter(|k| k.active) else { return Ok(None) };
    match reports::get(state, r).await {
        Ok(v) if v.customer_id == who.customer_id => Ok(Some((v, who))),
        Ok(_) | Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn document(state: &AppState, v: &ReportView, answer: &Answer, back: Option<&str>, status: StatusCode) -> HttpResponse {
    let base = &state.config.settings.escalation.public_url;
    match page(&v.content, &v.sha256, base, Some(answer), back) {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(report = v.id, error = %e, "report page not rendered");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn invalid_link(lang: Lang) -> HttpResponse {
    let (title, hint) = (text(lang, "rp_link_invalid"), text(lang, "rp_link_invalid_hint"));
    HttpResponse::Gone().content_type("text/html; charset=utf-8").insert_header(("Cache-Control", "no-store")).body(
        format!(
            "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><main><h1>{title}</h1><p>{hint}</p><p><a href=\"/portal\">Portal</a></p></main></body></html>",
            lang.code()
        ),
    )
}

/// The page a report mail's link opens: the report and its two answers. GET never answers:
/// mail scanners follow links.
#[get("/reports/answer/{token}")]
pub async fn answer_page(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    match link(&state, &token).await {
        Ok(Some((v, _))) => {
            let open = Answer { action: Some(format!("/reports/answer/{token}")), ..Default::default() };
            document(&state, &v, &Answer::of(&v, open), None, StatusCode::OK)
        }
        Ok(None) => invalid_link(Lang::of(&req)),
        Err(e) => {
            tracing::error!(error = %crate::services::chain(&e), "report link not read");
            HttpResponse::InternalServerError().finish()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    decision: Decision,
    sha256: String,
    #[serde(default)]
    reason: Option<String>,
}

/// An answer through the link: recorded once; the page then shows it.
#[post("/reports/answer/{token}")]
pub async fn answer_post(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    token: web::Path<String>,
    form: web::Form<AnswerForm>,
) -> HttpResponse {
    let (v, who) = match link(&state, &token).await {
        Ok(Some(found)) => found,
        Ok(None) => return invalid_link(Lang::of(&req)),
        Err(e) => {
            tracing::error!(error = %crate::services::chain(&e), "report link not read");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let f = form.into_inner();
    let d = NewDecision { decision: f.decision, reason: f.reason, sha256: f.sha256 };
    match reports::decide(&state, v.id, &who, d, state.clock.now()).await {
        Ok(done) => document(&state, &done, &Answer::of(&done, Answer::default()), None, StatusCode::OK),
        Err(Error::Conflict { .. }) => match reports::get(&state, v.id).await {
            Ok(now) => document(&state, &now, &Answer::of(&now, Answer::default()), None, StatusCode::CONFLICT),
            Err(_) => HttpResponse::InternalServerError().finish(),
        },
        Err(Error::Invalid { message, .. }) => {
            let open =
                Answer { action: Some(format!("/reports/answer/{token}")), error: Some(message), ..Default::default() };
            document(&state, &v, &open, None, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => {
            tracing::error!(report = v.id, error = %crate::services::chain(&e), "report answer failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

#[derive(Serialize)]
struct Row {
    id: i64,
    first_day: String,
    last_day: String,
    overall: String,
    breaches: usize,
    decision: Option<Decision>,
}

/// The customer's reports in the portal, newest first, with what each still needs.
#[get("/portal/reports")]
pub async fn portal_list(state: web::Data<AppState>, req: actix_web::HttpRequest) -> HttpResponse {
    let (s, v) = match super::portal_page(&state, &req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(customer_id) = s.principal.customer_id() else { return super::redirect("/console") };
    let list = match reports::list(&state, customer_id).await {
        Ok(l) => l,
        Err(e) => return v.failed(e, "/portal"),
    };
    let rows: Vec<Row> = list
        .into_iter()
        .map(|r| Row {
            id: r.id,
            first_day: r.content.period.first_day.clone(),
            last_day: r.content.period.last_day.clone(),
            overall: percent(r.content.overall),
            breaches: r.content.breaches.len(),
            decision: r.decision,
        })
        .collect();
    v.page("portal_reports.html", StatusCode::OK, context! { reports => rows })
}

/// One of the customer's reports, with its answer (the portal's session and CSRF token).
#[get("/portal/reports/{id}")]
pub async fn portal_show(state: web::Data<AppState>, req: actix_web::HttpRequest, id: web::Path<i64>) -> HttpResponse {
    let (s, v) = match super::portal_page(&state, &req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match own(&state, &s.principal, *id).await {
        Ok(r) => {
            let open = Answer {
                action: Some(format!("/portal/reports/{}/answer", r.id)),
                csrf: Some(s.csrf.clone()),
                ..Default::default()
            };
            document(&state, &r, &Answer::of(&r, open), Some("/portal/reports"), StatusCode::OK)
        }
        Err(e) => v.failed(e, "/portal/reports"),
    }
}

/// Report `id` when it is the principal's customer's; else not found, as a missing one.
async fn own(state: &AppState, p: &crate::services::auth::Principal, id: i64) -> Result<ReportView, Error> {
    let r = reports::get(state, id).await?;
    if p.customer_id() == Some(r.customer_id) { Ok(r) } else { Err(Error::not_found("not_found", "report")) }
}

#[derive(Debug, Deserialize)]
pub struct PortalAnswerForm {
    #[serde(default)]
    csrf_token: String,
    decision: Decision,
    sha256: String,
    #[serde(default)]
    reason: Option<String>,
}

#[post("/portal/reports/{id}/answer")]
pub async fn portal_answer(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: web::Path<i64>,
    form: web::Form<PortalAnswerForm>,
) -> HttpResponse {
    let back = format!("/portal/reports/{id}");
    let (s, v) = match super::portal_form(&state, &req, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let contact = match &s.principal {
        crate::domain::actor::Actor::Contact { contact_id, .. } => {
            contact::Entity::find_by_id(*contact_id).one(&state.db).await.ok().flatten()
        }
        _ => None,
    };
    let Some(who) = contact else { return v.failed(Error::not_found("not_found", "report"), "/portal/reports") };
    let f = form.into_inner();
    let d = NewDecision { decision: f.decision, reason: f.reason, sha256: f.sha256 };
    match reports::decide(&state, *id, &who, d, state.clock.now()).await {
        Ok(_) | Err(Error::Conflict { .. }) => super::redirect(&format!("{back}#answer")),
        Err(Error::Invalid { message, .. }) => match own(&state, &s.principal, *id).await {
            Ok(r) => {
                let open = Answer {
                    action: Some(format!("/portal/reports/{}/answer", r.id)),
                    csrf: Some(s.csrf.clone()),
                    error: Some(message),
                    ..Default::default()
                };
                document(&state, &r, &open, Some("/portal/reports"), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(e) => v.failed(e, "/portal/reports"),
        },
        Err(e) => v.failed(e, &back),
    }
}

/// The missed deadlines, one line each, with a header line.
pub fn csv(content: &Content) -> String {
    let mut out = String::from("ticket,level,timer,cycle,outcome,due_at,ended_at,late_secs\r\n");
    for b in &content.breaches {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            field(&b.ticket_number),
            b.level,
            b.timer,
            b.cycle,
            b.outcome,
            b.due_at.as_deref().unwrap_or(""),
            b.ended_at,
            b.late_secs
        ));
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break; one that a spreadsheet
/// would take for a formula gets a leading apostrophe.
fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::ReportKind;
    use crate::domain::sla::TimerKind;
    use crate::domain::ticket::Source;

    /// Every value a template turns into a text key has its text in both languages.
    #[test]
    fn every_period_source_and_timer_has_its_text() {
        for l in [Lang::ZhCn, Lang::En] {
            let t = texts(l);
            for k in ReportKind::ALL {
                assert!(t.contains_key(format!("rp_{k}").as_str()), "rp_{k}");
            }
            for s in Source::ALL {
                assert!(t.contains_key(format!("rp_src_{s}").as_str()), "rp_src_{s}");
            }
            for k in TimerKind::ALL {
                assert!(t.contains_key(format!("rp_timer_{k}").as_str()), "rp_timer_{k}");
            }
        }
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("T-1"), "T-1");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
