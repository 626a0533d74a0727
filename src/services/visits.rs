//! On-site service (README: On-site visits): field engineers and their free time, visits —
//! proposed, booked, checked in and out, signed — through the ticket's one change path, the
//! signed work order, the dispatch board and each engineer's calendar feed.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{Error, Result};
use super::tickets::{self, ChangeRequest, HOLDING, TicketRef};
use super::timers::{secs, utc};
use crate::domain::actor::Actor;
use crate::domain::calendar::{Calendar, Secs};
use crate::domain::ticket::{Change, Role};
use crate::domain::visit::{
    self, BlockKind, Booking, CheckIn, NewVisit, Part, VisitAction, VisitChange, VisitOutcome, VisitState, VisitStep,
    WindowChooser,
};
use crate::persistence::entities::{customer, engineer_block, ticket, user, visit as visit_row};
use crate::state::AppState;

/// The longest span availability and the board answer for.
const MAX_SPAN_SECS: Secs = 31 * 86_400;

/// A field engineer's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSettings {
    /// Where the engineer works (`shanghai-east`).
    pub region: String,
    #[serde(default)]
    pub skills: Vec<String>,
    /// The name of a configured calendar: the engineer's working time.
    pub calendar: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EngineerView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub field: FieldSettings,
    /// The engineer's calendar feed (iCalendar); shown to the engineer and to leads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    /// leave | training
    #[schema(value_type = String, pattern = "^(leave|training)$")]
    pub kind: BlockKind,
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlockView {
    pub id: i64,
    pub engineer_id: i64,
    #[schema(value_type = String)]
    pub kind: BlockKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FreeWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Availability {
    pub engineer_id: i64,
    pub display_name: String,
    pub region: String,
    pub skills: Vec<String>,
    pub free: Vec<FreeWindow>,
    /// Working seconds free in the span.
    pub free_secs: i64,
}

/// One check-in's clocks: the device's time, the server's, which counted and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClockView {
    pub action: String,
    pub device_at: Option<DateTime<Utc>>,
    pub server_at: DateTime<Utc>,
    pub counted_at: DateTime<Utc>,
    /// device | server
    pub clock: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitView {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: String,
    pub ticket_title: String,
    /// The ticket's level.
    pub level: String,
    /// proposed | booked | en_route | on_site | completed | signed | cancelled | no_access
    #[schema(value_type = String)]
    pub state: VisitState,
    pub engineer_id: Option<i64>,
    pub engineer_name: Option<String>,
    /// The agreed window, in the customer's time zone.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub offered_start: Option<String>,
    /// The customer's time zone.
    pub timezone: String,
    /// customer | dispatcher
    #[schema(value_type = Option<String>)]
    pub chosen_by: Option<WindowChooser>,
    pub travel_minutes: i64,
    /// Set when a lead booked over another visit or a block.
    pub clash_override: Option<String>,
    pub site_address: String,
    pub site_contact: String,
    pub site_phone: Option<String>,
    pub note: Option<String>,
    pub departed_at: Option<DateTime<Utc>>,
    pub arrived_at: Option<DateTime<Utc>>,
    pub no_access_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub work_summary: Option<String>,
    pub parts: Vec<Part>,
    /// fixed | partial | no_access
    #[schema(value_type = Option<String>)]
    pub outcome: Option<VisitOutcome>,
    pub signer_name: Option<String>,
    pub signed_at: Option<DateTime<Utc>>,
    pub signature_sha256: Option<String>,
    pub clocks: Vec<ClockView>,
    pub cancel_reason: Option<String>,
    /// The visit actions possible now, by anyone.
    pub actions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A ticket and the customer whose calendar zone its visits are shown in.
struct Context {
    tickets: HashMap<i64, ticket::Model>,
    zones: HashMap<i64, String>,
    engineers: HashMap<i64, user::Model>,
}

impl Context {
    async fn load(state: &AppState, visits: &[visit_row::Model]) -> Result<Self> {
        let db = &state.db;
        let ticket_ids: Vec<i64> = visits.iter().map(|v| v.ticket_id).collect();
        let tickets: HashMap<i64, ticket::Model> = if ticket_ids.is_empty() {
            HashMap::new()
        } else {
            ticket::Entity::find()
                .filter(ticket::Column::Id.is_in(ticket_ids))
                .all(db)
                .await?
                .into_iter()
                .map(|t| (t.id, t))
                .collect()
        };
        let customer_ids: Vec<i64> = tickets.values().map(|t| t.customer_id).collect();
        let calendars = &state.config.runtime.calendars;
        let zones = if customer_ids.is_empty() {
            HashMap::new()
        } else {
            customer::Entity::find()
                .filter(customer::Column::Id.is_in(customer_ids))
                .all(db)
                .await?
                .into_iter()
                .map(|c| {
                    let tz = calendars.get(&c.calendar).map_or("UTC".to_string(), |v| v.value.timezone().to_string());
                    (c.id, tz)
                })
                .collect()
        };
        let engineer_ids: Vec<i64> = visits.iter().filter_map(|v| v.engineer_id).collect();
        let engineers = if engineer_ids.is_empty() {
            HashMap::new()
        } else {
            user::Entity::find()
                .filter(user::Column::Id.is_in(engineer_ids))
                .all(db)
                .await?
                .into_iter()
                .map(|u| (u.id, u))
                .collect()
        };
        Ok(Self { tickets, zones, engineers })
    }

    fn view(&self, v: visit_row::Model) -> VisitView {
        let t = self.tickets.get(&v.ticket_id);
        let tz = t.and_then(|t| self.zones.get(&t.customer_id)).cloned().unwrap_or_else(|| "UTC".into());
        let local = |d: Option<DateTime<Utc>>| d.map(|d| local_time(secs(d), &tz));
        VisitView {
            id: v.id,
            ticket_id: v.ticket_id,
            ticket_number: tickets::number_for(v.ticket_id),
            ticket_title: t.map(|t| t.title.clone()).unwrap_or_default(),
            level: t.map(|t| t.level.to_string()).unwrap_or_default(),
            state: v.state,
            engineer_id: v.engineer_id,
            engineer_name: v.engineer_id.and_then(|e| self.engineers.get(&e)).map(|u| u.display_name.clone()),
            window_start: local(v.window_start),
            window_end: local(v.window_end),
            offered_start: local(v.offered_start),
            timezone: tz.clone(),
            chosen_by: v.chooser,
            travel_minutes: v.travel_secs / 60,
            clash_override: v.clash_override,
            site_address: v.site_address,
            site_contact: v.site_contact,
            site_phone: v.site_phone,
            note: v.note,
            departed_at: v.departed_at,
            arrived_at: v.arrived_at,
            no_access_at: v.no_access_at,
            completed_at: v.completed_at,
            work_summary: v.work_summary,
            parts: serde_json::from_str(&v.parts).unwrap_or_default(),
            outcome: v.outcome,
            signer_name: v.signer_name,
            signed_at: v.signed_at,
            signature_sha256: v.signature_sha256,
            clocks: serde_json::from_str(&v.clocks).unwrap_or_default(),
            cancel_reason: v.cancel_reason,
            actions: v.state.actions().iter().map(VisitAction::to_string).collect(),
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

/// An instant in RFC 3339 with the offset of `tz` (UTC when the zone is unknown).
pub fn local_time(t: Secs, tz: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(t) else { return t.to_string() };
    match jiff::tz::TimeZone::get(tz) {
        Ok(zone) => ts.to_zoned(zone).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => ts.to_string(),
    }
}

async fn views(state: &AppState, rows: Vec<visit_row::Model>) -> Result<Vec<VisitView>> {
    let ctx = Context::load(state, &rows).await?;
    Ok(rows.into_iter().map(|v| ctx.view(v)).collect())
}

async fn one_view(state: &AppState, row: visit_row::Model) -> Result<VisitView> {
    views(state, vec![row]).await?.pop().ok_or_else(|| Error::Internal("a visit's view".into()))
}

/// The visit if `actor` may see it: staff see every visit, a contact their own customer's; the
/// others are "not found", as a missing one.
async fn load_visible(state: &AppState, actor: &Actor, id: i64) -> Result<visit_row::Model> {
    let not_found = || Error::not_found("visit_not_found", "visit");
    let v = visit_row::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(not_found)?;
    if let Some(own) = actor.customer_id() {
        let t = ticket::Entity::find_by_id(v.ticket_id).one(&state.db).await?.ok_or_else(not_found)?;
        if t.customer_id != own {
            return Err(not_found());
        }
    } else if !actor.is_staff() {
        return Err(not_found());
    }
    Ok(v)
}

/// Asks for on-site service on a ticket: a proposed visit; the arrival clock starts.
pub async fn propose(
    state: &AppState,
    actor: &Actor,
    ticket: &str,
    n: NewVisit,
    now: DateTime<Utc>,
) -> Result<VisitView> {
    let change = Change::Visit(Box::new(VisitChange::Propose(n)));
    let changed = tickets::change(state, actor, ChangeRequest::new(TicketRef::from(ticket), change), now).await?;
    one_view(state, changed.visit.ok_or_else(|| Error::Internal("a proposal writes a visit".into()))?).await
}

/// A step of a visit, through its ticket's change path.
pub async fn step(state: &AppState, actor: &Actor, id: i64, step: VisitStep, now: DateTime<Utc>) -> Result<VisitView> {
    let v = load_visible(state, actor, id).await?;
    let change = Change::Visit(Box::new(VisitChange::Step { visit_id: v.id, step }));
    let changed = tickets::change(state, actor, ChangeRequest::new(v.ticket_id, change), now).await?;
    one_view(state, changed.visit.ok_or_else(|| Error::Internal("a visit step writes its visit".into()))?).await
}

pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<VisitView> {
    let v = load_visible(state, actor, id).await?;
    one_view(state, v).await
}

/// A ticket's visits, oldest first.
pub async fn for_ticket(state: &AppState, actor: &Actor, ticket: &str) -> Result<Vec<VisitView>> {
    let t = tickets::get(state, actor, ticket, state.clock.now()).await?;
    let rows = visit_row::Entity::find()
        .filter(visit_row::Column::TicketId.eq(t.id))
        .order_by_asc(visit_row::Column::Id)
        .all(&state.db)
        .await?;
    views(state, rows).await
}

/// The visits of `engineer` whose window starts in [`from`, `to`), in order: the phone's list.
pub async fn of_engineer(state: &AppState, engineer: i64, from: Secs, to: Secs) -> Result<Vec<VisitView>> {
    let rows = visit_row::Entity::find()
        .filter(visit_row::Column::EngineerId.eq(engineer))
        .filter(visit_row::Column::WindowStart.gte(utc(from)))
        .filter(visit_row::Column::WindowStart.lt(utc(to)))
        .filter(visit_row::Column::State.ne(VisitState::Cancelled))
        .order_by_asc(visit_row::Column::WindowStart)
        .all(&state.db)
        .await?;
    views(state, rows).await
}

/// A booking as asked: the window, the earliest start offered (the window's own when not
/// given), who chose, travel and override.
pub struct BookingRequest {
    pub engineer_id: i64,
    pub window_start: DateTime<FixedOffset>,
    pub window_end: DateTime<FixedOffset>,
    pub offered_start: Option<DateTime<FixedOffset>>,
    pub chosen_by: WindowChooser,
    pub travel_minutes: i64,
    pub override_clash: bool,
}

impl BookingRequest {
    pub fn booking(&self) -> Booking {
        let start = self.window_start.timestamp();
        Booking {
            engineer_id: self.engineer_id,
            window: (start, self.window_end.timestamp()),
            offered_start: self.offered_start.map_or(start, |o| o.timestamp()),
            chooser: self.chosen_by,
            travel_secs: self.travel_minutes.saturating_mul(60),
            override_clash: self.override_clash,
        }
    }
}

/// A check-in's device time, as sent.
pub fn check_in(device_time: Option<DateTime<FixedOffset>>) -> CheckIn {
    CheckIn { device_at: device_time.map(|d| d.timestamp()) }
}

/// The signature as sent: a PNG, base64, optionally as a `data:image/png;base64,` URL.
pub fn signature_png(given: &str) -> Result<Vec<u8>> {
    let b64 = given.strip_prefix("data:image/png;base64,").unwrap_or(given);
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| Error::invalid("signature_png", "not base64 (a PNG image, or a data:image/png;base64, URL)"))
}

// ——— engineers ———

fn field_of(u: &user::Model) -> Option<FieldSettings> {
    u.field.as_deref().and_then(|f| serde_json::from_str(f).ok())
}

fn engineer_view(u: &user::Model, f: FieldSettings, show_feed: bool) -> EngineerView {
    EngineerView {
        id: u.id,
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        field: f,
        calendar_url: match (&u.calendar_token, show_feed) {
            (Some(t), true) => Some(format!("/api/v1/engineers/{}/{t}/calendar.ics", u.id)),
            _ => None,
        },
    }
}

/// Active field engineers, by name. The calendar feed's address is shown to the engineer
/// themself and to leads.
pub async fn engineers(state: &AppState, actor: &Actor) -> Result<Vec<EngineerView>> {
    actor.require(Role::Agent).map_err(|e| Error::Forbidden(e.0))?;
    let lead = actor.role().is_some_and(|r| r >= Role::Lead);
    let rows = user::Entity::find()
        .filter(user::Column::Field.is_not_null())
        .filter(user::Column::Active.eq(true))
        .order_by_asc(user::Column::DisplayName)
        .all(&state.db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|u| field_of(u).map(|f| engineer_view(u, f, lead || actor.user_id() == Some(u.id))))
        .collect())
}

/// Makes a user a field engineer, or changes their settings (lead or higher).
pub async fn set_field(
    state: &AppState,
    actor: &Actor,
    id: i64,
    f: FieldSettings,
    now: DateTime<Utc>,
) -> Result<EngineerView> {
    actor.require(Role::Lead).map_err(|e| Error::Forbidden(e.0))?;
    crate::domain::ticket::line("region", &f.region, 100)
        .map_err(|_| Error::invalid("region", "one line, 1–100 characters"))?;
    if f.skills.len() > 50
        || f.skills.iter().any(|s| s.trim().is_empty() || s.chars().count() > 100 || s.contains('\n'))
    {
        return Err(Error::invalid("skills", "at most 50 skills, each one line of 1–100 characters"));
    }
    if !state.config.runtime.calendars.contains_key(&f.calendar) {
        let names: Vec<&str> = state.config.runtime.calendars.keys().map(String::as_str).collect();
        return Err(Error::invalid(
            "calendar",
            format!("no calendar named `{}`: use {}", f.calendar, names.join(", ")),
        ));
    }
    let u =
        user::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(|| Error::not_found("user_not_found", "user"))?;
    if u.role < Role::Engineer || u.service {
        return Err(Error::invalid("id", "a field engineer is a person with the engineer role or higher"));
    }
    let mut am: user::ActiveModel = u.clone().into();
    am.field = Set(Some(serde_json::to_string(&f).map_err(Error::internal)?));
    if u.calendar_token.is_none() {
        let mut b = [0u8; 20];
        rand::rng().fill_bytes(&mut b);
        am.calendar_token = Set(Some(hex::encode(b)));
    }
    am.updated_at = Set(now);
    let u = am.update(&state.db).await?;
    Ok(engineer_view(&u, f, true))
}

/// Adds leave or training to an engineer's time: the engineer themself, or a lead.
pub async fn add_block(state: &AppState, actor: &Actor, id: i64, b: NewBlock, now: DateTime<Utc>) -> Result<BlockView> {
    if actor.user_id() != Some(id) {
        actor
            .require(Role::Lead)
            .map_err(|_| Error::forbidden("only the engineer or a lead adds their leave and training"))?;
    }
    let (start, end) = (b.start.timestamp(), b.end.timestamp());
    if end <= start || end - start > 366 * 86_400 {
        return Err(Error::invalid("end", "a block ends after it starts and lasts at most a year"));
    }
    if let Some(n) = &b.note {
        crate::domain::ticket::text("note", n, 2000).map_err(|_| Error::invalid("note", "1–2000 characters"))?;
    }
    let u = user::Entity::find_by_id(id).one(&state.db).await?;
    if u.as_ref().and_then(field_of).is_none() {
        return Err(Error::not_found("engineer_not_found", "field engineer"));
    }
    let row = engineer_block::ActiveModel {
        user_id: Set(id),
        kind: Set(b.kind),
        start_at: Set(utc(start)),
        end_at: Set(utc(end)),
        note: Set(b.note),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok(BlockView { id: row.id, engineer_id: id, kind: row.kind, start: row.start_at, end: row.end_at, note: row.note })
}

/// Field engineers matching `region` and `skill`, each with their free windows in [`from`,
/// `to`): their calendar's working time minus leave, training and booked visits with travel.
pub async fn availability(
    state: &AppState,
    actor: &Actor,
    from: Secs,
    to: Secs,
    region: Option<&str>,
    skill: Option<&str>,
) -> Result<Vec<Availability>> {
    actor.require(Role::Agent).map_err(|e| Error::Forbidden(e.0))?;
    span_ok(from, to)?;
    let engineers = field_engineers(state, region, skill).await?;
    let busy = busy_of(state, &engineers, from, to).await?;
    let mut out = Vec::with_capacity(engineers.len());
    for (u, f) in engineers {
        let cal = calendar_of(state, &f)?;
        let working = visit::working_windows(&cal, from, to)?;
        let free = visit::free_windows(&working, busy.get(&u.id).map_or(&[][..], Vec::as_slice));
        out.push(Availability {
            engineer_id: u.id,
            display_name: u.display_name,
            region: f.region,
            skills: f.skills,
            free_secs: free.iter().map(|(a, b)| b - a).sum(),
            free: free.into_iter().map(|(a, b)| FreeWindow { start: utc(a), end: utc(b) }).collect(),
        });
    }
    Ok(out)
}

fn span_ok(from: Secs, to: Secs) -> Result<()> {
    if to <= from {
        return Err(Error::invalid("to", "`to` is after `from`"));
    }
    if to - from > MAX_SPAN_SECS {
        return Err(Error::invalid("to", "at most 31 days at a time"));
    }
    Ok(())
}

fn calendar_of(state: &AppState, f: &FieldSettings) -> Result<std::sync::Arc<Calendar>> {
    Ok(state.versions.current_calendar(&f.calendar)?.1)
}

async fn field_engineers(
    state: &AppState,
    region: Option<&str>,
    skill: Option<&str>,
) -> Result<Vec<(user::Model, FieldSettings)>> {
    let rows = user::Entity::find()
        .filter(user::Column::Field.is_not_null())
        .filter(user::Column::Active.eq(true))
        .order_by_asc(user::Column::DisplayName)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|u| field_of(&u).map(|f| (u, f)))
        .filter(|(_, f)| region.is_none_or(|r| f.region == r))
        .filter(|(_, f)| skill.is_none_or(|s| f.skills.iter().any(|k| k == s)))
        .collect())
}

/// Each engineer's busy intervals overlapping [`from`, `to`): blocks, and visits that hold
/// their time with travel before and after.
async fn busy_of(
    state: &AppState,
    engineers: &[(user::Model, FieldSettings)],
    from: Secs,
    to: Secs,
) -> Result<HashMap<i64, Vec<(Secs, Secs)>>> {
    let ids: Vec<i64> = engineers.iter().map(|(u, _)| u.id).collect();
    let mut busy: HashMap<i64, Vec<(Secs, Secs)>> = HashMap::new();
    if ids.is_empty() {
        return Ok(busy);
    }
    // Travel is at most 12 hours each way.
    let margin = 12 * 3600;
    // Only the columns the windows need: this runs for every board and availability answer.
    type Window = (Option<i64>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, i64);
    let visits: Vec<Window> = visit_row::Entity::find()
        .select_only()
        .columns([
            visit_row::Column::EngineerId,
            visit_row::Column::WindowStart,
            visit_row::Column::WindowEnd,
            visit_row::Column::TravelSecs,
        ])
        .filter(visit_row::Column::EngineerId.is_in(ids.clone()))
        .filter(visit_row::Column::State.is_in(HOLDING))
        .filter(visit_row::Column::WindowStart.lt(utc(to + margin)))
        .filter(visit_row::Column::WindowEnd.gt(utc(from - margin)))
        .into_tuple()
        .all(&state.db)
        .await?;
    for (engineer, start, end, travel) in visits {
        if let (Some(e), Some(s), Some(end)) = (engineer, start, end) {
            busy.entry(e).or_default().push(visit::blocked((secs(s), secs(end)), travel));
        }
    }
    let blocks: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = engineer_block::Entity::find()
        .select_only()
        .columns([engineer_block::Column::UserId, engineer_block::Column::StartAt, engineer_block::Column::EndAt])
        .filter(engineer_block::Column::UserId.is_in(ids))
        .filter(engineer_block::Column::StartAt.lt(utc(to)))
        .filter(engineer_block::Column::EndAt.gt(utc(from)))
        .into_tuple()
        .all(&state.db)
        .await?;
    for (user, start, end) in blocks {
        busy.entry(user).or_default().push((secs(start), secs(end)));
    }
    Ok(busy)
}

/// One engineer's row of the dispatch board.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardRow {
    pub engineer: Availability,
    pub visits: Vec<BoardVisit>,
}

/// A visit as the board shows it: a block in a day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BoardVisit {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_number: String,
    pub ticket_title: String,
    /// The ticket's level.
    pub level: String,
    pub site_address: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// The ticket's arrival clock: none, ok, at_risk, breached or met.
    pub arrival_risk: String,
}

