//! Checks as stored rows: create, read, change and delete through the API (config-defined ones are
//! read-only, 409 `config_managed`), the sync of `[checks.NAME]` at start, and heartbeats.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::super::error::{Error, OrTaken, Result};
use crate::checks::spec::{CheckDef, CheckKind, CheckSpec};
use crate::config::valid_name;
use crate::domain::check::Health;
use crate::domain::check::health::Tracker;
use crate::persistence::entities::{check, check_result, customer};
use crate::persistence::is_unique_violation;
use crate::state::AppState;

pub const CONFIG: &str = "config";
pub const API: &str = "api";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultView {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i64,
    /// up | down | unknown: what this probe said.
    #[schema(value_type = String)]
    pub outcome: Health,
    /// The check's health after it.
    #[schema(value_type = String)]
    pub health: Health,
    /// went_down | recovered | became_up
    pub transition: Option<String>,
    pub failed_condition: Option<String>,
    pub observed: Option<String>,
    pub error: Option<String>,
    pub inspection_id: Option<i64>,
}

impl From<check_result::Model> for ResultView {
    fn from(r: check_result::Model) -> Self {
        Self {
            id: r.id,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            outcome: r.outcome,
            health: r.health,
            transition: r.transition,
            failed_condition: r.failed_condition,
            observed: r.observed,
            error: r.error,
            inspection_id: r.inspection_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckView {
    pub id: i64,
    pub name: String,
    /// config | api
    pub managed_by: String,
    /// The check's keys; a postgres URL reads `(secret)`.
    pub spec: CheckSpec,
    /// unknown | up | down
    #[schema(value_type = String)]
    pub health: Health,
    pub flapping: bool,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// The open ticket of the current outage.
    pub ticket_id: Option<i64>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_beat_at: Option<DateTime<Utc>>,
    pub last_result: Option<ResultView>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new check; a heartbeat check's token is in the answer, once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedCheck {
    #[serde(flatten)]
    pub check: CheckView,
    /// heartbeat checks: `POST /api/v1/heartbeats/{heartbeat_token}`; shown only now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// Only checks with this tag.
    pub tag: Option<String>,
    /// unknown | up | down
    pub health: Option<String>,
}

pub fn spec_of(row: &check::Model) -> Result<CheckSpec> {
    serde_json::from_str(&row.spec).map_err(|e| Error::Internal(format!("check {} spec: {e}", row.id)))
}

/// The compiled check of a row.
pub fn def_of(row: &check::Model) -> Result<CheckDef> {
    spec_of(row)?.compile().map_err(|p| Error::Internal(format!("check {} no longer compiles: {p:?}", row.id)))
}

fn tags_of(row: &check::Model) -> Vec<String> {
    serde_json::from_str(&row.tags).unwrap_or_default()
}

pub fn tracker_of(row: &check::Model) -> Tracker {
    serde_json::from_str(&row.tracker).unwrap_or_default()
}

pub fn view(row: check::Model, last: Option<check_result::Model>) -> Result<CheckView> {
    let mut spec = spec_of(&row)?.redacted();
    spec.name = Some(row.name.clone());
    spec.customer_id = row.customer_id.or(spec.customer_id);
    let tracker = tracker_of(&row);
    Ok(CheckView {
        id: row.id,
        name: row.name,
        managed_by: row.managed_by,
        spec,
        health: row.health,
        flapping: row.flapping,
        consecutive_failures: tracker.failures,
        consecutive_successes: tracker.successes,
        ticket_id: row.ticket_id,
        last_run_at: row.last_run_at,
        next_run_at: row.next_run_at,
        last_beat_at: row.last_beat_at,
        last_result: last.map(ResultView::from),
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

async fn last_result(db: &impl ConnectionTrait, check_id: i64) -> Result<Option<check_result::Model>> {
    Ok(check_result::Entity::find()
        .filter(check_result::Column::CheckId.eq(check_id))
        .order_by_desc(check_result::Column::StartedAt)
        .order_by_desc(check_result::Column::Id)
        .one(db)
        .await?)
}

/// The newest result of each of the checks, in one statement (a correlated subquery per check,
/// each served by the `(check_id, started_at)` index).
pub(crate) async fn latest_results(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<HashMap<i64, check_result::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = "SELECT * FROM check_results WHERE id IN (SELECT (SELECT r.id FROM check_results r \
               WHERE r.check_id = c.id ORDER BY r.started_at DESC, r.id DESC LIMIT 1) FROM checks c)";
    let rows = check_result::Entity::find()
        .from_raw_sql(Statement::from_string(db.get_database_backend(), sql))
        .all(db)
        .await?;
    let wanted: HashSet<i64> = ids.into_iter().collect();
    Ok(rows.into_iter().filter(|r| wanted.contains(&r.check_id)).map(|r| (r.check_id, r)).collect())
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<check::Model> {
    check::Entity::find_by_id(id).one(db).await?.ok_or_else(|| Error::not_found("check_not_found", "check"))
}

pub async fn list(state: &AppState, q: CheckQuery) -> Result<Vec<CheckView>> {
    let mut query = check::Entity::find().order_by_asc(check::Column::Name);
    if let Some(h) = &q.health {
        if !["unknown", "up", "down"].contains(&h.as_str()) {
            return Err(Error::invalid("health", "unknown, up or down"));
        }
        query = query.filter(check::Column::Health.eq(h.as_str()));
    }
    let rows: Vec<check::Model> = query
        .all(&state.db)
        .await?
        .into_iter()
        .filter(|row| q.tag.as_ref().is_none_or(|t| tags_of(row).contains(t)))
        .collect();
    let mut last = latest_results(&state.db, rows.iter().map(|r| r.id).collect()).await?;
    rows.into_iter().map(|row| view(row.clone(), last.remove(&row.id))).collect()
}

pub async fn get(state: &AppState, id: i64) -> Result<CheckView> {
    let row = find(&state.db, id).await?;
    let last = last_result(&state.db, row.id).await?;
    view(row, last)
}

pub async fn results(state: &AppState, id: i64, limit: Option<u64>) -> Result<Vec<ResultView>> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(Error::invalid("limit", "1–500"));
    }
    find(&state.db, id).await?;
    Ok(check_result::Entity::find()
        .filter(check_result::Column::CheckId.eq(id))
        .order_by_desc(check_result::Column::StartedAt)
        .order_by_desc(check_result::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?
        .into_iter()
        .map(ResultView::from)
        .collect())
}

fn compile_or_invalid(spec: &CheckSpec) -> Result<CheckDef> {
    spec.compile().map_err(|problems| {
        let field = problems.first().map(|(f, _)| f.clone()).unwrap_or_default();
        let message = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; ");
        Error::Invalid { code: "validation_failed", field: Some(field), message }
    })
}

/// When a check first runs: interval checks now; cron checks when the scheduler says.
fn first_run(def: &CheckDef, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match def.spec.kind {
        CheckKind::Heartbeat => def.interval_secs.map(|s| now + Duration::seconds(s)),
        _ => def.interval_secs.map(|_| now),
    }
}

fn heartbeat_token() -> (String, String) {
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    let token = format!("hb_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf));
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    (token, hash)
}

async fn check_customer(state: &AppState, spec: &CheckSpec) -> Result<()> {
    if spec.customer.is_some() {
        return Err(Error::invalid("customer", "through the API a check names its customer by `customer_id`"));
    }
    if let Some(c) = spec.customer_id
        && customer::Entity::find_by_id(c).one(&state.db).await?.is_none()
    {
        return Err(Error::invalid("customer_id", format!("no customer with id {c}")));
    }
    Ok(())
}

/// A new check's row: health unknown, first run per `first_run`.
fn new_row(
    name: &str,
    def: &CheckDef,
    customer_id: Option<i64>,
    managed_by: &str,
    heartbeat_token_hash: Option<String>,
    now: DateTime<Utc>,
) -> Result<check::ActiveModel> {
    Ok(check::ActiveModel {
        name: Set(name.to_string()),
        kind: Set(def.spec.kind.as_str().into()),
        spec: Set(serde_json::to_string(&def.spec).map_err(|e| Error::Internal(e.to_string()))?),
        customer_id: Set(customer_id),
        level: Set(def.level),
        tags: Set(serde_json::to_string(&def.spec.tags).unwrap_or_else(|_| "[]".into())),
        managed_by: Set(managed_by.into()),
        heartbeat_token_hash: Set(heartbeat_token_hash),
        health: Set(Health::Unknown),
        tracker: Set("{}".into()),
        flapping: Set(false),
        next_run_at: Set(first_run(def, now)),
        locked_until: Set(None),
        last_run_at: Set(None),
        last_beat_at: Set(None),
        ticket_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
}

pub async fn create(state: &AppState, spec: CheckSpec, now: DateTime<Utc>) -> Result<CreatedCheck> {
    let name = spec.name.clone().ok_or_else(|| Error::invalid("name", "`name` is required"))?;
    if !valid_name(&name) || name.len() > 64 {
        return Err(Error::invalid("name", "names match [a-z0-9][a-z0-9_-]* (at most 64 characters)"));
    }
    let def = compile_or_invalid(&spec)?;
    check_customer(state, &spec).await?;
    let (token, hash) = match spec.kind {
        CheckKind::Heartbeat => {
            let (t, h) = heartbeat_token();
            (Some(t), Some(h))
        }
        _ => (None, None),
    };
    let row = new_row(&name, &def, spec.customer_id, API, hash, now)?
        .insert(&state.db)
        .await
        .or_taken(|| Error::conflict("check_exists", format!("a check named `{name}` exists")))?;
    state.wake_checks.notify_one();
    Ok(CreatedCheck { check: view(row, None)?, heartbeat_token: token })
}

fn editable(row: &check::Model) -> Result<()> {
    if row.managed_by == CONFIG {
        return Err(Error::conflict(
            "config_managed",
            format!("check `{}` is defined in configuration ([checks.{}]); change it there", row.name, row.name),
        ));
    }
    Ok(())
}

/// Replaces the given keys of an API check (a JSON merge of the spec); health and history stay.
pub async fn update(state: &AppState, id: i64, patch: serde_json::Value, now: DateTime<Utc>) -> Result<CheckView> {
    let row = find(&state.db, id).await?;
    editable(&row)?;
    let serde_json::Value::Object(patch) = patch else {
        return Err(Error::invalid("body", "a JSON object with the keys to change"));
    };
    if patch.contains_key("name") || patch.contains_key("kind") {
        return Err(Error::invalid("name", "a check's name and kind do not change; create another check"));
    }
    let stored = spec_of(&row)?;
    let mut merged = serde_json::to_value(&stored).map_err(|e| Error::Internal(e.to_string()))?;
    if let serde_json::Value::Object(m) = &mut merged {
        for (k, v) in patch {
            if v.is_null() {
                m.remove(&k);
            } else {
                m.insert(k, v);
            }
        }
    }
    let mut spec: CheckSpec = serde_path_to_error::deserialize(merged).map_err(|e| {
        let field = e.path().to_string();
        Error::invalid(&field, e.into_inner().to_string())
    })?;
    // A view shows secrets as `***`; sending that back (or leaving the key out) keeps them.
    spec.keep_secrets(&stored);
    let def = compile_or_invalid(&spec)?;
    check_customer(state, &spec).await?;
    let version = row.version;
    let mut am = row.into_active_model();
    am.spec = Set(serde_json::to_string(&spec).map_err(|e| Error::Internal(e.to_string()))?);
    am.customer_id = Set(spec.customer_id);
    am.level = Set(def.level);
    am.tags = Set(serde_json::to_string(&spec.tags).unwrap_or_else(|_| "[]".into()));
    am.next_run_at = Set(first_run(&def, now));
    am.version = Set(version + 1);
    am.updated_at = Set(now);
    let res = check::Entity::update_many()
        .set(am)
        .filter(check::Column::Id.eq(id))
        .filter(check::Column::Version.eq(version))
        .exec(&state.db)
        .await?;
    if res.rows_affected != 1 {
        return Err(Error::conflict("concurrent_update", "the check changed meanwhile; read it again"));
    }
    state.wake_checks.notify_one();
    get(state, id).await
}

pub async fn delete(state: &AppState, id: i64) -> Result<()> {
    let row = find(&state.db, id).await?;
    editable(&row)?;
    check::Entity::delete_by_id(id).exec(&state.db).await?;
    Ok(())
}

/// Makes the stored config checks match `[checks.NAME]`: new ones are added, changed ones
/// updated (health kept), removed ones deleted. Checks created through the API are untouched; a
/// config check whose name an API check already has is an error in the log and is skipped.
pub async fn sync_config(state: &AppState, now: DateTime<Utc>) -> Result<()> {
    let defined = &state.config.runtime.checks.defined;
    let stored = check::Entity::find().all(&state.db).await?;
    for row in stored.iter().filter(|r| r.managed_by == CONFIG && !defined.contains_key(&r.name)) {
        check::Entity::delete_by_id(row.id).exec(&state.db).await?;
    }
    for (name, def) in defined {
        let spec = serde_json::to_string(&def.spec).map_err(|e| Error::Internal(e.to_string()))?;
        let tags = serde_json::to_string(&def.spec.tags).unwrap_or_else(|_| "[]".into());
        match stored.iter().find(|r| &r.name == name) {
            Some(row) if row.managed_by != CONFIG => {
                tracing::error!(check = %name, "[checks.{name}] is skipped: a check created through the API has that name");
            }
            Some(row) if row.spec == spec => {}
            Some(row) => {
                let mut am = row.clone().into_active_model();
                am.spec = Set(spec);
                am.level = Set(def.level);
                am.tags = Set(tags);
                am.next_run_at = Set(first_run(def, now));
                am.version = Set(row.version + 1);
                am.updated_at = Set(now);
                am.update(&state.db).await?;
            }
            None => {
                let inserted = new_row(name, def, None, CONFIG, None, now)?.insert(&state.db).await;
                // Another instance starting at the same time inserted it first.
                if let Err(e) = inserted
                    && !is_unique_violation(&e)
                {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// Records a heartbeat (an unknown token is 404) and makes the check due now, so that the runner
/// counts the beat as a passing result and schedules the next deadline a full interval later.
pub async fn heartbeat(state: &AppState, token: &str, now: DateTime<Utc>) -> Result<i64> {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let row = check::Entity::find()
        .filter(check::Column::HeartbeatTokenHash.eq(hash))
        .one(&state.db)
        .await?
        .ok_or_else(|| Error::not_found("heartbeat_not_found", "heartbeat"))?;
    check::Entity::update_many()
        .col_expr(check::Column::LastBeatAt, sea_orm::sea_query::Expr::value(Some(now)))
        .col_expr(check::Column::NextRunAt, sea_orm::sea_query::Expr::value(Some(now)))
        .filter(check::Column::Id.eq(row.id))
        .exec(&state.db)
        .await?;
    state.wake_checks.notify_one();
    Ok(row.id)
}
