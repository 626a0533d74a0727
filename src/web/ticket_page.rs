//! The console's ticket page: the three timers with their explanation, the timeline (events,
//! comments, attachments, escalations, deliveries), and a form for every action the viewer's
//! role allows — also parent linking, "copy to children" and the status page's public title.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::clocks::clocks;
use super::console::status_key;
use super::{Viewer, console_form, console_page, redirect, session};
use crate::domain::level::Level;
use crate::domain::ticket::Role;
use crate::domain::ticket::{Action, Change, Event, NewFile, Status, Visibility};
use crate::http::multipart;
use crate::services::auth::Principal;
use crate::services::tickets::{self, AttachmentView, ChangeRequest, CommentView, EventView, NewComment, TicketRef};
use crate::services::{Error, Result, users};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(show).service(act).service(comment).service(set_title).service(download);
}

/// One line of a ticket's timeline.
#[derive(Serialize)]
pub struct Entry {
    #[serde(skip)]
    ts: DateTime<Utc>,
    at: String,
    kind: &'static str,
    who: String,
    what: String,
    detail: String,
    href: String,
}

fn str_of(v: &Option<serde_json::Value>, key: &str) -> String {
    v.as_ref()
        .and_then(|v| v.get(key))
        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
        .filter(|s| s != "null")
        .unwrap_or_default()
}

/// Events, comments and attachments in time order; `base` is the ticket page's path.
pub fn timeline(
    v: &Viewer,
    events: Vec<EventView>,
    comments: Vec<CommentView>,
    files: Vec<AttachmentView>,
    base: &str,
) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for e in events {
        let (kind, detail) = match e.source.as_str() {
            "escalation" => (
                "escalation",
                format!(
                    "{} {} · {} {}",
                    str_of(&e.new_value, "timer"),
                    str_of(&e.new_value, "rule"),
                    v.t("step"),
                    str_of(&e.new_value, "step")
                ),
            ),
            "delivery" => (
                "delivery",
                format!(
                    "{} → {} · {} · {} {}",
                    str_of(&e.new_value, "channel"),
                    str_of(&e.new_value, "target"),
                    str_of(&e.new_value, "status"),
                    str_of(&e.new_value, "attempts"),
                    v.t("attempts")
                ),
            ),
            _ => ("event", e.note.clone().unwrap_or_default()),
        };
        if [Event::Commented, Event::AttachmentAdded].iter().any(|a| e.action == a.as_str()) {
            continue; // shown with their text or file below
        }
        let what = super::i18n::lookup(v.lang, &format!("ev_{}", e.action)).map_or(e.action, str::to_string);
        out.push(Entry {
            ts: e.created_at,
            at: v.time(e.created_at),
            kind,
            who: e.actor_name,
            what,
            detail,
            href: String::new(),
        });
    }
    for c in comments {
        let what = if c.visibility == Visibility::Internal { v.t("internal_note") } else { v.t("comment") };
        out.push(Entry {
            ts: c.created_at,
            at: v.time(c.created_at),
            kind: "comment",
            who: c.author_name,
            what: what.into(),
            detail: c.body,
            href: String::new(),
        });
    }
    for a in files {
        out.push(Entry {
            ts: a.created_at,
            at: v.time(a.created_at),
            kind: "attachment",
            who: a.uploader_name,
            what: v.t("attachment").into(),
            detail: format!("{} ({} KiB)", a.filename, (a.size_bytes + 1023) / 1024),
            href: format!("{base}/attachments/{}", a.id),
        });
    }
    out.sort_by_key(|e| e.ts);
    out
}