/// The dispatch board: every field engineer (or those of `region` with `skill`) with their free
/// windows and their visits in [`from`, `to`). Three narrow reads besides availability's: the
/// visits, their tickets' titles and levels, their arrival clocks.
pub async fn board(
    state: &AppState,
    actor: &Actor,
    from: Secs,
    to: Secs,
    region: Option<&str>,
    skill: Option<&str>,
) -> Result<Vec<BoardRow>> {
    let free = availability(state, actor, from, to, region, skill).await?;
    let ids: Vec<i64> = free.iter().map(|a| a.engineer_id).collect();
    type Block = (i64, i64, Option<i64>, Option<DateTime<Utc>>, Option<DateTime<Utc>>, String);
    let rows: Vec<Block> = if ids.is_empty() {
        vec![]
    } else {
        visit_row::Entity::find()
            .select_only()
            .columns([
                visit_row::Column::Id,
                visit_row::Column::TicketId,
                visit_row::Column::EngineerId,
                visit_row::Column::WindowStart,
                visit_row::Column::WindowEnd,
                visit_row::Column::SiteAddress,
            ])
            .filter(visit_row::Column::EngineerId.is_in(ids))
            .filter(visit_row::Column::WindowStart.lt(utc(to)))
            .filter(visit_row::Column::WindowEnd.gt(utc(from)))
            .filter(visit_row::Column::State.ne(VisitState::Cancelled))
            .order_by_asc(visit_row::Column::WindowStart)
            .into_tuple()
            .all(&state.db)
            .await?
    };
    let mut ticket_ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
    ticket_ids.sort_unstable();
    ticket_ids.dedup();
    let tickets: HashMap<i64, (String, crate::domain::level::Level)> = if ticket_ids.is_empty() {
        HashMap::new()
    } else {
        ticket::Entity::find()
            .select_only()
            .columns([ticket::Column::Id, ticket::Column::Title, ticket::Column::Level])
            .filter(ticket::Column::Id.is_in(ticket_ids.clone()))
            .into_tuple::<(i64, String, crate::domain::level::Level)>()
            .all(&state.db)
            .await?
            .into_iter()
            .map(|(id, title, level)| (id, (title, level)))
            .collect()
    };
    let risks = arrival_risks(state, &ticket_ids).await?;
    let mut by_engineer: BTreeMap<i64, Vec<BoardVisit>> = BTreeMap::new();
    for (id, ticket_id, engineer, start, end, site_address) in rows {
        let (Some(e), Some(window_start), Some(window_end), Some((title, level))) =
            (engineer, start, end, tickets.get(&ticket_id).cloned())
        else {
            continue;
        };
        by_engineer.entry(e).or_default().push(BoardVisit {
            id,
            ticket_id,
            ticket_number: tickets::number_for(ticket_id),
            ticket_title: title,
            level: level.to_string(),
            site_address,
            window_start,
            window_end,
            arrival_risk: risks.get(&ticket_id).copied().unwrap_or("none").to_string(),
        });
    }
    Ok(free
        .into_iter()
        .map(|a| {
            let visits = by_engineer.remove(&a.engineer_id).unwrap_or_default();
            BoardRow { engineer: a, visits }
        })
        .collect())
}

