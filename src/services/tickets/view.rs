//! What a ticket and its timers look like to API callers (docs/sla.md §8 for timers).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use super::super::auth::Principal;
use super::super::error::Result;
use super::super::timers::{Timer, secs, utc};
use super::super::versions::Versions;
use crate::domain::calendar::Step;
use crate::domain::classify::Classification;
use crate::domain::customer::Tier;
use crate::domain::level::Level;
use crate::domain::sla::{TimerKind, TimerState, replay_explained};
use crate::domain::ticket::{Event, Source, Status, allowed_actions};
use crate::persistence::entities::{contact, customer, sla_timer, team, ticket, ticket_event, user};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerRef {
    pub id: i64,
    pub name: String,
    pub key: String,
    #[schema(value_type = String)]
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactRef {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
}

/// A staff member on a ticket. Contacts see the display name only.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassificationView {
    pub level: String,
    /// The rule that matched, or null when the default level applied.
    pub rule: Option<String>,
    pub matched: Vec<String>,
}

impl From<Classification> for ClassificationView {
    fn from(c: Classification) -> Self {
        Self { level: c.level.to_string(), rule: c.rule, matched: c.matched }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepView {
    /// interval | holiday | weekend | makeup_day | pause | level_change
    #[serde(rename = "type")]
    pub kind: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl From<&Step> for StepView {
    fn from(s: &Step) -> Self {
        Self {
            kind: serde_json::to_value(s.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            from: utc(s.from),
            to: utc(s.to),
            counted_secs: s.counted_secs,
            note: s.note.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExplainView {
    pub calendar: String,
    pub timezone: String,
    pub target: String,
    pub steps: Vec<StepView>,
    /// Set when the deadline falls after the last date the calendar knows holidays for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holidays_unknown_after: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimerView {
    /// response | plan | resolution
    #[schema(value_type = String)]
    pub kind: TimerKind,
    pub cycle: i32,
    /// running | paused | breached | met | auto_resolved | cancelled
    #[schema(value_type = String)]
    pub state: TimerState,
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub met_at: Option<DateTime<Utc>>,
    pub breached: bool,
    pub remaining_working_secs: Option<i64>,
    pub policy_version: i64,
    pub calendar_version: i64,
    pub explain: ExplainView,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SlaSet {
    pub response: Option<TimerView>,
    pub plan: Option<TimerView>,
    pub resolution: Option<TimerView>,
    /// On-site arrival, while a visit is asked for and the contract has a target for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival: Option<TimerView>,
    /// The follow-up call after a low (or a VIP's) rating, while one is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<TimerView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    pub id: i64,
    pub number: String,
    pub customer: CustomerRef,
    pub contact: Option<ContactRef>,
    pub title: String,
    pub description: String,
    #[schema(value_type = String)]
    pub level: Level,
    /// classified | manual
    pub level_source: String,
    pub classification: ClassificationView,
    /// open | in_progress | waiting_customer | resolved | closed | cancelled
    #[schema(value_type = String)]
    pub status: Status,
    pub assignee: Option<UserRef>,
    pub team: Option<String>,
    /// hotline | portal | email | check | integration
    #[schema(value_type = String)]
    pub source: Source,
    pub parent_id: Option<i64>,
    pub children: Vec<i64>,
    /// The fault-handling plan (public).
    pub plan: Option<String>,
    pub resolution: Option<String>,
    /// The title the public status page shows while the ticket is open.
    pub public_title: Option<String>,
    /// Why the ticket waits for the customer, while it does.
    pub waiting_reason: Option<String>,
    pub reported_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i32,
    /// Any timer of any cycle breached.
    pub breached: bool,
    pub sla: SlaSet,
    /// What the caller may do to the ticket now.
    pub allowed_actions: Vec<String>,
}

/// A timer as docs/sla.md §8 shows it, as of `now`.
pub fn timer_view(t: &Timer, versions: &Versions, now: DateTime<Utc>) -> Result<TimerView> {
    let n = secs(now);
    let (_, steps) = replay_explained(&t.calendar, t.kind, secs(t.model.started_at), t.target, t.plan, &t.history)?;
    let mut state = t.state();
    let breached = t.breached_at(n);
    if t.is_active() && breached && state == TimerState::Running {
        state = TimerState::Breached;
    }
    let remaining = match state {
        TimerState::Paused => t.model.remaining_secs,
        TimerState::Running => match t.due() {
            Some(d) => Some(t.calendar.working_between(n, d)?),
            None => None,
        },
        _ => None,
    };
    let holidays_unknown_after = match (t.calendar.holidays_known_until(), t.due()) {
        (Some(known), Some(due)) if t.calendar.local_date(due)? > known => Some(known.to_string()),
        _ => None,
    };
    Ok(TimerView {
        kind: t.kind,
        cycle: t.model.cycle,
        state,
        target: t.target.to_string(),
        started_at: t.model.started_at,
        due_at: t.model.due_at,
        met_at: t.model.met_at,
        breached,
        remaining_working_secs: remaining,
        policy_version: t.model.policy_version_id,
        calendar_version: t.model.calendar_version_id,
        explain: ExplainView {
            calendar: versions.name_of(t.model.calendar_version_id).unwrap_or_default(),
            timezone: t.calendar.timezone().to_string(),
            target: t.target.to_string(),
            steps: steps.iter().map(StepView::from).collect(),
            holidays_unknown_after,
        },
    })
}

/// Everything needed to show a page of tickets, loaded with one query per table.
pub(crate) struct ViewContext {
    customers: HashMap<i64, customer::Model>,
    contacts: HashMap<i64, contact::Model>,
    users: HashMap<i64, user::Model>,
    teams: HashMap<i64, team::Model>,
    timers: HashMap<i64, Vec<Timer>>,
    /// Linked tickets, each with its customer: a contact sees only its own customer's.
    children: HashMap<i64, Vec<(i64, i64)>>,
    parents: HashMap<i64, i64>,
    waiting: HashMap<i64, String>,
}

impl ViewContext {
    pub async fn load(db: &impl ConnectionTrait, versions: &Versions, tickets: &[ticket::Model]) -> Result<Self> {
        let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
        let pick = |f: fn(&ticket::Model) -> Option<i64>| -> Vec<i64> {
            let mut v: Vec<i64> = tickets.iter().filter_map(f).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let customers = crate::persistence::by_id::<customer::Entity>(
            db,
            customer::Column::Id,
            pick(|t| Some(t.customer_id)),
            |c| c.id,
        )
        .await?;
        let contacts =
            crate::persistence::by_id::<contact::Entity>(db, contact::Column::Id, pick(|t| t.contact_id), |c| c.id)
                .await?;
        let users =
            crate::persistence::by_id::<user::Entity>(db, user::Column::Id, pick(|t| t.assignee_id), |u| u.id).await?;
        let teams =
            crate::persistence::by_id::<team::Entity>(db, team::Column::Id, pick(|t| t.team_id), |t| t.id).await?;
        let mut latest: HashMap<(i64, TimerKind), sla_timer::Model> = HashMap::new();
        for m in sla_timer::Entity::find().filter(sla_timer::Column::TicketId.is_in(ids.clone())).all(db).await? {
            let key = (m.ticket_id, m.kind);
            if latest.get(&key).is_none_or(|old| old.cycle < m.cycle) {
                latest.insert(key, m);
            }
        }
        let mut timers: HashMap<i64, Vec<Timer>> = HashMap::new();
        for (_, m) in latest {
            let t = Timer::from_model(db, versions, m).await?;
            timers.entry(t.model.ticket_id).or_default().push(t);
        }
        let mut children: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for c in ticket::Entity::find().filter(ticket::Column::ParentId.is_in(ids.clone())).all(db).await? {
            if let Some(p) = c.parent_id {
                children.entry(p).or_default().push((c.id, c.customer_id));
            }
        }
        let parents =
            crate::persistence::by_id::<ticket::Entity>(db, ticket::Column::Id, pick(|t| t.parent_id), |t| t.id)
                .await?
                .into_iter()
                .map(|(id, t)| (id, t.customer_id))
                .collect();
        let waiting_ids: Vec<i64> =
            tickets.iter().filter(|t| t.status == Status::WaitingCustomer).map(|t| t.id).collect();
        let mut waiting = HashMap::new();
        if !waiting_ids.is_empty() {
            for e in ticket_event::Entity::find()
                .filter(ticket_event::Column::TicketId.is_in(waiting_ids))
                .filter(ticket_event::Column::Action.eq(Event::WaitingCustomer))
                .order_by_asc(ticket_event::Column::Id)
                .all(db)
                .await?
            {
                waiting.insert(e.ticket_id, e.note.unwrap_or_default());
            }
        }
        Ok(Self { customers, contacts, users, teams, timers, children, parents, waiting })
    }

    /// The context of a ticket its own transaction just opened, from what that transaction
    /// wrote and read (its customer and timers; it has no assignee, team, children or wait yet):
    /// only a contact is read.
    pub async fn opened(
        db: &impl ConnectionTrait,
        customer: customer::Model,
        contact_id: Option<i64>,
        timers: Vec<Timer>,
    ) -> Result<Self> {
        let mut contacts = HashMap::new();
        if let Some(c) = contact_id
            && let Some(found) = contact::Entity::find_by_id(c).one(db).await?
        {
            contacts.insert(found.id, found);
        }
        let mut by_ticket: HashMap<i64, Vec<Timer>> = HashMap::new();
        for t in timers {
            by_ticket.entry(t.model.ticket_id).or_default().push(t);
        }
        Ok(Self {
            customers: HashMap::from([(customer.id, customer)]),
            contacts,
            users: HashMap::new(),
            teams: HashMap::new(),
            timers: by_ticket,
            children: HashMap::new(),
            parents: HashMap::new(),
            waiting: HashMap::new(),
        })
    }

    pub fn view(
        &self,
        t: ticket::Model,
        principal: &Principal,
        versions: &Versions,
        reopen_window_secs: i64,
        now: DateTime<Utc>,
    ) -> Result<TicketView> {
        let mut sla = SlaSet::default();
        if let Some(timers) = self.timers.get(&t.id) {
            for timer in timers {
                let v = Some(timer_view(timer, versions, now)?);
                match timer.kind {
                    TimerKind::Response => sla.response = v,
                    TimerKind::Plan => sla.plan = v,
                    TimerKind::Resolution => sla.resolution = v,
                    TimerKind::Arrival => sla.arrival = v,
                    TimerKind::Callback => sla.callback = v,
                }
            }
        }
        let reopen_ok = t.closed_at.is_none_or(|c| (now - c).num_seconds() <= reopen_window_secs);
        let breached = t.breached || sla_breached(&sla);
        let c = self.customers.get(&t.customer_id);
        // A contact sees the tickets linked to this one only when they are its customer's too.
        let shown = |customer_id: i64| principal.customer_id().is_none_or(|own| own == customer_id);
        let staff = !principal.is_contact();
        let parent_id = t.parent_id.filter(|p| self.parents.get(p).is_some_and(|c| shown(*c)));
        let children = self
            .children
            .get(&t.id)
            .map(|cs| cs.iter().filter(|(_, c)| shown(*c)).map(|(id, _)| *id).collect())
            .unwrap_or_default();
        Ok(TicketView {
            id: t.id,
            number: t.number,
            customer: CustomerRef {
                id: t.customer_id,
                name: c.map(|c| c.name.clone()).unwrap_or_default(),
                key: c.map(|c| c.key.clone()).unwrap_or_default(),
                tier: c.map(|c| c.tier),
            },
            contact: t.contact_id.and_then(|id| self.contacts.get(&id)).map(|c| ContactRef {
                id: c.id,
                name: c.name.clone(),
                email: c.email.clone(),
                phone: c.phone.clone(),
            }),
            title: t.title,
            description: t.description,
            level: t.level,
            level_source: t.level_source,
            classification: serde_json::from_str::<Classification>(&t.classification)
                .map(Into::into)
                .unwrap_or(ClassificationView { level: String::new(), rule: None, matched: vec![] }),
            status: t.status,
            assignee: t.assignee_id.and_then(|id| self.users.get(&id)).map(|u| UserRef {
                id: staff.then_some(u.id),
                username: staff.then(|| u.username.clone()),
                display_name: u.display_name.clone(),
            }),
            team: t.team_id.and_then(|id| self.teams.get(&id)).filter(|_| staff).map(|t| t.name.clone()),
            source: t.source,
            parent_id,
            children,
            plan: t.plan,
            resolution: t.resolution,
            public_title: t.public_title,
            waiting_reason: self.waiting.get(&t.id).cloned(),
            reported_at: t.reported_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            version: t.version,
            breached,
            sla,
            allowed_actions: allowed_actions(t.status, principal, reopen_ok).iter().map(|a| a.to_string()).collect(),
        })
    }
}

fn sla_breached(s: &SlaSet) -> bool {
    [&s.response, &s.plan, &s.resolution].iter().any(|t| t.as_ref().is_some_and(|t| t.breached))
}