async fn load(state: &AppState, p: &Principal, r: &str, v: &Viewer) -> Result<minijinja::Value> {
    let now = state.clock.now();
    let t = tickets::get(state, p, r, now).await?;
    let base = format!("/console/tickets/{}", t.number);
    let entries = timeline(
        v,
        tickets::list_events(state, p, r).await?,
        tickets::list_comments(state, p, r).await?,
        tickets::list_attachments(state, p, r).await?,
        &base,
    );
    let clocks = clocks(v, &t.sla, t.waiting_reason.as_deref(), now);
    let users: Vec<_> = users::list(state)
        .await?
        .into_iter()
        .filter(|u| !u.service && u.active)
        .map(|u| serde_json::json!({"id": u.id, "name": u.display_name}))
        .collect();
    let teams: Vec<&String> = state.config.settings.teams.keys().collect();
    let public_title = t.public_title.clone();
    let parent = t.parent_id.map(tickets::number_for);
    let children: Vec<String> = t.children.iter().map(|c| tickets::number_for(*c)).collect();
    let visits: Vec<_> = crate::services::visits::for_ticket(state, p, r)
        .await?
        .into_iter()
        .map(|x| {
            let window = match (&x.window_start, &x.window_end) {
                (Some(a), Some(b)) => format!("{} – {}", a.replace('T', " "), b.replace('T', " ")),
                _ => "–".into(),
            };
            serde_json::json!({
                "id": x.id, "state": x.state, "window": window, "engineer": x.engineer_name,
                "site": x.site_address, "signed": x.signer_name,
            })
        })
        .collect();
    let ask = crate::services::kb::suggest::SuggestInput {
        title: t.title.clone(),
        description: t.description.clone(),
        customer_id: Some(t.customer.id),
        ticket_id: Some(t.id),
    };
    let similar = crate::services::kb::suggest::suggest(state, p, ask, now).await?;
    let can_draft = matches!(t.status, Status::Resolved | Status::Closed) && p.require(Role::Engineer).is_ok();
    Ok(context! {
        similar => similar, can_draft => can_draft,
        visits => visits,
        tk => minijinja::Value::from_serialize(&t), status_text => v.t(status_key(t.status)), clocks => clocks,
        timeline => entries, reported => v.time(t.reported_at), users => users, teams => teams,
        public_title => public_title, parent => parent, children => children, base => base,
        allowed => t.allowed_actions, levels => ["I", "II", "III", "IV"],
        can_publish => p.require(Role::Engineer).is_ok(),
    })
}

#[get("/console/tickets/{r}")]
async fn show(state: web::Data<AppState>, req: HttpRequest, r: web::Path<String>) -> HttpResponse {
    if let Some((_, s)) = session(&state, &req).await
        && s.principal.role().is_none()
    {
        return redirect(&format!("/portal/tickets/{r}"));
    }
    let (s, v) = match console_page(&state, &req, Role::Agent).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match load(&state, &s.principal, &r, &v).await {
        Ok(ctx) => v.page("ticket.html", StatusCode::OK, ctx),
        Err(e) => v.failed(e, "/console"),
    }
}

#[derive(Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf_token: String,
    action: String,
    version: Option<i32>,
    text: Option<String>,
    level: Option<String>,
    assignee: Option<String>,
    team: Option<String>,
    parent: Option<String>,
    copy_to_children: Option<String>,
}

/// The change a form asks for, and whether to copy it to the children.
fn request(f: &ActForm) -> Result<(Change, bool)> {
    let text = f.text.clone().unwrap_or_default();
    let action =
        Action::parse(&f.action).ok_or_else(|| Error::invalid("action", format!("`{}` is not an action", f.action)))?;
    let copy = f.copy_to_children.is_some() && action == Action::Resolve;
    let change = match action {
        Action::Respond => Change::Respond { message: text },
        Action::Plan => Change::Plan { plan: text },
        Action::WaitCustomer => Change::WaitCustomer { reason: text },
        Action::Resume => Change::Resume,
        Action::Resolve => Change::Resolve { resolution: text },
        Action::Confirm => Change::Confirm,
        Action::Close => Change::Close,
        Action::Reopen => Change::Reopen { reason: text },
        Action::Cancel => Change::Cancel { reason: text },
        Action::Level => {
            let level = f
                .level
                .as_deref()
                .unwrap_or("")
                .parse::<Level>()
                .map_err(|e| Error::invalid("level", e.to_string()))?;
            Change::Level { level, reason: text }
        }
        Action::Assign => {
            let assignee = match f.assignee.as_deref().unwrap_or("") {
                "" => None,
                a => Some(a.parse::<i64>().map_err(|_| Error::invalid("assignee", "pick a person"))?),
            };
            let team = f.team.as_deref().map(|t| Some(t.to_string()).filter(|t| !t.is_empty()));
            Change::Assign { assignee, team }
        }
        Action::Link => {
            let parent = f.parent.as_deref().unwrap_or("").trim();
            let parent_id = if parent.is_empty() {
                None
            } else {
                Some(
                    tickets::parse_ref(parent)
                        .ok_or_else(|| Error::invalid("parent", "a ticket number such as INC-000042"))?,
                )
            };
            Change::Link { parent_id }
        }
        Action::Comment | Action::Attach => {
            return Err(Error::invalid("action", "comments and files have a form of their own"));
        }
    };
    Ok((change, copy))
}