/// The arrival clock of each ticket, in a word: ok, at_risk, breached or met (the latest cycle).
async fn arrival_risks(state: &AppState, ticket_ids: &[i64]) -> Result<HashMap<i64, &'static str>> {
    use crate::domain::sla::TimerKind;
    use crate::persistence::entities::sla_timer;
    if ticket_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let now = state.clock.now();
    type Clock = (i64, Option<DateTime<Utc>>, bool, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let timers: Vec<Clock> = sla_timer::Entity::find()
        .select_only()
        .columns([
            sla_timer::Column::TicketId,
            sla_timer::Column::MetAt,
            sla_timer::Column::Breached,
            sla_timer::Column::DueAt,
            sla_timer::Column::RiskAt,
        ])
        .filter(sla_timer::Column::TicketId.is_in(ticket_ids.to_vec()))
        .filter(sla_timer::Column::Kind.eq(TimerKind::Arrival))
        .order_by_asc(sla_timer::Column::Cycle)
        .into_tuple()
        .all(&state.db)
        .await?;
    Ok(timers
        .into_iter()
        .map(|(ticket, met_at, breached, due_at, risk_at)| {
            let word = if met_at.is_some() {
                "met"
            } else if breached || due_at.is_some_and(|d| d < now) {
                "breached"
            } else if risk_at.is_some_and(|r| r <= now) {
                "at_risk"
            } else {
                "ok"
            };
            (ticket, word)
        })
        .collect())
}

