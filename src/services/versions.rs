//! Configuration versions (README: PostgreSQL and several instances): at start an instance stores
//! every calendar and SLA policy it loaded as a content-hashed row, and registers the hash of its
//! whole configuration.
//! Timers reference the versions they were computed on, so an instance can rebuild a calendar
//! another instance registered. A calendar whose content changed recomputes unmet timers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use super::error::{Error, Result};
use super::tickets::{Entry, write_log};
use super::timers::{Timer, refresh_urgency, secs};
use crate::config::content::{CalendarContent, PolicyContent};
use crate::config::{Runtime, Versioned};
use crate::domain::actor::Actor;
use crate::domain::calendar::Calendar;
use crate::domain::customer::Tier;
use crate::domain::sla::SlaPolicy;
use crate::domain::ticket::Event;
use crate::persistence::entities::{config_snapshot, config_version, sla_timer};
use crate::persistence::is_unique_violation;

const CALENDAR: &str = "calendar";
const POLICY: &str = "sla_policy";

#[derive(Default)]
pub struct Versions {
    calendars: BTreeMap<String, (i64, Arc<Calendar>)>,
    policies: BTreeMap<String, (i64, Arc<SlaPolicy>)>,
    by_id_calendar: RwLock<HashMap<i64, Arc<Calendar>>>,
    by_id_policy: RwLock<HashMap<i64, Arc<SlaPolicy>>>,
    names: RwLock<HashMap<i64, String>>,
    pub config_hash: String,
}

/// What registering found: calendars whose content changed and the timers recomputed for them.
#[derive(Debug, Default)]
pub struct Registration {
    pub recomputed_timers: u64,
    /// Breaches the recomputation found, for the metrics once the service has them.
    pub tally: crate::metrics::Tally,
}

impl Versions {
    pub fn current_calendar(&self, name: &str) -> Result<(i64, Arc<Calendar>)> {
        self.calendars.get(name).cloned().ok_or_else(|| Error::Internal(format!("calendar `{name}` is not configured")))
    }

    pub fn current_policy(&self, name: &str) -> Result<(i64, Arc<SlaPolicy>)> {
        self.policies
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("SLA policy `{name}` is not configured")))
    }

    pub fn has_calendar(&self, name: &str) -> bool {
        self.calendars.contains_key(name)
    }

    pub fn has_policy(&self, name: &str) -> bool {
        self.policies.contains_key(name)
    }

    /// The name a version was registered under.
    pub fn name_of(&self, id: i64) -> Option<String> {
        self.names.read().ok()?.get(&id).cloned()
    }

    /// A calendar by version id, rebuilt from the database when another instance registered it.
    pub async fn calendar(&self, db: &impl ConnectionTrait, id: i64) -> Result<Arc<Calendar>> {
        if let Some(c) = self.by_id_calendar.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(c);
        }
        let row = config_version::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal(format!("calendar version {id} is missing")))?;
        let content: CalendarContent =
            serde_json::from_str(&row.content).map_err(|e| Error::Internal(format!("calendar version {id}: {e}")))?;
        let cal = Arc::new(content.build().map_err(|e| Error::Internal(format!("calendar version {id}: {e}")))?);
        if let Ok(mut m) = self.by_id_calendar.write() {
            m.insert(id, cal.clone());
        }
        if let Ok(mut n) = self.names.write() {
            n.insert(id, row.name);
        }
        Ok(cal)
    }

    pub async fn policy(&self, db: &impl ConnectionTrait, id: i64) -> Result<Arc<SlaPolicy>> {
        if let Some(p) = self.by_id_policy.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(p);
        }
        let row = config_version::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal(format!("policy version {id} is missing")))?;
        let content: PolicyContent =
            serde_json::from_str(&row.content).map_err(|e| Error::Internal(format!("policy version {id}: {e}")))?;
        let p = Arc::new(content.build().map_err(|e| Error::Internal(format!("policy version {id}: {e}")))?);
        if let Ok(mut m) = self.by_id_policy.write() {
            m.insert(id, p.clone());
        }
        if let Ok(mut n) = self.names.write() {
            n.insert(id, row.name);
        }
        Ok(p)
    }

    /// Stores this instance's calendars and policies, registers its configuration hash, and
    /// recomputes unmet timers on calendars whose content this instance is the first to register.
    pub async fn register(
        db: &DatabaseConnection,
        runtime: &Runtime,
        now: DateTime<Utc>,
    ) -> Result<(Self, Registration)> {
        let mut v = Versions { config_hash: runtime.hash.clone(), ..Default::default() };
        let mut changed_calendars = Vec::new();
        for (name, cal) in &runtime.calendars {
            let (id, created) = ensure(db, CALENDAR, cal, now).await?;
            if created {
                changed_calendars.push((name.clone(), id, cal.value.clone()));
            }
            v.calendars.insert(name.clone(), (id, cal.value.clone()));
            v.cache(id, name, Some(cal.value.clone()), None);
        }
        for (name, pol) in &runtime.policies {
            let (id, _) = ensure(db, POLICY, pol, now).await?;
            v.policies.insert(name.clone(), (id, pol.value.clone()));
            v.cache(id, name, None, Some(pol.value.clone()));
        }
        register_snapshot(db, &runtime.hash, &v, now).await?;
        let mut registration = Registration::default();
        for (name, id, cal) in changed_calendars {
            registration.recomputed_timers +=
                recompute_calendar(db, &v, (&name, id, cal), now, &mut registration.tally).await?;
        }
        Ok((v, registration))
    }

    fn cache(&mut self, id: i64, name: &str, cal: Option<Arc<Calendar>>, pol: Option<Arc<SlaPolicy>>) {
        if let (Some(c), Ok(m)) = (cal, self.by_id_calendar.get_mut()) {
            m.insert(id, c);
        }
        if let (Some(p), Ok(m)) = (pol, self.by_id_policy.get_mut()) {
            m.insert(id, p);
        }
        if let Ok(n) = self.names.get_mut() {
            n.insert(id, name.to_string());
        }
    }
}