/// One action from the ticket page; back to the page, or a page saying why not.
#[post("/console/tickets/{r}/act")]
async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    r: web::Path<String>,
    form: web::Form<ActForm>,
) -> HttpResponse {
    let back = format!("/console/tickets/{r}");
    let (s, v) = match console_form(&state, &req, Role::Agent, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let result = match request(&form) {
        Ok((change, copy_to_children)) => {
            let req =
                ChangeRequest { ticket: TicketRef::from(r.as_str()), change, if_match: form.version, copy_to_children };
            tickets::change(&state, &s.principal, req, state.clock.now()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(changed) => redirect(&format!("/console/tickets/{}", changed.ticket.number)),
        Err(e) => v.failed(e, &back),
    }
}

/// Reads a comment form (text, visibility, files) posted on ticket `r`'s page and adds what it
/// holds; shared with the portal. `page` is the signed-in session and its viewer.
pub async fn post_comment(
    state: &AppState,
    req: &HttpRequest,
    body: Multipart,
    page: (crate::services::web_sessions::Session, Viewer),
    r: &str,
    back: &str,
) -> HttpResponse {
    let (s, v) = page;
    let form = multipart::read(req, body, state.config.settings.attachments.max_bytes as usize).await;
    let (p, csrf) = (&s.principal, s.csrf.as_str());
    let now = state.clock.now();
    let posted = match form {
        Ok(p) => p,
        Err(e) => return v.unreadable(e, back),
    };
    if !super::same_token(csrf, posted.get("csrf_token")) {
        return v.expired_form(back);
    }
    let visibility = if posted.get("visibility") == "internal" { Visibility::Internal } else { Visibility::Public };
    let text = posted.get("body").trim().to_string();
    if text.is_empty() && posted.files.is_empty() {
        let (t, d) = (v.t("could_not"), v.t("write_or_attach"));
        return v.message(StatusCode::UNPROCESSABLE_ENTITY, t, d, back);
    }
    if !text.is_empty() {
        let c = NewComment { body: text, visibility, copy_to_children: posted.get("copy_to_children") == "on" };
        if let Err(e) = tickets::add_comment(state, p, r, c, None, now).await {
            return v.failed(e, back);
        }
    }
    for f in posted.files {
        let a = NewFile { filename: f.filename, content_type: f.content_type, visibility, data: f.data };
        if let Err(e) = tickets::add_attachment(state, p, r, a, now).await {
            return v.failed(e, back);
        }
    }
    redirect(back)
}

#[post("/console/tickets/{r}/comment")]
async fn comment(state: web::Data<AppState>, req: HttpRequest, r: web::Path<String>, body: Multipart) -> HttpResponse {
    match console_page(&state, &req, Role::Agent).await {
        Ok(page) => post_comment(&state, &req, body, page, &r, &format!("/console/tickets/{r}")).await,
        Err(refused) => refused,
    }
}

#[derive(Deserialize)]
struct TitleForm {
    #[serde(default)]
    csrf_token: String,
    public_title: String,
}

#[post("/console/tickets/{r}/public-title")]
async fn set_title(
    state: web::Data<AppState>,
    req: HttpRequest,
    r: web::Path<String>,
    form: web::Form<TitleForm>,
) -> HttpResponse {
    let back = format!("/console/tickets/{r}");
    let (s, v) = match console_form(&state, &req, Role::Agent, &form.csrf_token, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match tickets::set_public_title(&state, &s.principal, &r, &form.public_title, state.clock.now()).await {
        Ok(()) => redirect(&back),
        Err(e) => v.failed(e, &back),
    }
}

/// An attachment, for whoever may see the ticket (staff, or the ticket's own customer);
/// always `Content-Disposition: attachment`.
#[get("/{area:console|portal}/tickets/{r}/attachments/{id}")]
async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, i64)>,
) -> HttpResponse {
    let (area, r, id) = path.into_inner();
    let Some((_, s)) = session(&state, &req).await else {
        return redirect(if area == "portal" { "/portal/sign-in" } else { "/sign-in" });
    };
    match tickets::attachment_content(&state, &s.principal, &r, id).await {
        Ok(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/octet-stream"))
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", a.filename)))
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .body(a.data),
        Err(e) => Viewer::new(&req, Some(&s), &state.config.zone_for(None), "console").failed(e, "/"),
    }
}