/// Visits proposed and not yet booked, oldest first: what the dispatcher has to place.
pub async fn unbooked(state: &AppState) -> Result<Vec<VisitView>> {
    let rows = visit_row::Entity::find()
        .filter(visit_row::Column::State.eq(VisitState::Proposed))
        .order_by_asc(visit_row::Column::Id)
        .all(&state.db)
        .await?;
    views(state, rows).await
}

/// An engineer's visits as an iCalendar feed (RFC 5545); the token in the address is the key.
pub async fn calendar_ics(state: &AppState, id: i64, token: &str) -> Result<String> {
    let not_found = || Error::not_found("calendar_not_found", "calendar");
    let u = user::Entity::find_by_id(id).one(&state.db).await?.ok_or_else(not_found)?;
    let known = u.calendar_token.as_deref().ok_or_else(not_found)?;
    if !u.active || !bool::from(subtle::ConstantTimeEq::ct_eq(known.as_bytes(), token.as_bytes())) {
        return Err(not_found());
    }
    let now = secs(state.clock.now());
    let rows = visit_row::Entity::find()
        .filter(visit_row::Column::EngineerId.eq(id))
        .filter(visit_row::Column::WindowStart.gte(utc(now - 30 * 86_400)))
        .order_by_asc(visit_row::Column::WindowStart)
        .all(&state.db)
        .await?;
    let domain = state.config.settings.email.id_domain();
    let mut cal = icalendar::Calendar::new();
    cal.name(&format!("Opsline visits: {}", u.display_name));
    for v in views(state, rows).await? {
        let Some(row_start) = v.window_start.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else {
            continue;
        };
        let Some(row_end) = v.window_end.as_deref().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) else {
            continue;
        };
        use icalendar::{Component, EventLike};
        let status = if v.state == VisitState::Cancelled {
            icalendar::EventStatus::Cancelled
        } else {
            icalendar::EventStatus::Confirmed
        };
        let event = icalendar::Event::new()
            .uid(&format!("visit-{}.{}@{}", v.id, state.installation, domain))
            .summary(&format!("{} {}", v.ticket_number, v.ticket_title))
            .location(&v.site_address)
            .description(&format!(
                "Site contact: {}{}\nState: {}",
                v.site_contact,
                v.site_phone.as_deref().map(|p| format!(" ({p})")).unwrap_or_default(),
                v.state
            ))
            .starts(row_start.with_timezone(&Utc))
            .ends(row_end.with_timezone(&Utc))
            .status(status)
            .done();
        cal.push(event);
    }
    Ok(cal.done().to_string())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignLinkSent {
    pub contact_id: i64,
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// E-mails the customer's contact a one-time link (the portal's) that opens the completed visit's
/// work order to sign: engineer role or higher. The contact is one of the ticket's customer's,
/// active, with an address.
pub async fn send_sign_link(
    state: &AppState,
    actor: &Actor,
    id: i64,
    contact_id: i64,
    now: DateTime<Utc>,
) -> Result<SignLinkSent> {
    // Another customer's visit is not found, as for every visit endpoint; then the role.
    let v = load_visible(state, actor, id).await?;
    actor.require(Role::Engineer).map_err(|e| Error::Forbidden(e.0))?;
    if v.state != VisitState::Completed {
        return Err(Error::InvalidTransition {
            message: format!("a visit is signed once it is completed; it is {}", v.state),
            status: v.state.to_string(),
            allowed_actions: v.state.actions().iter().map(VisitAction::to_string).collect(),
        });
    }
    let t = ticket::Entity::find_by_id(v.ticket_id)
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("visit_not_found", "visit"))?;
    let c = crate::persistence::entities::contact::Entity::find_by_id(contact_id)
        .one(&state.db)
        .await?
        .filter(|c| c.customer_id == t.customer_id && c.active)
        .ok_or_else(|| Error::invalid("contact_id", "an active contact of the ticket's customer"))?;
    let expires_at = super::contact_links::request_signature(state, &c, v.id, &t.number, now).await?;
    Ok(SignLinkSent { contact_id: c.id, email: c.email, expires_at })
}

/// What the work order shows: the visit and the signature image, when signed.
pub async fn work_order(state: &AppState, actor: &Actor, id: i64) -> Result<(VisitView, Option<Vec<u8>>)> {
    let row = load_visible(state, actor, id).await?;
    let signature = row.signature.clone();
    Ok((one_view(state, row).await?, signature))
}
