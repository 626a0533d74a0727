//! Field engineers' time: their settings, leave and training, the free windows left by their
//! calendar and booked visits, the dispatch board, and each engineer's calendar feed.

use super::*;

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
