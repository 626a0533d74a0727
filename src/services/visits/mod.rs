//! On-site service (README: On-site visits): visits — proposed, booked, checked in and out,
//! signed — through the ticket's one change path, and the signed work order. Field engineers'
//! time, the dispatch board and each engineer's calendar feed are in [`engineers`].

mod engineers;

pub use engineers::*;

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

/// Visits proposed and not yet booked, oldest first: what the dispatcher has to place.
pub async fn unbooked(state: &AppState) -> Result<Vec<VisitView>> {
    let rows = visit_row::Entity::find()
        .filter(visit_row::Column::State.eq(VisitState::Proposed))
        .order_by_asc(visit_row::Column::Id)
        .all(&state.db)
        .await?;
    views(state, rows).await
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