/// The version row for this content, and whether this call created it.
async fn ensure<T>(db: &DatabaseConnection, kind: &str, v: &Versioned<T>, now: DateTime<Utc>) -> Result<(i64, bool)> {
    let find = || {
        config_version::Entity::find()
            .filter(config_version::Column::Kind.eq(kind))
            .filter(config_version::Column::Name.eq(v.name.clone()))
            .filter(config_version::Column::Hash.eq(v.hash.clone()))
            .one(db)
    };
    if let Some(row) = find().await? {
        return Ok((row.id, false));
    }
    let inserted = config_version::ActiveModel {
        kind: Set(kind.into()),
        name: Set(v.name.clone()),
        hash: Set(v.hash.clone()),
        content: Set(v.content.clone()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(row) => Ok((row.id, true)),
        // Another instance registered the same content at the same moment.
        Err(e) if is_unique_violation(&e) => {
            find().await?.map(|r| (r.id, false)).ok_or_else(|| Error::Internal("config version vanished".into()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn register_snapshot(db: &DatabaseConnection, hash: &str, v: &Versions, now: DateTime<Utc>) -> Result<()> {
    let versions = serde_json::json!({
        "calendars": v.calendars.iter().map(|(k, (id, _))| (k.clone(), *id)).collect::<BTreeMap<_, _>>(),
        "sla_policies": v.policies.iter().map(|(k, (id, _))| (k.clone(), *id)).collect::<BTreeMap<_, _>>(),
    })
    .to_string();
    let existing = config_snapshot::Entity::find().filter(config_snapshot::Column::Hash.eq(hash)).one(db).await?;
    match existing {
        Some(row) => {
            let mut am: config_snapshot::ActiveModel = row.into();
            am.registered_at = Set(now);
            am.update(db).await?;
        }
        None => {
            let r = config_snapshot::ActiveModel {
                hash: Set(hash.into()),
                versions: Set(versions),
                registered_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await;
            match r {
                Ok(row) => {
                    let detail = serde_json::json!({"hash": hash, "versions": serde_json::from_str::<serde_json::Value>(&row.versions).unwrap_or_default()});
                    super::audit::record(
                        db,
                        &crate::domain::actor::Actor::system("system"),
                        "config.registered",
                        super::audit::Target { kind: "config", id: Some(row.id) },
                        detail,
                        now,
                    )
                    .await?;
                }
                Err(e) if !is_unique_violation(&e) => return Err(e.into()),
                Err(_) => {}
            }
        }
    }
    Ok(())
}

/// The tier of a ticket's customer.
async fn tier_of(db: &impl ConnectionTrait, ticket_id: i64) -> Result<Tier> {
    let missing = || Error::Internal(format!("tickets, row {ticket_id}: the ticket or its customer is missing"));
    let t = crate::persistence::entities::ticket::Entity::find_by_id(ticket_id).one(db).await?.ok_or_else(missing)?;
    crate::persistence::entities::customer::Entity::find_by_id(t.customer_id)
        .one(db)
        .await?
        .map(|c| c.tier)
        .ok_or_else(missing)
}

/// Whether an instance should get traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    DatabaseUnavailable,
    /// Another instance registered a newer configuration.
    ConfigMismatch,
}

/// Whether the database answers and this instance runs the newest configuration.
pub async fn readiness(state: &crate::state::AppState) -> Readiness {
    if state.db.execute_unprepared("SELECT 1").await.is_err() {
        return Readiness::DatabaseUnavailable;
    }
    match config_is_newest(&state.db, &state.versions.config_hash).await {
        Ok(true) => Readiness::Ready,
        Ok(false) => Readiness::ConfigMismatch,
        Err(_) => Readiness::DatabaseUnavailable,
    }
}

/// Whether this instance's configuration is the one most recently registered.
pub async fn config_is_newest(db: &impl ConnectionTrait, hash: &str) -> Result<bool> {
    let newest = config_snapshot::Entity::find()
        .order_by_desc(config_snapshot::Column::RegisteredAt)
        .order_by_desc(config_snapshot::Column::Id)
        .one(db)
        .await?;
    Ok(newest.is_none_or(|n| n.hash == hash))
}

/// Moves unmet timers on older versions of calendar `name` to version `id`, recomputing their
/// deadlines from their original start, in bounded batches; logs old and new deadlines.
async fn recompute_calendar(
    db: &DatabaseConnection,
    versions: &Versions,
    (name, id, cal): (&str, i64, Arc<Calendar>),
    now: DateTime<Utc>,
    tally: &mut crate::metrics::Tally,
) -> Result<u64> {
    let old_ids: Vec<i64> = config_version::Entity::find()
        .filter(config_version::Column::Kind.eq(CALENDAR))
        .filter(config_version::Column::Name.eq(name))
        .filter(config_version::Column::Id.ne(id))
        .select_only()
        .column(config_version::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    if old_ids.is_empty() {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let mut pending = crate::metrics::Tally::default();
        let txn = db.begin().await?;
        let batch = sla_timer::Entity::find()
            .filter(sla_timer::Column::CalendarVersionId.is_in(old_ids.clone()))
            .filter(sla_timer::Column::Outcome.is_null())
            .order_by_asc(sla_timer::Column::Id)
            .limit(500)
            .all(&txn)
            .await?;
        if batch.is_empty() {
            txn.commit().await?;
            return Ok(total);
        }
        let mut touched = Vec::new();
        for model in batch {
            let mut timer = Timer::from_model(&txn, versions, model).await?;
            let old_due = timer.model.due_at;
            timer.recompute_on(cal.clone(), id, secs(now))?;
            timer.save(&txn, now).await?;
            if timer.has_facts() {
                let tier = tier_of(&txn, timer.model.ticket_id).await?;
                timer.take_facts(tier, &mut pending);
            }
            let m = &timer.model;
            let entry = Entry {
                old: Some(serde_json::json!({"timer": m.kind, "cycle": m.cycle, "due_at": old_due})),
                new: Some(
                    serde_json::json!({"timer": m.kind, "cycle": m.cycle, "due_at": m.due_at, "breached": m.breached}),
                ),
                note: Some(format!("calendar `{name}` changed (version {id})")),
            };
            write_log(&txn, m.ticket_id, &Actor::system("system"), Event::SlaRecomputed, entry, now).await?;
            tracing::info!(ticket_id = timer.model.ticket_id, timer = %timer.model.kind, old_due = ?old_due, new_due = ?timer.model.due_at, "calendar change recomputed a deadline");
            touched.push(timer.model.ticket_id);
            total += 1;
        }
        touched.sort_unstable();
        touched.dedup();
        for ticket_id in touched {
            let timers = super::timers::load_current(&txn, versions, ticket_id).await?;
            refresh_urgency(&txn, ticket_id, &timers, now).await?;
        }
        txn.commit().await?;
        tally.absorb(pending);
    }
}
